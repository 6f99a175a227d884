"""Quantization-aware training of one depth in Keras 2: run only by ``ddnn_tf.export.qat``, as a subprocess.

    TF_USE_LEGACY_KERAS=1 python ddnn_tf/export/qat_worker.py <folder>

``<folder>`` holds what ``ddnn_tf.export.qat`` wrote: ``spec.json`` (the sub-net's
layers and the settings), ``weights.npz`` and ``data.npz``. This writes
``model.tflite`` and ``report.json`` there, or prints ``error: ...`` and exits
1. It imports nothing from ddnn_tf but ``distill/kl.py`` and
``data/normalization.py`` (by path, the KL term and the pixel normalisation
it shares with training and export): tfmot 0.8 needs tf_keras (Keras 2), and
the package is Keras 3.

Steps: rebuild the sub-net in tf_keras layer by layer (same names and
configs), copy the weights, fail unless its float logits equal the Keras 3
ones; quantize with tfmot's default 8-bit scheme; start every activation
range at the float replica's range on the calibration images (tfmot would
start at [-6, 6] and move by a 0.001 moving average, far too slowly for a
short fine-tuning); fine-tune with BN frozen, distilling from the float full
net; convert to batch-1 int8 TFLite on uint8 pixels, normalising inside as
every exported file does. The images arrive as uint8 pixels and are
normalised once for the replica, which takes what the Keras sub-net takes.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # must be set before TensorFlow is imported

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402

quantize = tfmot.quantization.keras


def _load(relative_path):
    """A module of ddnn_tf that imports nothing of it, loaded by path: importing the package would load Keras 3."""
    path = Path(__file__).resolve().parents[1] / relative_path
    spec = importlib.util.spec_from_file_location("ddnn_tf_" + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kl = _load("distill/kl.py")
normalization = _load("data/normalization.py")
converter_settings = _load("export/settings.py")
TF_OPS = kl.tensorflow_ops()


class WorkerError(Exception):
    """Printed as one ``error:`` line, which ddnn_tf.export.qat shows to the user."""


class ZeroPadShortcut(keras.layers.Layer):
    """tf_keras twin of ``ddnn_tf.models.layers.ZeroPadShortcut``: subsample, then zero-pad channels."""

    def __init__(self, channels, strides, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.strides = strides

    def call(self, inputs):
        subsampled = inputs[:, :: self.strides, :: self.strides, :]
        extra = self.channels - inputs.shape[-1]
        return tf.pad(subsampled, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape

        def subsample(size):
            return None if size is None else -(-size // self.strides)

        return tf.TensorShape((batch, subsample(height), subsample(width), self.channels))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "strides": self.strides}


class NoOpQuantizeConfig(quantize.QuantizeConfig):
    """Quantizes nothing in the layer it annotates.

    The zero-pad shortcut has no weights, and its output holds its input's
    values plus zeros, so it keeps its input's quantization (its input, a ReLU
    output, is already quantized); TFLite's int8 STRIDED_SLICE and PAD require
    exactly that.
    """

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


CUSTOM_OBJECTS = {"ZeroPadShortcut": ZeroPadShortcut, "NoOpQuantizeConfig": NoOpQuantizeConfig}


def build_replica(spec, weights):
    """The sub-net as a tf_keras functional model: same layers, names and configs, the Keras 3 weights."""
    inputs = keras.Input(spec["input_shape"], name=spec["input_name"])
    outputs = {spec["input_name"]: inputs}
    for entry in spec["layers"]:
        layer_class = CUSTOM_OBJECTS.get(entry["class_name"]) or getattr(keras.layers, entry["class_name"])
        layer = layer_class(name=entry["name"], **entry["config"])
        arguments = [outputs[name] for name in entry["inputs"]]
        outputs[entry["name"]] = layer(arguments if entry["merge"] else arguments[0])
    replica = keras.Model(inputs, outputs[spec["output"]], name=spec["name"])

    copied = 0
    for entry in spec["layers"]:
        arrays = [weights[f"{entry['name']}:{index}"] for index in range(_count(weights, entry["name"]))]
        if arrays:
            replica.get_layer(entry["name"]).set_weights(arrays)  # raises on any shape mismatch
            copied += len(arrays)
    if copied != len(weights.files) or copied != len(replica.weights):
        raise WorkerError(
            f"copied {copied} of {len(weights.files)} weight arrays into a replica holding {len(replica.weights)}"
        )
    return replica


def quantization_aware(replica):
    """tfmot's default 8-bit QAT model of the replica: a new model holding a copy of its weights.

    Zero-pad shortcuts are annotated with NoOpQuantizeConfig first: the
    default scheme rejects layers it does not know.
    """

    def annotate(layer):
        if isinstance(layer, ZeroPadShortcut):
            return quantize.quantize_annotate_layer(layer, quantize_config=NoOpQuantizeConfig())
        return layer  # the same layer: the clone keeps its weights

    annotated = keras.models.clone_model(replica, clone_function=annotate)
    with quantize.quantize_scope(CUSTOM_OBJECTS):
        return quantize.quantize_model(annotated)


def _count(weights, layer_name):
    return sum(1 for key in weights.files if key.rsplit(":", 1)[0] == layer_name)


def relative_difference(logits, reference):
    return float(np.max(np.abs(logits - reference)) / np.max(np.abs(reference)))


def check_replica(replica, images, keras_logits, tolerance):
    """The replica's largest logit difference from the Keras 3 sub-net, relative; raises beyond ``tolerance``."""
    difference = relative_difference(replica.predict(images, batch_size=256, verbose=0), keras_logits)
    if not difference <= tolerance:
        raise WorkerError(
            f"the tf_keras replica's logits differ from the Keras 3 sub-net's by {difference:.2e} relative "
            f"(tolerance {tolerance})"
        )
    return difference


