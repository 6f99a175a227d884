"""Quantization-aware training (QAT) of one depth, through tensorflow-model-optimization.

tfmot 0.8 knows only Keras 2 (``tf_keras``) and switches ``tf.keras`` to it
for the whole process, while ddnn_tf is Keras 3. So this module, which never
imports either, describes the depth's standalone sub-net (layers, configs,
weights) and its training data in a temporary folder, and
``ddnn_tf/export/qat_worker.py`` rebuilds that sub-net in tf_keras in a subprocess,
checks it against the Keras 3 logits, fine-tunes it with fake quantization
and converts it to int8 TFLite. Install with ``pip install ddnn_tf[qat]``
plus ``pip install --no-deps tensorflow-model-optimization==0.8.1`` (tfmot's
metadata pins absl-py 1.x, which ddnn_tf's absl-py>=2.1 excludes; it runs
with 2.x).

    python -m ddnn_tf.export_tflite --depth 20 --qat_epochs 2

The export (``writer.better_int8``) keeps the better of the post-training
(PTQ) and the QAT int8 file by accuracy on the run's validation images, PTQ
on a tie, unless ``--prefer``; the held-out test images then score the kept
file.
"""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ddnn_tf import errors

REQUIRED_MODULES = ("tf_keras", "tensorflow_model_optimization")
INSTALL_HINT = "pip install 'ddnn_tf[qat]' && pip install --no-deps tensorflow-model-optimization==0.8.1"
WORKER = Path(__file__).with_name("qat_worker.py")
PREFERENCES = ("better", "qat", "ptq")
REPLICA_TOLERANCE = 1e-5  # largest replica logit difference, relative to the largest Keras 3 logit
CHECK_IMAGES = 256  # held-out images on which the replica must match the Keras 3 sub-net

# The Keras 3 layers a sub-net may hold, and the config keys that define what
# each computes; the worker builds the tf_keras layer of the same class from
# them. Initializers, regularizers and dtypes are left out: weights are copied
# and the replica runs in float32 (the replica check catches any difference).
LAYER_CONFIG_KEYS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Add": (),
    "MaxPooling2D": ("pool_size", "strides", "padding", "data_format"),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "Dense": ("units", "activation", "use_bias"),
    "ZeroPadShortcut": ("channels", "strides"),
}


class QatError(Exception):
    """Quantization-aware training failed (the worker's own message says why); nothing was written."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Settings of ``--qat-*`` and ``--prefer``.

    ``examples`` training images are taken once (one augmented draw, so the
    teacher's logits can be computed beforehand); each epoch is one pass
    over them in batches of the run's batch size.
    """

    epochs: int
    examples: int = 10_000
    learning_rate: float = 1e-4
    prefer: str = "better"
    without_attention: bool = False  # fine-tune a sub-net of an objective with attention transfer without that term

    def __post_init__(self):
        if self.epochs < 1:
            raise errors.UsageError(f"--qat_epochs must be 1 or more, got {self.epochs}")
        if self.examples < 1:
            raise errors.UsageError(f"--qat_examples must be 1 or more, got {self.examples}")
        if not self.learning_rate > 0:
            raise errors.UsageError(f"--qat_learning_rate must be positive, got {self.learning_rate}")
        if self.prefer not in PREFERENCES:
            raise errors.UsageError(f"unknown --prefer {self.prefer!r}; valid choices: {', '.join(PREFERENCES)}")


def check_installed():
    """Raises a UsageError naming the install command when tf_keras or tfmot is missing."""
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise errors.UsageError(
            f"quantization-aware training needs {' and '.join(missing)}, which is not installed: {INSTALL_HINT}"
        )


def check_request(quantize, bundle):
    """Raises a UsageError unless QAT applies to this export and can run here."""
    if quantize != "int8":
        raise errors.UsageError(f"--qat_epochs trains for int8 files; it does not apply to --quantize {quantize}")
    if bundle:
        raise errors.UsageError("--qat_epochs trains single-depth files; drop --bundle (a bundle shares one set of weights)")
    check_installed()


