"""Exports depths of a trained DDNN to TFLite, each validated before it is kept.

    python -m ddnn_tf.export_tflite --depth 18            # int8, from runs/mnist_resnet34 (make demo's run)
    python -m ddnn_tf.export_tflite --depth all --quantize float32 --out exports/
    python -m ddnn_tf.export_tflite --depth 18,34 --bundle
    python -m ddnn_tf.export_tflite --depth 18 --qat_epochs 2   # int8 by PTQ and by QAT; keeps the better
    python -m ddnn_tf.export_tflite --depth all --target web     # for the browser benchmark (LiteRT.js)

Each file ``<arch>_depth<N>_<quantize>.tflite`` is the standalone sub-net of
that depth on uint8 pixels (it normalises them inside), with ``<name>.json``
beside it (shapes, labels, quantization, cost, sha256, Keras and TFLite
accuracy). A file is written only
after the LiteRT interpreter has run it on the run's validation images:
float32 must match Keras to 1e-4 relative, a quantized file may lose at most
``--max_drop`` accuracy points (its .json's ``gate``); the accuracies it
reports are on the held-out test images, which decide nothing. ``--bundle`` also writes one file with a ``depth_N``
signature per depth. ``--qat_epochs N`` (needs ``pip install ddnn_tf[qat]``,
see ``ddnn_tf.export.qat``) also fine-tunes each depth with quantization-aware
training, by the run's own objective for that depth (its cross-entropy and KL
terms against the float teacher; a sub-net of a run with attention transfer
is refused unless ``--qat_without_attention``), and keeps the int8 file more
accurate on the run's validation images; its .json records both files'
accuracies on the validation images (``qat.chosen_on``) and on the test
images. ``--target`` names where the files go and what comes with them
(``ddnn_tf.export.targets``): ``web`` writes files LiteRT.js accepts (uint8
pixels in, float32 logits out, batch 1: LiteRT.js refuses int8 tensors at a
file's boundary) and the test images the page scores them on into
``<workdir>/export_web``, for ``python -m ddnn_tf.serve_benchmark``.
"""

from absl import flags

from ddnn_tf import cli, errors, files
from ddnn_tf.export import qat, targets
from ddnn_tf.run import Run
from ddnn_tf.runtime import QUANTIZE_MODES

_WORKDIR = flags.DEFINE_string("workdir", cli.DEFAULT_WORKDIR, "Run directory (holds run.json).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Model file (default: <workdir>/model.keras).")
_DEPTH = flags.DEFINE_string("depth", "all", "A depth, a comma list of depths, or 'all'.")
_QUANTIZE = flags.DEFINE_string("quantize", "int8", f"Quantization: {', '.join(QUANTIZE_MODES)}.")
_FLOAT_OUTPUT = flags.DEFINE_bool(
    "float_output", False, "Float32 logits out of int8 files (every file takes uint8 pixels in)."
)
_TARGET = flags.DEFINE_enum("target", "device", tuple(targets.TARGETS), "; ".join(
    f"{t.name}: {t.description}, into <workdir>/{t.folder} by default" for t in targets.TARGETS.values()) + ".")
_CALIBRATION = flags.DEFINE_integer("calibration_steps", 200, "Training images that calibrate int8.")
_EVAL = flags.DEFINE_integer("eval_examples", 1000,
                             "Validation images that check each file, and test images that score it.")
_MAX_DROP = flags.DEFINE_float("max_drop", 1.0, "Largest accuracy drop (points) a quantized file may have.")
_BUNDLE = flags.DEFINE_bool("bundle", False, "Also write one file with a signature per depth.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default: <workdir>/export).")
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 0, "Also train each int8 depth quantization-aware for this many "
                                   "epochs and keep the better int8 file (0: post-training int8 only).")
_QAT_EXAMPLES = flags.DEFINE_integer("qat_examples", 10_000, "Training images quantization-aware training uses.")
_QAT_LEARNING_RATE = flags.DEFINE_float("qat_learning_rate", 1e-4, "Adam learning rate of quantization-aware training.")
_QAT_WITHOUT_ATTENTION = flags.DEFINE_bool(
    "qat_without_attention", False, "With --qat_epochs, fine-tune a sub-net of a run trained with attention transfer "
    "(ekd.at_weight > 0) by its cross-entropy and KL terms only: one depth alone has no teacher stage outputs.")