def initialize_activation_ranges(qat_model, replica, images, batch_size=32):
    """Sets every activation quantizer's range to the float range of the tensor it quantizes.

    A wrapper ``quant_<name>`` quantizes the output of the replica's layer
    ``<name>``; the layer reading the model input quantizes the images.
    Ranges include 0, as tfmot's own moving-average update makes them.
    Returns how many variables were set.
    """
    names = [layer.name for layer in replica.layers]
    probe = keras.Model(replica.inputs, [replica.get_layer(name).output for name in names])
    low, high = {}, {}
    for start in range(0, len(images), batch_size):  # batches: every activation of every image would not fit
        for name, value in zip(names, probe(images[start:start + batch_size], training=False)):
            low[name] = min(low.get(name, 0.0), float(tf.reduce_min(value)))
            high[name] = max(high.get(name, 0.0), float(tf.reduce_max(value)))

    count = 0
    for layer in qat_model.layers:
        if isinstance(layer, quantize.QuantizeWrapper):
            source = layer.layer.name
        elif any(layer.input is tensor for tensor in qat_model.inputs):
            source = replica.input_names[0]
        else:
            source = None
        for variable in layer.non_trainable_weights:
            name = variable.name.split("/")[-1].split(":")[0]
            if not name.endswith(("_min", "_max")) or name.startswith(("kernel", "bias", "depthwise_kernel")):
                continue  # weight ranges are set from the weights on every training step
            if source not in low:
                raise WorkerError(f"no float tensor of the replica matches the activation range {variable.name}")
            bound = low[source] if name.endswith("_min") else high[source]
            variable.assign(np.full(variable.shape, bound, np.float32))
            count += 1
    return count


def distillation_loss(num_classes, terms):
    """``label_weight * CE + kd_weight * T^2 * KL(teacher_T || student_T)``: the run's objective for this depth.

    ``terms`` is ``Objective.single_depth``'s; ``y_true`` packs the label and
    the teacher's logits, ``[label, logits...]``.
    """

    def loss(y_true, y_pred):
        labels = tf.one_hot(tf.cast(y_true[:, 0], tf.int32), num_classes)
        teacher = y_true[:, 1:1 + num_classes]
        ce = keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True,
                                                   label_smoothing=terms["label_smoothing"])
        kd = kl.softened_kl(y_pred, teacher, terms["temperature"], TF_OPS)
        return terms["label_weight"] * ce + terms["kd_weight"] * kd

    return loss