def describe_subnet(subnet):
    """The functional graph of a Keras 3 sub-net as JSON-ready data the worker rebuilds.

    Returns ``{"name", "input_name", "input_shape", "output", "layers"}``,
    ``layers`` in the sub-net's order, each ``{"name", "class_name", "config",
    "inputs", "merge"}``: ``inputs`` name the layers whose outputs it takes,
    ``merge`` is true when it takes them as one list (Add).
    """
    config = subnet.get_config()
    input_name = _single_layer(config["input_layers"], "input")
    output_name = _single_layer(config["output_layers"], "output")
    layers = []
    for entry in config["layers"]:
        class_name = entry["class_name"]
        if class_name == "InputLayer":
            continue
        if class_name not in LAYER_CONFIG_KEYS:
            raise QatError(
                f"layer {entry['name']!r} is a {class_name}, which the tf_keras replica does not support; "
                f"supported: {', '.join(LAYER_CONFIG_KEYS)}"
            )
        if len(entry["inbound_nodes"]) != 1:
            raise QatError(f"layer {entry['name']!r} is called {len(entry['inbound_nodes'])} times in the sub-net")
        (node,) = entry["inbound_nodes"]
        args = node["args"]
        merge = len(args) == 1 and isinstance(args[0], list)
        layer_config = subnet.get_layer(entry["name"]).get_config()
        if not isinstance(layer_config.get("activation", "linear"), str):
            raise QatError(f"layer {entry['name']!r} has a custom activation the replica cannot rebuild")
        layers.append({
            "name": entry["name"],
            "class_name": class_name,
            "config": {key: _json_ready(layer_config[key]) for key in LAYER_CONFIG_KEYS[class_name]},
            "inputs": [history[0] for history in _keras_histories(args)],
            "merge": merge,
        })
    return {"name": subnet.name, "input_name": input_name, "input_shape": list(subnet.input_shape[1:]),
            "output": output_name, "layers": layers}


def _single_layer(references, what):
    """The layer name of a functional config's only input or output (Keras 3 writes one as a flat triple)."""
    if references and isinstance(references[0], str):
        references = [references]
    if len(references) != 1:
        raise QatError(f"the sub-net has {len(references)} {what}s; the replica needs exactly one")
    return references[0][0]