_PREFER = flags.DEFINE_enum("prefer", "better", qat.PREFERENCES, "With --qat_epochs, the int8 file to keep: the more "
                            "accurate one (post-training on a tie), 'qat' or 'ptq'.")


def parse_depths(text, model):
    """``"all"`` or ``"20,56"`` to depth names of ``model``, or a UsageError naming the valid ones."""
    valid = ", ".join(map(str, model.depths))
    if text.strip() == "all":
        return list(model.depths)
    depths = []
    for part in text.split(","):
        name = int(part) if part.strip().lstrip("-").isdigit() else part.strip()
        if name not in model.depths:
            raise errors.UsageError(f"depth {part.strip()!r} is not in {model.arch} checkpoint; valid choices: {valid}, all")
        # Each depth is one file and one bundle signature: a repeat would convert twice and name a signature twice.
        if name in depths:
            raise errors.UsageError(f"depth {name} is listed twice in --depth {text}; list each depth once "
                                    f"(valid choices: {valid}, all)")
        depths.append(name)
    return depths


def main(argv):
    from ddnn_tf.export import writer  # here, so that --help does not import TensorFlow

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; see --helpfull")
    if _QUANTIZE.value not in QUANTIZE_MODES:
        raise errors.UsageError(
            f"unknown quantize mode {_QUANTIZE.value!r}; valid choices: {', '.join(QUANTIZE_MODES)}"
        )
    qat_options = None
    if _QAT_EPOCHS.value:
        qat_options = qat.Options(_QAT_EPOCHS.value, _QAT_EXAMPLES.value, _QAT_LEARNING_RATE.value, _PREFER.value,
                                  _QAT_WITHOUT_ATTENTION.value)
    elif _PREFER.value != "better" or _QAT_WITHOUT_ATTENTION.value:
        flag = "--prefer" if _PREFER.value != "better" else "--qat_without_attention"
        raise errors.UsageError(f"{flag} applies to quantization-aware int8 only; add --qat_epochs")
    if _CALIBRATION.value < 1 and _QUANTIZE.value == "int8":
        raise errors.UsageError(f"--calibration_steps must be at least 1 for int8, got {_CALIBRATION.value}")
    if _EVAL.value < 1:
        raise errors.UsageError(f"--eval_examples must be at least 1: every file is validated, got {_EVAL.value}")
    if _MAX_DROP.value < 0:
        raise errors.UsageError(f"--max_drop must be 0 or more accuracy points, got {_MAX_DROP.value}")
    run = Run.open(_WORKDIR.value)
    model = run.model(_CHECKPOINT.value)
    depths = parse_depths(_DEPTH.value, model)
    out = files.writable_dir(_OUT.value or run.export_dir(_TARGET.value))
    options = writer.Options(_QUANTIZE.value, _FLOAT_OUTPUT.value, _CALIBRATION.value, _EVAL.value,
                             _MAX_DROP.value, _BUNDLE.value, qat_options, _TARGET.value)
    try:
        rows = writer.export_depths(run, model, depths, out, options)
    except writer.ValidationError as error:
        raise errors.CommandFailed(f"validation failed, no file written: {error}") from None
    except qat.QatError as error:
        raise errors.CommandFailed(f"{error}; no file written") from None
    print(writer.format_rows(rows))
    for row in rows:
        if "int8_method" in row:
            chosen_on = row["qat"]["chosen_on"]
            print(f"depth {row['depth']}: on {chosen_on['examples']} validation images post-training int8 "
                  f"{100 * chosen_on['ptq_int8_accuracy']:.2f}%, quantization-aware int8 "
                  f"{100 * chosen_on['qat_int8_accuracy']:.2f}%; kept {row['int8_method']} "
                  f"(test top-1 {100 * row['tflite_accuracy']:.2f}%)")
    print(f"Wrote {len(rows)} file(s) with their .json metadata to {out}")


def command():
    """``python -m ddnn_tf.export_tflite`` and the ``ddnn-export`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