def convert(qat_model, input_shape, calibration_pixels, mean, std, float_output):
    """The QAT model on uint8 pixels as a batch-1 TFLite file with builtin int8 kernels only."""

    height, width, channels = input_shape
    group = normalization.group_size(width)
    kernel, bias = normalization.grouped_filter(mean, std, group)

    def serve(pixels):
        # As PixelNormalization computes it, so the file holds the same one cheap op.
        grouped = tf.reshape(tf.cast(pixels, tf.float32), [-1, height, width // group, group * channels])
        images = tf.nn.depthwise_conv2d(grouped, kernel, [1, 1, 1, 1], "VALID") + bias
        return qat_model(tf.reshape(images, [-1, height, width, channels]), training=False)

    concrete = tf.function(serve).get_concrete_function(tf.TensorSpec([1, *input_shape], tf.uint8, name="pixels"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], qat_model)

    def calibration():
        for image in calibration_pixels:
            yield [image[np.newaxis]]

    return converter_settings.configure(converter, "int8", calibration, float_output).convert()


def run(folder):
    spec = json.loads((folder / "spec.json").read_text())
    settings = spec["settings"]
    weights = np.load(folder / "weights.npz")
    pixels = np.load(folder / "data.npz")
    mean, std = np.asarray(settings["mean"], np.float32), np.asarray(settings["std"], np.float32)
    data = {key: normalization.normalize(pixels[key].astype(np.float32), mean, std) if key.endswith("_images")
            else pixels[key] for key in pixels.files}
    keras.utils.set_random_seed(settings["seed"])

    replica = build_replica(spec, weights)
    replica_difference = check_replica(replica, data["check_images"], data["check_logits"],
                                       settings["replica_tolerance"])

    # Frozen BN: QAT adapts the convolutions to quantization; the moving
    # statistics stay those of the trained model (and of the PTQ file).
    for layer in replica.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    qat_model = quantization_aware(replica)
    ranges = initialize_activation_ranges(qat_model, replica, data["calibration_images"])
    # One forward pass in training mode sets the weight quantizers' ranges from
    # the weights (they start at [-6, 6] too); BN is frozen and the activation
    # ranges move by 0.1%. The fake-quant model then starts where PTQ would.
    qat_model(data["calibration_images"][: settings["batch_size"]], training=True)
    start_logits = qat_model.predict(data["check_images"], batch_size=256, verbose=0)

    num_classes = data["teacher_logits"].shape[1]
    qat_model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss=distillation_loss(num_classes, settings["objective"]),
    )
    targets = np.concatenate([data["train_labels"][:, None].astype(np.float32), data["teacher_logits"]], axis=1)
    history = qat_model.fit(
        data["train_images"], targets, batch_size=settings["batch_size"], epochs=settings["epochs"], shuffle=True,
        verbose=0,
    )
    losses = [float(value) for value in history.history["loss"]]
    if not np.all(np.isfinite(losses)):
        raise WorkerError(f"the fine-tuning loss is not finite: {losses}")

    flatbuffer = convert(qat_model, spec["input_shape"], pixels["calibration_images"], mean, std,
                         settings["float_output"])
    (folder / "model.tflite").write_bytes(flatbuffer)
    steps = -(-len(data["train_images"]) // settings["batch_size"]) * settings["epochs"]
    report = {
        "replica_max_relative_difference": replica_difference,
        "activation_ranges": ranges,
        "fake_quant_start_max_relative_difference": relative_difference(start_logits, data["check_logits"]),
        "fake_quant_start_agreement": float(np.mean(start_logits.argmax(-1) == data["check_logits"].argmax(-1))),
        "epoch_losses": losses,
        "steps": steps,
    }
    (folder / "report.json").write_text(json.dumps(report))


def main(argv):
    if len(argv) != 2:
        print(f"error: usage: {argv[0]} <folder written by ddnn_tf.export.qat>", file=sys.stderr)
        return 2
    try:
        run(Path(argv[1]))
    except WorkerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
