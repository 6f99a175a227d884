"""Every depth exported, validated against Keras on held-out images, and written as one set with its metadata.

A file is kept only after the LiteRT interpreter has run it on held-out
images of the run: float32 must match Keras to ``FLOAT32_TOLERANCE``
relative, a quantized file may lose at most ``max_drop`` accuracy points.
The files and their ``.json`` metadata are written as one set
(``publish``): a kill before the set is whole leaves none of it; a kill
while it is renamed into place can leave some new files beside old ones,
whose checksums the manifest does not hold; the readers refuse a
``.tflite`` beside a ``.json`` that names another checksum
(``ddnn_tf.runtime.read_metadata``).
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import ddnn_tf
from ddnn_tf import errors, files
from ddnn_tf.data import pipeline
from ddnn_tf.export import qat, targets
from ddnn_tf.export.convert import convert_bundle, convert_depth, signature_name
from ddnn_tf.runtime import Runner, validate

FLOAT32_TOLERANCE = 1e-4  # largest logit difference, relative to the largest Keras logit


@dataclasses.dataclass(frozen=True)
class Options:
    """How to export: the quantize mode and the checks every file must pass.

    ``quantize`` is one of ``ddnn_tf.runtime.QUANTIZE_MODES``; ``float_output``
    gives int8 files float32 logits; ``calibration_steps`` training images
    calibrate int8; every file is checked on ``eval_examples`` of the run's
    validation images, on which it may lose at most ``max_drop`` points, and
    scored on as many held-out test images; ``bundle`` also writes
    one file with a signature per depth; ``qat`` (a ``qat.Options``) also
    trains each int8 depth quantization-aware and keeps the file more
    accurate on ``eval_examples`` of the run's validation images; ``target``
    names a ``targets.Target``, which may ask for float32 logits and test
    images beside the files.
    """

    quantize: str = "int8"
    float_output: bool = False
    calibration_steps: int = 200
    eval_examples: int = 1000
    max_drop: float = 1.0
    bundle: bool = False
    qat: "qat.Options | None" = None
    target: str = "device"


def weights_sha256(model):
    """The sha256 of every weight of ``model``, in order: files exported from one model share it."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def metadata(model, depth, run, quantize, flatbuffer, validation, runner, float_output, weights):
    """The ``<name>.json`` written beside each file; ``run`` is the training ``Run``, ``weights`` the model's
    ``weights_sha256``."""
    return {
        "arch": model.arch,
        "depth": depth,
        **model.backbone.describe(depth),  # family, blocks_per_stage
        "input_shape": [1, *model.image_shape],
        "label_names": list(run.data["label_names"]),
        "data": run.config["data"],
        "seed": run.seed,  # the held-out split depends on it
        "run_config_sha256": run.config_sha256,  # a cascade's files must come from one run
        "weights_sha256": weights,
        "quantize": quantize,
        "float_output": float_output,
        **runner.quantization(),
        "multiply_accumulates": int(model.multiply_accumulates(depth)),
        "parameters": model.parameter_count(depth),
        "file_bytes": len(flatbuffer),
        "sha256": hashlib.sha256(flatbuffer).hexdigest(),
        **{key: value for key, value in validation.items() if key != "logits"},
        "ddnn_tf": ddnn_tf.__version__,
        "tensorflow": tf.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class ValidationError(Exception):
    """A converted file failed its check against Keras; nothing was written."""


def _check(validation, quantize, max_drop, what):
    if quantize == "float32":
        if validation["max_relative_difference"] > FLOAT32_TOLERANCE:
            raise ValidationError(
                f"{what}: float32 logits differ from Keras by {validation['max_relative_difference']:.2e} "
                f"relative (tolerance {FLOAT32_TOLERANCE})"
            )
        return
    drop = 100 * (validation["keras_accuracy"] - validation["tflite_accuracy"])
    if drop > max_drop:
        raise ValidationError(
            f"{what}: {quantize} accuracy {100 * validation['tflite_accuracy']:.2f}% is {drop:.2f} points below "
            f"Keras ({100 * validation['keras_accuracy']:.2f}%), more than --max_drop {max_drop}"
        )


def _gate_fields(gate):
    """What a file's .json records of the check that kept it, on the run's validation images."""
    return {"images": "validation", "examples": gate["examples"], "keras_accuracy": gate["keras_accuracy"],
            "tflite_accuracy": gate["tflite_accuracy"], "max_relative_difference": gate["max_relative_difference"]}


def choose(prefer, ptq_accuracy, qat_accuracy):
    """``"qat"`` or ``"ptq"``: the file ``prefer`` names, or for "better" the more accurate (PTQ on a tie:
    no retraining, closest to the trained model)."""
    if prefer != "better":
        return prefer
    return "qat" if qat_accuracy > ptq_accuracy else "ptq"


def better_int8(model, depth, run, options, training, calibration_images, choice, test, ptq, float_output=False):
    """Trains the QAT file of one depth (``qat``), and keeps it or the PTQ file by accuracy on validation images.

    The choice is made on the run's validation images, never on the test
    images that score the kept file: a file chosen for its test accuracy
    would report a test accuracy biased upward.

    Args:
        options: a ``qat.Options``.
        training: ``qat.training_set(...)``.
        calibration_images: uint8 pixels that calibrate int8.
        choice: ``(images, labels, keras_logits)`` of the run's validation
            images: uint8 pixels, their labels and the Keras 3 sub-net's
            logits on them. They choose the file and check the QAT replica.
        test: the same of the held-out test images, which score both files.
        ptq: ``(flatbuffer, runner, validation)`` of the post-training int8
            file, ``validation`` on ``test``.
        float_output: float32 output, as the PTQ file was converted.

    Returns:
        ``(flatbuffer, runner, validation, fields)`` of the kept file,
        ``validation`` on ``test``; ``fields`` go into its metadata: both
        files' test accuracies, which was kept, and the QAT report with the
        validation accuracies the choice was made on.
    """
    train_images, train_labels, teacher_logits = training
    choice_images, choice_labels, choice_logits = choice
    test_images, test_labels, test_logits = test
    flatbuffer, report = qat.quantization_aware_int8(
        model, depth, run, train_images, train_labels, teacher_logits, options.epochs,
        check_images=choice_images[:qat.CHECK_IMAGES], check_logits=choice_logits[:qat.CHECK_IMAGES],
        calibration_images=calibration_images, terms=qat.fine_tuning_terms(model, depth, options),
        learning_rate=options.learning_rate, float_output=float_output,
    )
    runner = Runner(flatbuffer)
    ptq_choice, qat_choice = (validate(candidate, choice_logits, choice_labels, choice_images)["tflite_accuracy"]
                              for candidate in (ptq[1], runner))
    kept = choose(options.prefer, ptq_choice, qat_choice)
    validation = validate(runner, test_logits, test_labels, test_images)
    fields = {
        "int8_method": kept,
        "ptq_int8_accuracy": ptq[2]["tflite_accuracy"],
        "qat_int8_accuracy": validation["tflite_accuracy"],
        "qat": {
            **report, "examples": int(len(train_images)), "agreement": validation["agreement"],
            "chosen_on": {"images": "validation", "examples": int(len(choice_labels)),
                          "ptq_int8_accuracy": ptq_choice, "qat_int8_accuracy": qat_choice},
        },
    }
    kept_file = (flatbuffer, runner, validation) if kept == "qat" else ptq
    return (*kept_file, fields)


def export_depths(run, model, depths, out, options=Options()):
    """Converts, validates and writes each depth of ``model`` (and the bundle) into ``out``; returns the metadata rows.

    ``run`` is the model's ``ddnn_tf.run.Run``: its held-out test images
    validate the files and its training images calibrate int8. ``options``
    is an ``Options``; with ``options.qat`` each int8 depth is also trained
    quantization-aware and the int8 file more accurate on the run's
    validation images is kept (``better_int8``, ``ddnn_tf.export.qat``).
    """
    target = targets.get(options.target)
    quantize, max_drop = options.quantize, options.max_drop
    float_output = options.float_output or target.float_output
    qat_options = options.qat
    if qat_options:
        qat.check_request(quantize, options.bundle)
        for depth in depths:  # before any file is converted
            qat.fine_tuning_terms(model, depth, qat_options)
    if model.normalization is None:
        raise errors.UsageError(
            "the model takes normalised images, not pixels: export a DDNN that holds its pixel statistics "
            "(build_ddnn(..., pixel_mean=..., pixel_std=...), as python -m ddnn_tf.train builds it)"
        )
    train_data, eval_data, _ = run.datasets()
    calibration = pipeline.take_examples(train_data, options.calibration_steps)[0].astype(np.uint8)
    if quantize == "int8" and len(calibration) == 0:
        raise errors.UsageError("the calibration set is empty; set --calibration_steps to 1 or more")
    images, labels = pipeline.take_examples(eval_data, options.eval_examples)
    images = images.astype(np.uint8)
    if len(images) == 0:
        raise errors.UsageError("the held-out evaluation set is empty; set --eval_examples to 1 or more")

    prefix = f"{model.arch}_"

    def logits_on(pixels):
        return {depth: np.asarray(model.subnet(depth).predict(pixels, batch_size=256, verbose=0)) for depth in depths}

    keras_logits = logits_on(images)
    # Keeping or refusing a file is a decision: it is made on the run's validation images (as QAT's
    # choice is); the test images only score the kept file.
    _, validation_data, _ = run.datasets(role="validation")
    gate_images, gate_labels = pipeline.take_examples(validation_data, options.eval_examples)
    gate_images = gate_images.astype(np.uint8)
    if len(gate_images) == 0:
        raise errors.UsageError("the run's validation set is empty, and every file is checked on it before it is "
                                "kept; train with data.validation_examples of 1 or more")
    gate_logits = logits_on(gate_images)
    training = None
    if qat_options:
        training = qat.training_set(model, train_data, qat_options.examples)
    converted = {}
    for depth in depths:
        flatbuffer = convert_depth(model, depth, quantize, calibration, float_output)
        runner = Runner(flatbuffer)
        validation = validate(runner, keras_logits[depth], labels, images)
        qat_fields = {}
        if qat_options:
            flatbuffer, runner, validation, qat_fields = better_int8(
                model, depth, run, qat_options, training, calibration, (gate_images, gate_labels, gate_logits[depth]),
                (images, labels, keras_logits[depth]), (flatbuffer, runner, validation), float_output,
            )
        gate = validate(runner, gate_logits[depth], gate_labels, gate_images)
        _check(gate, quantize, max_drop, f"depth {depth}")
        converted[depth] = (flatbuffer, runner, validation, {**qat_fields, "gate": _gate_fields(gate)})
        print(f"depth {depth}: {quantize} converted and validated, top-1 {100 * validation['tflite_accuracy']:.2f}% "
              f"(Keras {100 * validation['keras_accuracy']:.2f}%)", flush=True)

    weights = weights_sha256(model)
    rows = []
    outputs = {}  # published together once every file passed: a failed check writes none of them
    for depth, (flatbuffer, runner, validation, qat_fields) in converted.items():
        name = f"{prefix}depth{depth}_{quantize}"
        meta = {**metadata(model, depth, run, quantize, flatbuffer, validation, runner, float_output, weights), **qat_fields}
        outputs[f"{name}.tflite"], outputs[f"{name}.json"] = flatbuffer, meta
        rows.append({"file": f"{name}.tflite", **meta})

    if options.bundle:
        flatbuffer = convert_bundle(model, depths, quantize, calibration, float_output)
        signatures = {}
        for depth in depths:
            runner = Runner(flatbuffer, signature_name(depth))
            validation = validate(runner, keras_logits[depth], labels, images)
            gate = validate(runner, gate_logits[depth], gate_labels, gate_images)
            _check(gate, quantize, max_drop, f"bundle signature {signature_name(depth)}")
            signatures[signature_name(depth)] = {
                **metadata(model, depth, run, quantize, flatbuffer, validation, runner, float_output, weights),
                "gate": _gate_fields(gate),
                "single_file_max_difference": float(np.max(np.abs(validation["logits"] - converted[depth][2]["logits"]))),
            }
        name = f"{prefix}bundle_{quantize}"
        separate = sum(len(converted[depth][0]) for depth in depths)
        meta = {
            "signatures": signatures,
            "file_bytes": len(flatbuffer),
            "separate_files_bytes": separate,
            "sha256": signatures[signature_name(depths[0])]["sha256"],
            "bn": model.bn,
        }
        outputs[f"{name}.tflite"], outputs[f"{name}.json"] = flatbuffer, meta
        rows.append({"file": f"{name}.tflite", "depth": "+".join(map(str, depths)), "quantize": quantize,
                     "file_bytes": len(flatbuffer), "separate_files_bytes": separate})
    if target.test_images:  # the images every file was validated on, first ones first
        count = min(target.test_images, len(labels))
        outputs.update(targets.test_image_files(images[:count], labels[:count], run.data["label_names"],
                                                run.config["data"]["name"], run.config["data"]["eval_split"]))
    publish(out, outputs)
    return rows


MANIFEST = "export_manifest.json"


def publish(out, outputs):
    """Writes one export's files into ``out`` as a set, then updates ``export_manifest.json``.

    Every file is written whole into a staging folder inside ``out`` first and
    only then renamed into place, so a kill while writing leaves none of the
    set. The renames are one file at a time (POSIX renames no set of files
    at once), so a kill between two of them leaves part of the new set
    beside the rest of the old one: the manifest, written last, then still
    holds the old set's checksums, which the renamed files do not match, and
    every reader refuses a ``.tflite`` beside a ``.json`` that names another
    checksum (``runtime.read_metadata``). A set is complete when the manifest
    lists it with its checksums.
    It lists what the folder holds: this set, and the entries of earlier
    exports whose files are still there unchanged (an export of depth 18
    into a folder that holds depth 34 keeps depth 34's entries).
    ``outputs`` maps names to bytes (a .tflite) or to JSON-able metadata.
    """
    out = Path(out)
    encoded = {name: content if isinstance(content, bytes) else files.json_bytes(content)
               for name, content in outputs.items()}
    staging = Path(tempfile.mkdtemp(prefix=".export_staging_", dir=out))
    try:
        for name, content in encoded.items():
            (staging / name).write_bytes(content)
        for name in encoded:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    listed = {**_still_there(out), **{name: hashlib.sha256(content).hexdigest() for name, content in encoded.items()}}
    files.write_json(out / MANIFEST, {
        "files": dict(sorted(listed.items())),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


def _still_there(out):
    """The earlier manifest's entries whose files are in ``out`` with the listed checksum."""
    try:
        listed = json.loads((out / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or unreadable: list this set alone
        return {}
    return {name: digest for name, digest in listed.items()
            if (out / name).is_file() and hashlib.sha256((out / name).read_bytes()).hexdigest() == digest}


def format_rows(rows):
    lines = [f"{'file':<40} {'bytes':>10} {'keras':>8} {'tflite':>8} {'agree':>8}"]
    for row in rows:
        if "keras_accuracy" in row:
            lines.append(
                f"{row['file']:<40} {row['file_bytes']:>10,} {100 * row['keras_accuracy']:>7.2f}% "
                f"{100 * row['tflite_accuracy']:>7.2f}% {100 * row['agreement']:>7.2f}%"
            )
        else:
            lines.append(f"{row['file']:<40} {row['file_bytes']:>10,}  (separate files: {row['separate_files_bytes']:,} bytes)")
    return "\n".join(lines)
