"""The depth-level dynamic ResNet and its Embedded Knowledge Distillation step."""

import math

import keras
import tensorflow as tf
from keras import ops

from ddnn_tf.distill import losses
from ddnn_tf.models import architectures
from ddnn_tf.models.layers import PixelNormalization, ZeroPadShortcut

STEMS = ("auto", "imagenet", "cifar")
BN_MODES = ("shared", "private", "path")
TEACHERS = ("full", "ensemble")
ATTENTION_MAPS = losses.ATTENTION_MAPS
ATTENTION_STAGES = ("all", "last")


@keras.saving.register_keras_serializable(package="ddnn_tf")
class DDNN(keras.Model):
    """A ResNet whose shallower sub-nets share its weights, trained with EKD.

    A sub-net keeps the first blocks of every stage of the full net (ResNet-18
    is ResNet-34 with 2, 2, 2, 2 of its 3, 4, 6, 3 blocks). Calling the model
    runs one depth; ``fit`` trains every depth on each batch, and with
    ``kd_weight`` or ``at_weight`` above 0 the full net teaches the sub-nets
    online (EKD, Zhao et al., arXiv 2103.00793):

        loss = CE(full) + sum over sub-nets of [CE(sub)
               + s * kd_weight * T^2 * KL(teacher_T || sub_T)
               + s * at_weight * sum over stages of AT(sub stage, teacher stage)]

    where ``s``, the distillation scale, is 0 for the first
    ``distill_warmup_steps`` optimiser steps, then rises linearly to 1 over
    ``distill_ramp_steps`` (1 from the start by default). It is computed from
    ``optimizer.iterations`` inside the step, so the schedule holds under
    ``fit``'s traced step and survives saving and resuming.

    Args:
        arch: the full net, one of ``architectures.ARCHS`` ("resnet34",
            "resnet50", "resnet101", "resnet152", "resnet56", "resnet110", ...).
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)`` of one image.
        depths: None for every standard depth nested in ``arch``; a sequence of
            standard depths such as ``(20, 56)``; or a dict
            ``{name: blocks per stage}`` for custom sub-nets. The full depth is
            always included.
        stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool), "cifar" (3x3/1 conv) or
            "auto" (cifar for inputs of 64 pixels or fewer).
        bn: "path" (the default: a block's BN is shared by the depths that
            reach it by the same path, so see the same input, and private to
            each group of them otherwise: every depth keeps its own
            statistics, and a block several depths reach by one path is
            computed once per step; within noise of "private" on the EKD
            study and within 2 % of "shared" BN's step), "private" (a block whose
            input differs between depths has its own BN per depth) or
            "shared" (one BN per layer for every depth: the standard parameter
            count, but the depths' moving statistics blend, so a depth must be
            recalibrated with ``ddnn_tf.recalibrate_bn`` before it is used).
        width: channel multiplier of every stage (0.25, 0.5, 1.0, ...).
        zero_init_residual: start the last BN scale of every residual branch
            at 0, so every block starts as its shortcut and every depth as
            the same function (torchvision's ``zero_init_residual``).
        temperature: softening temperature of the KL term.
        kd_weight: weight of the KL term. 0 by default, with ``at_weight``:
            cross-entropy of every depth alone (joint training) was the best
            recipe on the EKD study's validation digits (docs/results.md,
            section 2). The paper's form as the study ran it: ``kd_weight=1``,
            ``at_weight=500``, no distillation for the first 30 % of steps,
            full from 50 % (``distill_warmup_steps``, ``distill_ramp_steps``).
        at_weight: weight of the attention-transfer term.
        teacher: "full" (the full net teaches) or "ensemble" (the mean logits
            of every depth teach every depth, the full net included).
        detach_teacher: stop the distillation gradients at the teacher's outputs.
        attention: the attention map, "squared_mean" (Zagoruyko & Komodakis)
            or "zscored_sum" (channel sum, z-scored per example).
        attention_stages: "all" stages or only the "last" one.
        distill_warmup_steps: optimiser steps with no distillation at all.
        distill_ramp_steps: steps over which distillation then ramps to full.
        label_smoothing: label smoothing of every cross-entropy term.
        subnet_label_weight: weight of the sub-nets' cross-entropy (the full
            net's is always 1). 0 with ``kd_weight=1`` is in-place
            distillation (US-Nets, BigNAS): only the full net learns from the
            labels, the sub-nets from its soft targets.
        subnet_start_steps: optimiser steps during which only the full net
            learns (every sub-net term weighted 0), as in once-for-all's
            progressive shrinking; the sub-nets join after them.
        bn_momentum: momentum of the BN moving statistics.

    Example:
    >>> model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3))
    >>> model.depths
    (20, 32, 44, 56)
    >>> model.compile(optimizer=keras.optimizers.AdamW(2e-3, weight_decay=1e-4))
    >>> model.fit(train_ds, epochs=10)  # logs loss, ce_20 ... acc_56, kd_20, at_20, ...
    >>> logits = model(images, depth=20)
    >>> mobile = model.subnet(20)  # a plain functional keras.Model for export
    """

    def __init__(
        self,
        arch,
        num_classes,
        input_shape,
        depths=None,
        stem="auto",
        bn="path",
        width=1.0,
        zero_init_residual=False,
        temperature=2.0,
        kd_weight=0.0,
        at_weight=0.0,
        teacher="full",
        detach_teacher=True,
        attention="squared_mean",
        attention_stages="all",
        distill_warmup_steps=0,
        distill_ramp_steps=0,
        label_smoothing=0.0,
        subnet_label_weight=1.0,
        subnet_start_steps=0,
        bn_momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        family, full_depth = architectures.family_of(arch)
        block_counts = architectures.resolve_depths(arch, _from_config_pairs(depths))
        input_shape = tuple(int(size) for size in input_shape)
        _check_choice("stem", stem, STEMS)
        _check_choice("bn", bn, BN_MODES)
        _check_choice("teacher", teacher, TEACHERS)
        _check_choice("attention", attention, ATTENTION_MAPS)
        _check_choice("attention_stages", attention_stages, ATTENTION_STAGES)
        widths = architectures.scaled_widths(family, width)
        if min(int(distill_warmup_steps), int(distill_ramp_steps), int(subnet_start_steps)) < 0:
            raise ValueError(
                "distill_warmup_steps, distill_ramp_steps and subnet_start_steps must be non-negative; got "
                f"{distill_warmup_steps}, {distill_ramp_steps}, {subnet_start_steps}."
            )
        if subnet_label_weight < 0:
            raise ValueError(f"subnet_label_weight must be non-negative, got {subnet_label_weight}.")
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
        if temperature <= 0 or kd_weight < 0 or at_weight < 0:
            raise ValueError(
                "temperature must be positive and kd_weight, at_weight non-negative; got "
                f"{temperature}, {kd_weight}, {at_weight}."
            )
        if stem == "auto":
            stem = "cifar" if max(input_shape[:2]) <= 64 else "imagenet"

        self.arch = arch
        self.num_classes = int(num_classes)
        self.image_shape = input_shape
        self.block_counts = block_counts
        self.stem = stem
        self.bn = bn
        self.width = float(width)
        self.zero_init_residual = bool(zero_init_residual)
        self.temperature = float(temperature)
        self.kd_weight = float(kd_weight)
        self.at_weight = float(at_weight)
        self.teacher = teacher
        self.detach_teacher = bool(detach_teacher)
        self.attention = attention
        self.attention_stages = attention_stages
        self.distill_warmup_steps = int(distill_warmup_steps)
        self.distill_ramp_steps = int(distill_ramp_steps)
        self.label_smoothing = float(label_smoothing)
        self.subnet_label_weight = float(subnet_label_weight)
        self.subnet_start_steps = int(subnet_start_steps)
        self.bn_momentum = float(bn_momentum)
        self._family = family
        self._widths = widths
        self._full_depth = full_depth
        self._shared_prefix = _common_prefix_length(block_counts.values())

        self._layer_table = {}
        self._make_layers()
        self._trackers = self._make_trackers()
        self.build((None, *input_shape))

    # ------------------------------------------------------------------ layers

    @property
    def depths(self):
        """Names of the depths this model holds, shallowest first."""
        return tuple(self.block_counts)

    @property
    def full_depth(self):
        """Name of the full net: the deepest depth and the teacher."""
        return self._full_depth

    def _add(self, layer):
        self._layer_table[layer.name] = layer

    def _conv(self, name, filters, kernel_size, strides):
        self._add(
            keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=name,
            )
        )

    def _batch_norm(self, name, zero_init=False):
        self._add(
            keras.layers.BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=1e-5,
                gamma_initializer="zeros" if zero_init else "ones",
                name=name,
            )
        )

    def _bn_owners(self, stage, block):
        """The owners of this block's BNs, each a tuple of the depths it serves; [None] when it has one BN."""
        if self.bn == "shared" or self._path_index(stage, block) < self._shared_prefix:
            return [None]
        reaching = [depth for depth, counts in self.block_counts.items() if counts[stage] > block]
        if self.bn == "private":
            return [(depth,) for depth in reaching]
        # "path": depths that ran the same blocks of every earlier stage reach
        # this block by the same path, so with the same input.
        groups = {}
        for depth in reaching:
            groups.setdefault(tuple(self.block_counts[depth][:stage]), []).append(depth)
        return [tuple(group) for group in groups.values()]

    def _bn_owner(self, stage, block, depth):
        """The owner of the BN that ``depth`` runs in this block."""
        return next(owner for owner in self._bn_owners(stage, block) if owner is None or depth in owner)

    def _path_index(self, stage, block):
        """Position of a block in the full net's sequence of blocks."""
        full_counts = self.block_counts[self._full_depth]
        return sum(full_counts[:stage]) + block

    def _branch(self, stage, block):
        """``(kernel, strides, filters)`` of each conv of a block's residual branch."""
        width = self._widths[stage]
        strides = _strides(stage, block)
        if self._family.block == "basic":
            return [(3, strides, width), (3, 1, width)]
        return [(1, 1, width), (3, strides, width), (1, 1, 4 * width)]

    def _block_in_out(self, stage, block):
        out_channels = self._branch(stage, block)[-1][2]
        if block > 0:
            return out_channels, out_channels
        if stage == 0:
            return self._widths[0], out_channels
        return self._branch(stage - 1, 0)[-1][2], out_channels

    def _make_layers(self):
        width = self._widths[0]
        if self.stem == "imagenet":
            self._conv("stem_conv", width, 7, 2)
        else:
            self._conv("stem_conv", width, 3, 1)
        self._batch_norm("stem_bn")
        self._add(keras.layers.ReLU(name="stem_relu"))
        if self.stem == "imagenet":
            self._add(keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool"))

        for stage, count in enumerate(self.block_counts[self._full_depth]):
            for block in range(count):
                prefix = _block_name(stage, block)
                branch = self._branch(stage, block)
                for unit, (kernel, strides, filters) in enumerate(branch, start=1):
                    self._conv(f"{prefix}_conv{unit}", filters, kernel, strides)
                    last_unit = unit == len(branch)
                    for owner in self._bn_owners(stage, block):
                        self._batch_norm(
                            _bn_name(f"{prefix}_bn{unit}", owner), zero_init=last_unit and self.zero_init_residual
                        )
                    if unit < len(branch):
                        self._add(keras.layers.ReLU(name=f"{prefix}_relu{unit}"))
                in_channels, out_channels = self._block_in_out(stage, block)
                strides = _strides(stage, block)
                if strides > 1 or in_channels != out_channels:
                    if self._family.shortcut == "zero_pad":
                        self._add(ZeroPadShortcut(out_channels, strides, name=f"{prefix}_shortcut"))
                    else:
                        self._conv(f"{prefix}_shortcut_conv", out_channels, 1, strides)
                        for owner in self._bn_owners(stage, block):
                            self._batch_norm(_bn_name(f"{prefix}_shortcut_bn", owner))
                self._add(keras.layers.Add(name=f"{prefix}_add"))
                self._add(keras.layers.ReLU(name=f"{prefix}_out"))

        self._add(keras.layers.GlobalAveragePooling2D(name="avg_pool"))
        # float32 logits keep the softmax and the losses exact under mixed precision.
        self._add(keras.layers.Dense(self.num_classes, dtype="float32", name="classifier"))

    def build(self, input_shape):
        # Runs every depth once symbolically so that every variable exists now:
        # calling the model later never creates one.
        self.run_depths(keras.KerasTensor(input_shape), self.depths, training=False)
        self.built = True

    # ----------------------------------------------------------------- forward

    def _stem(self, x, training):
        table = self._layer_table
        x = table["stem_conv"](x)
        x = table["stem_bn"](x, training=training)
        x = table["stem_relu"](x)
        if "stem_pool" in table:
            x = table["stem_pool"](x)
        return x

    def _block(self, x, stage, block, owner, training):
        table = self._layer_table
        prefix = _block_name(stage, block)
        units = len(self._branch(stage, block))
        h = x
        for unit in range(1, units + 1):
            h = table[f"{prefix}_conv{unit}"](h)
            h = table[_bn_name(f"{prefix}_bn{unit}", owner)](h, training=training)
            if unit < units:
                h = table[f"{prefix}_relu{unit}"](h)
        shortcut = x
        if f"{prefix}_shortcut" in table:
            shortcut = table[f"{prefix}_shortcut"](x)
        elif f"{prefix}_shortcut_conv" in table:
            shortcut = table[f"{prefix}_shortcut_conv"](x)
            shortcut = table[_bn_name(f"{prefix}_shortcut_bn", owner)](shortcut, training=training)
        return table[f"{prefix}_out"](table[f"{prefix}_add"]([h, shortcut]))

    def run_depths(self, x, depths, training):
        """Runs several depths on one batch, each shared block computed once.

        Returns ``{depth: (logits, [output of every stage])}``. Depths walk the
        blocks in the same order, so a block reached by the same path with
        the same BN gives the same output for every depth
        that reaches it: it is computed once and reused.
        """
        stem = self._stem(x, training)
        computed = {}
        results = {}
        for depth in depths:
            h, path, stage_outputs = stem, (), []
            for stage, count in enumerate(self.block_counts[depth]):
                for block in range(count):
                    owner = self._bn_owner(stage, block, depth)
                    path += ((stage, block, owner),)
                    if path not in computed:
                        computed[path] = self._block(h, stage, block, owner, training)
                    h = computed[path]
                stage_outputs.append(h)
            pooled = self._layer_table["avg_pool"](h)
            results[depth] = (self._layer_table["classifier"](pooled), stage_outputs)
        return results

    def _check_depth(self, depth):
        if depth is None:
            return self._full_depth
        if depth not in self.block_counts:
            raise ValueError(
                f"Depth {depth!r} is not in this {self.arch} DDNN; valid choices: "
                f"{', '.join(map(str, self.depths))}."
            )
        return depth

    def call(self, inputs, depth=None, training=None):
        """Logits of one depth (the full net when ``depth`` is None)."""
        depth = self._check_depth(depth)
        if len(inputs.shape) != 4 or inputs.shape[-1] != self.image_shape[-1]:
            raise ValueError(
                f"Expected images of shape (batch, height, width, {self.image_shape[-1]}), "
                f"got shape {tuple(inputs.shape)}."
            )
        return self.run_depths(inputs, (depth,), training)[depth][0]

    def subnet(self, depth, batch_size=None, statistics=None):
        """A plain functional ``keras.Model`` of one depth, sharing this model's variables.

        It holds only the layers that depth runs, so exporting it exports that
        depth alone. Its outputs equal ``self(x, depth=depth, training=False)``.
        ``batch_size`` fixes the batch dimension (1 for a phone's TFLite file).
        With ``statistics``, ``{"mean": ..., "std": ...}`` of the training
        images (``run.json``'s ``data``), it takes uint8 pixels in [0, 255]
        and normalises them first (``PixelNormalization``): what an exported
        file holds.
        """
        depth = self._check_depth(depth)
        if statistics is None:
            inputs = x = keras.Input(self.image_shape, batch_size=batch_size, name="image")
        else:
            inputs = keras.Input(self.image_shape, batch_size=batch_size, dtype="uint8", name="pixels")
            x = PixelNormalization(statistics["mean"], statistics["std"], name="pixel_normalization")(inputs)
        logits = self.run_depths(x, (depth,), training=None)[depth][0]
        return keras.Model(inputs, logits, name=f"{self.arch}_depth{depth}")

    def parameter_count(self, depth=None):
        """Trainable parameters of one depth's standalone network."""
        return int(sum(math.prod(v.shape) for v in self.subnet(depth).trainable_weights))

    def multiply_accumulates(self, depth=None):
        """Multiply-accumulates of one image through one depth (convs and classifier)."""
        depth = self._check_depth(depth)
        height, width, channels = self.image_shape

        def conv(kernel, strides, filters):
            nonlocal height, width, channels
            height, width = -(-height // strides), -(-width // strides)
            macs = height * width * filters * kernel * kernel * channels
            channels = filters
            return macs

        total = conv(7, 2, self._widths[0]) if self.stem == "imagenet" else conv(3, 1, self._widths[0])
        if self.stem == "imagenet":
            height, width = -(-height // 2), -(-width // 2)
        for stage, count in enumerate(self.block_counts[depth]):
            for block in range(count):
                in_channels = channels
                for kernel, strides, filters in self._branch(stage, block):
                    total += conv(kernel, strides, filters)
                if f"{_block_name(stage, block)}_shortcut_conv" in self._layer_table:
                    total += height * width * channels * in_channels
        return total + channels * self.num_classes

    # -------------------------------------------------------------------- EKD

    def _make_trackers(self):
        names = ["loss"]
        names += [f"ce_{depth}" for depth in self.depths]
        names += [f"kd_{depth}" for depth in self._kd_students()]
        names += [f"at_{depth}" for depth in self.depths if depth != self._full_depth]
        names += ["kd_weight", "at_weight"]  # as applied, after the warm-up schedule
        trackers = {name: keras.metrics.Mean(name=name) for name in names}
        for depth in self.depths:
            trackers[f"acc_{depth}"] = keras.metrics.SparseCategoricalAccuracy(name=f"acc_{depth}")
        return trackers

    def _kd_students(self):
        if self.teacher == "ensemble":
            return self.depths
        return tuple(depth for depth in self.depths if depth != self._full_depth)

    @property
    def metrics(self):
        # Own trackers, not compile()'s: its "loss" tracker would log 0.0 here.
        return list(self._trackers.values())

    def distillation_scale(self):
        """The warm-up schedule's factor on both distillation weights now, in [0, 1].

        0 while ``optimizer.iterations < distill_warmup_steps``, then linear up
        to 1, reached after ``distill_ramp_steps`` more steps.
        """
        if not (self.distill_warmup_steps or self.distill_ramp_steps) or self.optimizer is None:
            return ops.convert_to_tensor(1.0, "float32")
        steps_done = ops.cast(self.optimizer.iterations, "float32")
        return ops.clip(
            (steps_done + 1.0 - self.distill_warmup_steps) / (self.distill_ramp_steps + 1.0), 0.0, 1.0
        )

    def subnet_scale(self):
        """1 once the sub-nets learn, 0 during the first ``subnet_start_steps`` optimiser steps."""
        if not self.subnet_start_steps or self.optimizer is None:
            return ops.convert_to_tensor(1.0, "float32")
        return ops.cast(self.optimizer.iterations >= self.subnet_start_steps, "float32")

    def ekd_losses(self, outputs, labels, distillation_scale=1.0, subnet_scale=1.0):
        """Every term of the EKD loss and their weighted total, as float32 scalars.

        Args:
            outputs: ``{depth: (logits, stage outputs)}`` covering every depth.
            labels: integer class labels, ``(batch,)``.
            distillation_scale: factor on ``kd_weight`` and ``at_weight``
                (``distillation_scale()`` in training).
            subnet_scale: factor on every term of a sub-net (``subnet_scale()``
                in training).

        Returns:
            ``{"loss": total, "ce_{d}": ..., "kd_{d}": ..., "at_{d}": ...,
            "kd_weight": ..., "at_weight": ...}``.
        """
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        one_hot = ops.one_hot(labels, self.num_classes)
        teacher_logits, teacher_features = outputs[self._full_depth]
        if self.teacher == "ensemble":
            teacher_logits = ops.mean(
                ops.stack([ops.cast(logits, "float32") for logits, _ in outputs.values()]), axis=0
            )
        if self.detach_teacher:
            teacher_logits = ops.stop_gradient(teacher_logits)
            teacher_features = [ops.stop_gradient(f) for f in teacher_features]

        kd_weight = self.kd_weight * distillation_scale
        at_weight = self.at_weight * distillation_scale
        if self.attention_stages == "last":
            teacher_features = teacher_features[-1:]
        terms = {"kd_weight": ops.convert_to_tensor(kd_weight, "float32"),
                 "at_weight": ops.convert_to_tensor(at_weight, "float32")}
        total = 0.0
        for depth, (logits, features) in outputs.items():
            ce = ops.mean(
                keras.losses.categorical_crossentropy(
                    one_hot, ops.cast(logits, "float32"), from_logits=True,
                    label_smoothing=self.label_smoothing,
                )
            )
            terms[f"ce_{depth}"] = ce
            depth_total = ce if depth == self._full_depth else self.subnet_label_weight * ce
            if depth in self._kd_students():
                terms[f"kd_{depth}"] = losses.kd_loss(logits, teacher_logits, self.temperature)
                depth_total += kd_weight * terms[f"kd_{depth}"]
            if depth != self._full_depth:
                student_features = features[-1:] if self.attention_stages == "last" else features
                terms[f"at_{depth}"] = sum(
                    losses.attention_loss(student, teacher, self.attention)
                    for student, teacher in zip(student_features, teacher_features)
                )
                depth_total += at_weight * terms[f"at_{depth}"]
                depth_total *= subnet_scale
            total += depth_total
        terms["loss"] = total
        return terms

    def _update_metrics(self, terms, outputs, labels):
        batch_size = ops.shape(labels)[0]
        for name, value in terms.items():
            self._trackers[name].update_state(value, sample_weight=batch_size)
        for depth, (logits, _) in outputs.items():
            self._trackers[f"acc_{depth}"].update_state(ops.reshape(labels, (-1,)), logits)
        results = {metric.name: metric.result() for metric in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages the step's outputs over workers with
            # strategy.reduce("MEAN", value, axis=0), which fails on scalars
            # (keras/src/backend/tensorflow/trainer.py, reduce_per_replica): a
            # length-1 vector per replica reduces to the scalar mean.
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds from the first batch and, under a strategy, first reduces
        # that distributed batch with strategy.reduce("MEAN"); the collective
        # all-reduce of MultiWorkerMirroredStrategy cannot do that for input data
        # (keras-team/keras#20585, tensorflow/tensorflow#72388). A DDNN is fully
        # built in its constructor, so one replica's local batch serves.
        strategy = self._distribute_strategy
        if iterator is not None and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x,
                    next(batches),
                )
                break
            iterator = None
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, data):
        images, labels = _unpack(data)
        with tf.GradientTape() as tape:
            outputs = self.run_depths(images, self.depths, training=True)
            terms = self.ekd_losses(outputs, labels, self.distillation_scale(), self.subnet_scale())
            loss = terms["loss"]
            if self.losses:
                loss += ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
            # Replica gradients are summed, so each replica contributes its share.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_metrics(terms, outputs, labels)

    def test_step(self, data):
        images, labels = _unpack(data)
        outputs = self.run_depths(images, self.depths, training=False)
        terms = self.ekd_losses(outputs, labels, self.distillation_scale(), self.subnet_scale())
        return self._update_metrics(terms, outputs, labels)

    # ------------------------------------------------------------ serialising

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input_shape": list(self.image_shape),
            # Pairs, not a dict: JSON would turn integer depth names into strings.
            "depths": [[name, list(counts)] for name, counts in self.block_counts.items()],
            "stem": self.stem,
            "bn": self.bn,
            "width": self.width,
            "zero_init_residual": self.zero_init_residual,
            "temperature": self.temperature,
            "kd_weight": self.kd_weight,
            "at_weight": self.at_weight,
            "teacher": self.teacher,
            "detach_teacher": self.detach_teacher,
            "attention": self.attention,
            "attention_stages": self.attention_stages,
            "distill_warmup_steps": self.distill_warmup_steps,
            "distill_ramp_steps": self.distill_ramp_steps,
            "label_smoothing": self.label_smoothing,
            "subnet_label_weight": self.subnet_label_weight,
            "subnet_start_steps": self.subnet_start_steps,
            "bn_momentum": self.bn_momentum,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _from_config_pairs(depths):
    """Accepts ``depths`` as ``get_config`` writes it: ``[[name, counts], ...]``."""
    if isinstance(depths, (list, tuple)) and depths and isinstance(depths[0], (list, tuple)):
        return {name: tuple(counts) for name, counts in depths}
    return depths


def _unpack(data):
    images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if labels is None or sample_weight is not None:
        raise ValueError(
            "DDNN.fit and DDNN.evaluate take (images, integer labels) batches, "
            "without sample weights."
        )
    return images, labels


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"Unknown {what} {value!r}; valid choices: {', '.join(choices)}.")


def _strides(stage, block):
    """Every stage but the first halves the resolution in its first block."""
    return 2 if stage > 0 and block == 0 else 1


def _block_name(stage, block):
    return f"stage{stage + 1}_block{block + 1}"


def _bn_name(name, owner):
    """``name`` for a BN of every depth, ``name_depth14`` for one depth's, ``name_depths14_20`` for a group's."""
    if owner is None:
        return name
    if len(owner) == 1:
        return f"{name}_depth{owner[0]}"
    return f"{name}_depths{'_'.join(map(str, owner))}"


def _common_prefix_length(all_counts):
    """How many blocks, in the full net's order, every depth runs with the same input."""
    paths = [
        [(stage, block) for stage, count in enumerate(counts) for block in range(count)]
        for counts in all_counts
    ]
    length = 0
    while all(len(path) > length for path in paths) and len({path[length] for path in paths}) == 1:
        length += 1
    return length
