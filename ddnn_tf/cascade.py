"""Calibrates a confidence cascade over a run's exported depths, on the run's validation images.

    python -m ddnn_tf.cascade --max_drop 0.3              # runs/mnist_resnet34/export, int8 files
    python -m ddnn_tf.cascade --workdir RUN --budget_macs 2e7
    python -m ddnn_tf.cascade --workdir RUN --export_dir RUN/export_web --max_drop 0.5

Every per-depth file of ``--quantize`` in the export folder is run on the
run's validation images through the LiteRT interpreter, so that the
thresholds fit the files that will run, dequantized int8 logits and all.
The exact sweep (``ddnn_tf.runtime.cascade.sweep``) keeps the cascade that
costs the fewest multiply-accumulates on average within ``--max_drop``
points of the deepest file's top-1, or the most accurate one within
``--budget_macs``. It writes ``cascade.json`` (docs/schemas/cascade.schema.json)
into the export folder, which ``ddnn_tf.runtime.Cascade``, ``python -m
ddnn_tf.benchmark --cascade``, the browser page and mobile/core's ``Cascade``
run. The test images decide nothing here; the benchmark scores the cascade
on them.
"""

from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors, files, runtime
from ddnn_tf.export import cascade as calibration
from ddnn_tf.runtime import cascade

_WORKDIR = flags.DEFINE_string("workdir", cli.DEFAULT_WORKDIR, "Run directory (holds run.json).")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "Folder of the exported files (default: <workdir>/export).")
_QUANTIZE = flags.DEFINE_string("quantize", "int8", f"Which files: {', '.join(runtime.QUANTIZE_MODES)}.")
_MAX_DROP = flags.DEFINE_float("max_drop", None, "Target: at most this many top-1 points below the deepest file, "
                               "at the fewest average multiply-accumulates.")
_BUDGET = flags.DEFINE_float("budget_macs", None, "Target: the best top-1 within this average of multiply-"
                             "accumulates per input, escalations counted.")
_RULE = flags.DEFINE_string("rule", "max_probability", f"Exit score: {', '.join(cascade.RULES)}.")
_EXAMPLES = flags.DEFINE_integer("examples", 0, "Validation images to calibrate on (0: all of them).")


def main(argv):
    from ddnn_tf.run import Run

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; see --help")
    errors.check_choice("quantize mode", _QUANTIZE.value, runtime.QUANTIZE_MODES)
    errors.check_choice("rule", _RULE.value, cascade.RULES)
    if _EXAMPLES.value < 0:
        raise errors.UsageError(f"--examples must be 0 (all) or more validation images, got {_EXAMPLES.value}")
    with errors.under("--"):
        target = cascade.Target(_MAX_DROP.value, _BUDGET.value)
    run = Run.open(_WORKDIR.value)
    export_dir = Path(_EXPORT_DIR.value or run.export_dir())
    if export_dir.is_dir():  # else calibrate says what to export
        files.writable_dir(export_dir, "export folder")
    document = calibration.calibrate(run, export_dir, _QUANTIZE.value, target, _RULE.value, _EXAMPLES.value)
    print(calibration.format_document(document))
    files.write_json(export_dir / cascade.FILE_NAME, document)
    print(f"Wrote {export_dir / cascade.FILE_NAME}")


def command():
    """``python -m ddnn_tf.cascade`` and the ``ddnn-cascade`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
