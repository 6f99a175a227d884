"""The DDNN as a task: a backbone holding every depth, the pixels' normalisation, and the objective that trains them."""

import keras
import tensorflow as tf
from keras import ops

from ddnn_tf.distill.objective import Objective
from ddnn_tf.models import backbones, costs
from ddnn_tf.models.layers import PixelNormalization
from ddnn_tf.models.multi_worker import MultiWorkerModel
from ddnn_tf.version import __version__


@keras.saving.register_keras_serializable(package="ddnn_tf")
class DDNN(MultiWorkerModel):
    """Trains every depth of a backbone (``DepthLevelBackbone``) on each batch, the full net teaching the sub-nets online (EKD).

    ``fit`` runs every depth on the same batch and minimises the
    ``objective`` (``ddnn_tf.distill.Objective``: every depth's cross-entropy,
    and with its weights above 0 the distillation of Zhao et al., arXiv
    2103.00793). Calling the model runs one depth.

    Args:
        backbone: a ``DepthLevelBackbone`` of any family (``ddnn_tf.models.backbones``).
        objective: a ``ddnn_tf.distill.Objective``; the default trains every
            depth with cross-entropy alone (joint training).
        pixel_mean, pixel_std: per-channel statistics of the training images
            (pixels scaled to [0, 1]). Given, the model takes pixels in
            [0, 255] and normalises them first (``PixelNormalization``), so a
            saved model and every file exported from it carry their own
            preprocessing; None, it takes images already normalised.

    ``compile`` takes the optimizer only: the loss and the metrics are the
    objective's (loss, ``ce_N``, ``kd_N``, ``at_N``, ``acc_N``).

    Example:
    >>> model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3))
    >>> model.depths
    (20, 32, 44, 56)
    >>> model.compile(optimizer=keras.optimizers.AdamW(2e-3, weight_decay=1e-4))
    >>> model.fit(train_ds, epochs=10)  # logs loss, ce_20 ... acc_56, kd_20, at_20, ...
    >>> logits = model(images, depth=20)
    >>> mobile = model.subnet(20)  # a plain functional keras.Model for export
    """

    def __init__(self, backbone, objective=None, pixel_mean=None, pixel_std=None, **kwargs):
        super().__init__(**kwargs)
        if (pixel_mean is None) != (pixel_std is None):
            raise ValueError("pixel_mean and pixel_std go together: give both or neither.")
        self.backbone = backbone
        self.objective = objective or Objective()
        self.normalization = None
        if pixel_mean is not None:
            self.normalization = PixelNormalization(pixel_mean, pixel_std, dtype="float32", name="pixel_normalization")
        self._trackers = self._make_trackers()
        self.build((None, *backbone.image_shape))

    def build(self, input_shape):
        self.built = True  # the backbone built every variable already

    # What the backbone holds, asked of the task.
    arch = property(lambda self: self.backbone.arch)
    depths = property(lambda self: self.backbone.depths)
    full_depth = property(lambda self: self.backbone.full_depth)
    bn = property(lambda self: self.backbone.bn)
    heads = property(lambda self: self.backbone.heads)
    num_classes = property(lambda self: self.backbone.num_classes)
    image_shape = property(lambda self: self.backbone.image_shape)

    def check_depth(self, depth):
        return self.backbone.check_depth(depth)

    def _model_input(self, images):
        return self.normalization(images) if self.normalization is not None else images

    def run_depths(self, images, depths, training):
        """``{depth: (logits, [output of every stage])}`` of several depths on one batch, shared blocks computed once."""
        return self.backbone.run_depths(self._model_input(images), depths, training)

    def call(self, inputs, depth=None, training=None):
        """Logits of one depth (the full net when ``depth`` is None)."""
        return self.backbone(self._model_input(inputs), depth=depth, training=training)

    def subnet(self, depth, batch_size=None):
        """One depth as a plain functional ``keras.Model`` sharing this model's variables: what export converts.

        It takes what the model takes: with pixel statistics, uint8 pixels in
        [0, 255] normalised by its first layer (every exported file's input),
        else normalised images. Its outputs equal ``self(x, depth=depth,
        training=False)``; ``batch_size`` fixes the batch dimension.
        """
        depth = self.check_depth(depth)
        if self.normalization is None:
            return self.backbone.subnet(depth, batch_size)
        pixels = keras.Input(self.image_shape, batch_size=batch_size, dtype="uint8", name="pixels")
        logits = self.backbone.run_depths(self.normalization(pixels), (depth,), training=None)[depth][0]
        return keras.Model(pixels, logits, name=f"{self.arch}_depth{depth}")

    def parameter_count(self, depth=None):
        """Trainable parameters of one depth's standalone network."""
        return self.backbone.parameter_count(depth)

    def multiply_accumulates(self, depth=None):
        """Multiply-accumulates of one image through one depth, read from its layers."""
        return costs.multiply_accumulates(self.backbone.subnet(self.check_depth(depth)))

    # --------------------------------------------------------------- training

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        if loss is not None or metrics is not None:
            raise ValueError(
                "A DDNN computes its own loss and metrics from its objective (every depth's cross-entropy and "
                "distillation, ddnn_tf.distill.Objective): pass compile(optimizer=...) only, and the objective "
                "to build_ddnn(..., objective=...)."
            )
        super().compile(optimizer=optimizer, **kwargs)
        # Built now, not inside the first traced train_step: variables created there make tf.function trace
        # the whole step a second time (a tiny ResNet-32's first fit: 19.9 s, against 12.1 s built here).
        # Compile inside a strategy's scope, as Keras asks, and the slots are created there.
        self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Keras's own skips a custom compile(); without the optimizer restored, training could not resume.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def _make_trackers(self):
        names = ["loss", *(f"ce_{depth}" for depth in self.depths)]
        names += [f"kd_{depth}" for depth in self.objective.kd_students(self.depths, self.full_depth)]
        names += [f"at_{depth}" for depth in self.depths if depth != self.full_depth]
        names += ["kd_weight", "at_weight"]  # as applied, after the warm-up schedule
        trackers = {name: keras.metrics.Mean(name=name) for name in names}
        for depth in self.depths:
            trackers[f"acc_{depth}"] = keras.metrics.SparseCategoricalAccuracy(name=f"acc_{depth}")
        return trackers

    @property
    def metrics(self):
        # Own trackers, not compile()'s: its "loss" tracker would log 0.0 here.
        return list(self._trackers.values())

    def _step(self):
        return self.optimizer.iterations if self.optimizer is not None else None

    def _update_metrics(self, terms, outputs, labels):
        batch_size = ops.shape(labels)[0]
        for name, value in terms.items():
            self._trackers[name].update_state(value, sample_weight=batch_size)
        for depth, (logits, _) in outputs.items():
            self._trackers[f"acc_{depth}"].update_state(ops.reshape(labels, (-1,)), logits)
        return self.step_results({metric.name: metric.result() for metric in self.metrics})

    def train_step(self, data):
        images, labels = _unpack(data)
        with tf.GradientTape() as tape:
            outputs = self.run_depths(images, self.depths, training=True)
            terms = self.objective.terms(outputs, labels, self.full_depth, self.num_classes, self._step())
            loss = terms["loss"]
            if self.losses:
                loss += ops.sum(ops.stack([ops.cast(l, "float32") for l in self.losses]))
            # Replica gradients are summed, so each replica contributes its share.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled, self.trainable_variables)
        step = ops.convert_to_tensor(self.optimizer.iterations)
        self.optimizer.apply(gradients, self.trainable_variables)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # A step skipped for non-finite float16 gradients leaves ``iterations`` as it was, and with it the
            # learning-rate and distillation schedules: counted, every batch moves them as the config says.
            self.optimizer.iterations.assign(step + 1)
        return self._update_metrics(terms, outputs, labels)

    def test_step(self, data):
        images, labels = _unpack(data)
        outputs = self.run_depths(images, self.depths, training=False)
        terms = self.objective.terms(outputs, labels, self.full_depth, self.num_classes, self._step())
        return self._update_metrics(terms, outputs, labels)

    # ------------------------------------------------------------ serialising

    def get_config(self):
        config = {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "objective": self.objective.get_config(),
            "ddnn_tf_version": __version__,
        }
        if self.normalization is not None:
            config.update(pixel_mean=list(self.normalization.mean), pixel_std=list(self.normalization.std))
        return config

    @classmethod
    def from_config(cls, config):
        if "backbone" not in config:
            raise ValueError(
                "This DDNN was saved by ddnn_tf 0.2 or earlier, whose one class held the architecture and the "
                f"training settings; ddnn_tf {__version__} keeps them apart and cannot read it. Train it "
                "again, or load it with pip install ddnn_tf==0.2.0."
            )
        config = dict(config)
        config.pop("ddnn_tf_version", None)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        return cls(backbone, Objective.from_config(config.pop("objective")), **config)


def _unpack(data):
    images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if labels is None or sample_weight is not None:
        raise ValueError("DDNN.fit and DDNN.evaluate take (images, integer labels) batches, without sample weights.")
    return images, labels


def build(arch, num_classes, input_shape, objective=None, pixel_mean=None, pixel_std=None, **options):
    """A ``DDNN`` from the backbone's options (its family's constructor's) and ``Objective``'s options, in one call."""
    family = backbones.family_of_arch(arch)
    names = backbones.get(family).option_names()
    backbone = backbones.build({"family": family, "arch": arch, **{k: options.pop(k) for k in names if k in options}},
                               num_classes, input_shape)
    if options and objective is not None:
        raise ValueError(f"Pass the objective's options ({', '.join(options)}) or an objective, not both.")
    return DDNN(backbone, objective or Objective(**options), pixel_mean=pixel_mean, pixel_std=pixel_std)
