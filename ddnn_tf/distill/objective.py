"""What a DDNN's training minimises: every depth's cross-entropy plus Embedded Knowledge Distillation.

    loss = CE(full) + Σ_sub u · [ w · CE(sub) + s · kd_weight · T² · KL(teacher_T ‖ sub_T)
                                  + s · at_weight · Σ_stages AT(sub stage, teacher stage) ]

``w`` is ``subnet_label_weight``; ``s``, the distillation scale, is 0 for the
first ``distill_warmup_steps`` optimiser steps, then rises linearly to 1 over
``distill_ramp_steps``; ``u`` is 0 for the first ``subnet_start_steps`` (the
full net learns alone), then 1. The teacher is the full net, or with
``teacher="ensemble"`` the mean logits of every depth (which then also
teaches the full net). Building an ``Objective`` imports nothing heavy, so
that configs are checked by the same code before TensorFlow starts;
``terms`` computes the loss with Keras ops, in float32.
"""

from ddnn_tf import errors

TEACHERS = ("full", "ensemble")
ATTENTION_MAPS = ("squared_mean", "zscored_sum")
ATTENTION_STAGES = ("all", "last")


class Objective:
    """The loss of every depth and the distillation recipe, as one object.

    Args:
        teacher: "full" (the full net teaches) or "ensemble" (the mean logits
            of every depth teach every depth, the full net included).
        detach_teacher: stop the distillation gradients at the teacher's outputs.
        temperature: softening temperature of the KL term.
        kd_weight: weight of the KL term. 0 by default, with ``at_weight``:
            cross-entropy of every depth alone (joint training) was the best
            one-model recipe of the MNIST study (docs/results.md, section 2).
        at_weight: weight of the attention-transfer term.
        attention: the attention map, "squared_mean" (Zagoruyko & Komodakis)
            or "zscored_sum" (channel sum, z-scored per example).
        attention_stages: "all" stages or only the "last" one.
        distill_warmup_steps: optimiser steps with no distillation at all.
        distill_ramp_steps: steps over which distillation then ramps to full.
        label_smoothing: label smoothing of every cross-entropy term.
        subnet_label_weight: weight of the sub-nets' cross-entropy; 0 with
            ``kd_weight=1`` is in-place distillation (US-Nets, BigNAS).
        subnet_start_steps: optimiser steps during which only the full net
            learns, as in once-for-all's progressive shrinking.

    Example:
    >>> paper = Objective(kd_weight=1.0, at_weight=500.0, distill_warmup_steps=300, distill_ramp_steps=200)
    >>> model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3), objective=paper)
    """

    def __init__(self, teacher="full", detach_teacher=True, temperature=2.0, kd_weight=0.0, at_weight=0.0,
                 attention="squared_mean", attention_stages="all", distill_warmup_steps=0, distill_ramp_steps=0,
                 label_smoothing=0.0, subnet_label_weight=1.0, subnet_start_steps=0):
        errors.check_choice("teacher", teacher, TEACHERS)
        errors.check_choice("attention", attention, ATTENTION_MAPS)
        errors.check_choice("attention_stages", attention_stages, ATTENTION_STAGES)
        errors.check_range("temperature", temperature, 0, low_inclusive=False)
        for name, value in (("kd_weight", kd_weight), ("at_weight", at_weight),
                            ("subnet_label_weight", subnet_label_weight), ("distill_warmup_steps", distill_warmup_steps),
                            ("distill_ramp_steps", distill_ramp_steps), ("subnet_start_steps", subnet_start_steps)):
            errors.check_range(name, value, 0)
        errors.check_range("label_smoothing", label_smoothing, 0, 1)
        self.teacher = teacher
        self.detach_teacher = bool(detach_teacher)
        self.temperature = float(temperature)
        self.kd_weight = float(kd_weight)
        self.at_weight = float(at_weight)
        self.attention = attention
        self.attention_stages = attention_stages
        self.distill_warmup_steps = int(distill_warmup_steps)
        self.distill_ramp_steps = int(distill_ramp_steps)
        self.label_smoothing = float(label_smoothing)
        self.subnet_label_weight = float(subnet_label_weight)
        self.subnet_start_steps = int(subnet_start_steps)

    def get_config(self):
        return {
            "teacher": self.teacher, "detach_teacher": self.detach_teacher, "temperature": self.temperature,
            "kd_weight": self.kd_weight, "at_weight": self.at_weight, "attention": self.attention,
            "attention_stages": self.attention_stages, "distill_warmup_steps": self.distill_warmup_steps,
            "distill_ramp_steps": self.distill_ramp_steps, "label_smoothing": self.label_smoothing,
            "subnet_label_weight": self.subnet_label_weight, "subnet_start_steps": self.subnet_start_steps,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Objective) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"Objective({', '.join(f'{key}={value!r}' for key, value in self.get_config().items())})"

    def kd_students(self, depths, full_depth):
        """The depths a KL term teaches: every sub-net, and with an ensemble teacher the full net too."""
        return tuple(depths) if self.teacher == "ensemble" else tuple(d for d in depths if d != full_depth)

    def single_depth(self, depth, full_depth):
        """The terms that train ``depth`` alone against a fixed teacher, as quantization-aware training needs.

        Returns ``{"label_weight", "label_smoothing", "kd_weight", "temperature",
        "teacher"}``: the loss is ``label_weight * CE + kd_weight * T^2 * KL``
        against the teacher's logits (the full net's, or every depth's mean),
        with the schedules at full weight, as at the end of training. Raises a
        ValueError when ``depth`` has an attention term: that needs the
        teacher's stage outputs, which one depth alone does not have.
        """
        if depth != full_depth and self.at_weight > 0:
            raise ValueError(f"the objective's attention transfer (at_weight {self.at_weight:g}) needs the teacher's "
                             "stage outputs, which one depth alone does not have")
        return {
            "label_weight": 1.0 if depth == full_depth else self.subnet_label_weight,
            "label_smoothing": self.label_smoothing,
            "kd_weight": self.kd_weight if depth in self.kd_students((depth, full_depth), full_depth) else 0.0,
            "temperature": self.temperature,
            "teacher": self.teacher,
        }

    def without_attention(self):
        """This objective with its attention term off."""
        return Objective.from_config({**self.get_config(), "at_weight": 0.0})

    def distillation_scale(self, step):
        """The warm-up's factor on both distillation weights at optimiser step ``step`` (a tensor), in [0, 1]."""
        from keras import ops

        if step is None or not (self.distill_warmup_steps or self.distill_ramp_steps):
            return ops.convert_to_tensor(1.0, "float32")
        steps_done = ops.cast(step, "float32")
        return ops.clip((steps_done + 1.0 - self.distill_warmup_steps) / (self.distill_ramp_steps + 1.0), 0.0, 1.0)

    def subnet_scale(self, step):
        """1 once the sub-nets learn, 0 during the first ``subnet_start_steps``."""
        from keras import ops

        if step is None or not self.subnet_start_steps:
            return ops.convert_to_tensor(1.0, "float32")
        return ops.cast(step >= self.subnet_start_steps, "float32")

    def terms(self, outputs, labels, full_depth, num_classes, step=None):
        """Every term of the loss and their weighted total, as float32 scalars.

        Args:
            outputs: ``{depth: (logits, [output of every stage])}`` of every depth
                (``DepthLevelBackbone.run_depths``).
            labels: integer class labels, ``(batch,)``.
            full_depth: the name of the full net, the teacher.
            num_classes: the classifier's outputs.
            step: the optimiser step the schedules read (``optimizer.iterations``);
                None for no schedule.

        Returns:
            ``{"loss": total, "ce_{d}": ..., "kd_{d}": ..., "at_{d}": ...,
            "kd_weight": ..., "at_weight": ...}``, the weights as applied.
        """
        import keras
        from keras import ops

        from ddnn_tf.distill import losses

        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        one_hot = ops.one_hot(labels, num_classes)
        teacher_logits, teacher_features = outputs[full_depth]
        if self.teacher == "ensemble":
            teacher_logits = ops.mean(ops.stack([ops.cast(logits, "float32") for logits, _ in outputs.values()]), axis=0)
        if self.detach_teacher:
            teacher_logits = ops.stop_gradient(teacher_logits)
            teacher_features = [ops.stop_gradient(f) for f in teacher_features]
        if self.attention_stages == "last":
            teacher_features = teacher_features[-1:]
        scale = self.distillation_scale(step)
        subnet_scale = self.subnet_scale(step)
        kd_weight, at_weight = self.kd_weight * scale, self.at_weight * scale
        students = self.kd_students(outputs, full_depth)
        terms = {"kd_weight": ops.convert_to_tensor(kd_weight, "float32"),
                 "at_weight": ops.convert_to_tensor(at_weight, "float32")}
        total = 0.0
        for depth, (logits, features) in outputs.items():
            ce = ops.mean(keras.losses.categorical_crossentropy(
                one_hot, ops.cast(logits, "float32"), from_logits=True, label_smoothing=self.label_smoothing))
            terms[f"ce_{depth}"] = ce
            depth_total = ce if depth == full_depth else self.subnet_label_weight * ce
            if depth in students:
                terms[f"kd_{depth}"] = losses.kd_loss(logits, teacher_logits, self.temperature)
                depth_total += kd_weight * terms[f"kd_{depth}"]
            if depth != full_depth:
                student_features = features[-1:] if self.attention_stages == "last" else features
                terms[f"at_{depth}"] = sum(losses.attention_loss(student, teacher, self.attention)
                                           for student, teacher in zip(student_features, teacher_features))
                depth_total += at_weight * terms[f"at_{depth}"]
                depth_total *= subnet_scale
            total += depth_total
        terms["loss"] = total
        return terms