def _keras_histories(value):
    """The ``keras_history`` of every Keras tensor in a serialized call argument, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"]]
        return [history for item in value.values() for history in _keras_histories(item)]
    if isinstance(value, (list, tuple)):
        return [history for item in value for history in _keras_histories(item)]
    return []


def _json_ready(value):
    return list(value) if isinstance(value, tuple) else value


def write_subnet(folder, subnet, settings):
    """Writes what the worker rebuilds a sub-net from: ``spec.json`` and ``weights.npz``.

    ``weights.npz`` maps ``"<layer name>:<index>"`` to each layer's weights in
    the layer's own order (tf_keras layers keep the same order).
    """
    folder = Path(folder)
    (folder / "spec.json").write_text(json.dumps({**describe_subnet(subnet), "settings": settings}))
    np.savez(folder / "weights.npz", **{f"{layer.name}:{index}": np.asarray(weight)
                                        for layer in subnet.layers for index, weight in enumerate(layer.get_weights())})


def fine_tuning_terms(model, depth, options):
    """The run's own objective for one depth alone (``Objective.single_depth``), or a UsageError saying what it lacks.

    An objective with attention transfer trains a sub-net against the full
    net's stage outputs, which QAT's single-depth replica does not have: it
    refuses, unless ``options.without_attention`` drops that term knowingly.
    """
    objective = model.objective.without_attention() if options.without_attention else model.objective
    try:
        return objective.single_depth(depth, model.full_depth)
    except ValueError as error:
        raise errors.UsageError(
            f"--qat_epochs cannot train depth {depth} with the run's objective: {error}; add "
            "--qat_without_attention to fine-tune it with the objective's cross-entropy and KL terms only, "
            "or export without --qat_epochs"
        ) from None


def training_set(model, train_data, examples):
    """``(uint8 pixels, labels, teacher logits)`` of the first ``examples`` training images, for distillation.

    ``train_data`` yields pixels (``pipeline.load``); ``model`` takes them.
    The teacher is the objective's: the full net, or every depth's mean logits.
    """
    from ddnn_tf.data import pipeline

    images, labels = pipeline.take_examples(train_data, examples)
    if len(images) == 0:
        raise errors.UsageError("the training set is empty; quantization-aware training needs training images")
    images = images.astype(np.uint8)
    teachers = model.depths if model.objective.teacher == "ensemble" else (model.full_depth,)
    teacher = np.mean([model.subnet(depth).predict(images, batch_size=256, verbose=0) for depth in teachers], axis=0)
    return images, labels, np.asarray(teacher, np.float32)


def quantization_aware_int8(model, depth, run, train_images, train_labels, teacher_logits, epochs, check_images,
                            check_logits, calibration_images, terms, learning_rate=1e-4, float_output=False, seed=0):
    """Fine-tunes one depth with fake int8 quantization; returns ``(int8 flatbuffer, report)``.

    The worker rebuilds the depth in tf_keras, fails unless its float logits
    equal ``check_logits``, the Keras 3 sub-net's on ``check_images`` (the
    export has them already), to REPLICA_TOLERANCE,
    quantizes it with tfmot's default 8-bit scheme, trains it for ``epochs``
    on the training images with ``terms`` (``fine_tuning_terms``: the run's
    objective for this depth) against ``teacher_logits`` (the float
    teacher's), and converts it to a batch-1
    int8 file on uint8 pixels (int8 output unless ``float_output``). Images
    are uint8 pixels; the worker normalises them with the run's statistics
    for the replica, which takes normalised images as the Keras sub-net does.

    ``report`` holds the settings used and the worker's findings:
    ``replica_max_relative_difference``, ``activation_ranges`` (how many
    were set from data), ``fake_quant_start_max_relative_difference`` and
    ``fake_quant_start_agreement`` (the QAT model against the Keras 3
    sub-net before fine-tuning), ``epoch_losses`` and ``steps``.
    """
    check_installed()
    subnet = model.backbone.subnet(depth)  # on normalised images: the worker normalises the pixels itself
    settings = {
        "epochs": int(epochs),
        "batch_size": int(run.config["data"]["batch_size"]),
        "learning_rate": float(learning_rate),
        # The run's objective for this depth: label_weight * CE + kd_weight * T^2 * KL(teacher_T || student_T).
        "objective": terms,
        "float_output": bool(float_output),
        "mean": list(model.normalization.mean),
        "std": list(model.normalization.std),
        "seed": int(seed),
        "replica_tolerance": REPLICA_TOLERANCE,
    }
    with tempfile.TemporaryDirectory(prefix="ddnn_qat_") as folder:
        folder = Path(folder)
        write_subnet(folder, subnet, settings)
        np.savez(
            folder / "data.npz",
            train_images=np.asarray(train_images, np.uint8),
            train_labels=np.asarray(train_labels, np.int32),
            teacher_logits=np.asarray(teacher_logits, np.float32),
            check_images=np.asarray(check_images, np.uint8),
            check_logits=np.asarray(check_logits, np.float32),
            calibration_images=np.asarray(calibration_images, np.uint8),
        )
        # Run by path, not ``-m ddnn_tf.export.qat_worker``: importing the package would load Keras 3 beside Keras 2.
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        result = subprocess.run([sys.executable, str(WORKER), str(folder)], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            detail = lines[-1][len("error: "):] if lines else "\n".join(result.stderr.splitlines()[-15:])
            raise QatError(f"depth {depth}: quantization-aware training failed: {detail}")
        report = json.loads((folder / "report.json").read_text())
        flatbuffer = (folder / "model.tflite").read_bytes()
    return flatbuffer, {**settings, **report}
