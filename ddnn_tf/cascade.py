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

import sys
from pathlib import Path

import numpy as np
from absl import flags

from ddnn_tf import cli, errors, files, runtime
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


def exported_files(export_dir, quantize):
    """``[(name, metadata)]`` of the per-depth files of ``quantize`` in ``export_dir``, cheapest first."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise errors.UsageError(f"export folder {export_dir} does not exist; export the depths first, "
                                "python -m ddnn_tf.export_tflite --depth all")
    found = []
    for path in sorted(export_dir.glob(f"*_depth*_{quantize}.tflite")):
        meta = runtime.read_metadata(path, path.read_bytes())
        if meta is None or "depth" not in meta:
            raise errors.UsageError(f"{path} has no .json metadata beside it; export it again with "
                                    "python -m ddnn_tf.export_tflite")
        found.append((path.name, meta))
    if len(found) < 2:
        held = ", ".join(name for name, _ in found) or "none"
        raise errors.UsageError(
            f"{export_dir} holds {len(found)} {quantize} depth file(s) ({held}); a cascade needs two or more: "
            "python -m ddnn_tf.export_tflite --depth all")
    return sorted(found, key=lambda item: item[1]["multiply_accumulates"])


def check_one_run(run, found, export_dir):
    """Raises a UsageError unless every file was exported from ``run``'s config (and one model, unless the run
    trained each depth on its own)."""
    digests = {name: meta.get("run_config_sha256") for name, meta in found}
    if None in digests.values():
        old = next(name for name, digest in digests.items() if digest is None)
        raise errors.UsageError(f"{export_dir / old} does not say which run it came from (exported by an older "
                                "ddnn_tf); export the depths again with python -m ddnn_tf.export_tflite")
    (first, first_digest), *rest = digests.items()
    for name, digest in rest:
        if digest != first_digest:
            raise errors.UsageError(f"{first} and {name} in {export_dir} come from different runs; a cascade's "
                                    "files must be one run's depths: export them together into one folder")
    if first_digest != run.config_sha256:
        raise errors.UsageError(f"the files in {export_dir} were exported from another run than {run.workdir}; "
                                "pass that run's --workdir, or export this run's depths")
    if run.config["mode"] != "independent" and len({meta["weights_sha256"] for _, meta in found}) > 1:
        raise errors.UsageError(f"the files in {export_dir} come from different checkpoints of {run.workdir}; "
                                "export every depth from one checkpoint")


def score_files(export_dir, found, images, labels, rule):
    """``(exit scores, correct)``, each ``(files, images)``, of every file's dequantized logits on ``images``."""
    scores, correct = [], []
    for name, _ in found:
        runner = runtime.Runner((Path(export_dir) / name).read_bytes())
        logits = np.stack([runner(image) for image in images])
        scores.append(cascade.exit_scores(logits, rule))
        correct.append(logits.argmax(-1) == labels)
    return np.stack(scores), np.stack(correct)


def calibrate(run, export_dir, quantize, target, rule="max_probability", examples=0):
    """The ``cascade.json`` document for ``run``'s files in ``export_dir``, chosen on the run's validation images."""
    errors.check_choice("rule", rule, cascade.RULES)
    found = exported_files(export_dir, quantize)
    check_one_run(run, found, Path(export_dir))
    from ddnn_tf.data import pipeline  # after the checks: TensorFlow takes seconds to import

    _, validation, _ = run.datasets(role="validation")
    images, labels = pipeline.take_examples(validation, examples or sys.maxsize)
    if len(labels) == 0:
        raise errors.UsageError(f"{run.workdir} has no validation images to calibrate on; train with "
                                "data.validation_examples of 1 or more")
    scores, correct = score_files(export_dir, found, images.astype(np.uint8), labels, rule)
    macs = [meta["multiply_accumulates"] for _, meta in found]
    choice = cascade.sweep(scores, correct, macs, target)
    reference = {"depth": found[-1][1]["depth"], "top1": float(correct[-1].mean()), "multiply_accumulates": macs[-1]}
    return cascade.describe(choice, found, rule, target, reference)


def format_document(document):
    """The table a calibration prints: each stage's threshold and exits, then the totals against the deepest."""
    measured, deepest = document["measured"], document["measured"]["deepest"]
    lines = [f"{'stage':>5} {'depth':>6} {'threshold':>10} {'answers':>8}"]
    for index, (stage, fraction) in enumerate(zip(document["stages"], measured["exit_fractions"]), 1):
        threshold = "-" if stage["threshold"] is None else f"{stage['threshold']:.4f}"
        lines.append(f"{index:>5} {stage['depth']!s:>6} {threshold:>10} {100 * fraction:>7.1f}%")
    lines.append(
        f"On {measured['examples']:,} {measured['images']} images ({document['rule']}): top-1 "
        f"{100 * measured['top1']:.2f}% against depth {deepest['depth']}'s {100 * deepest['top1']:.2f}%, at "
        f"{measured['multiply_accumulates'] / deepest['multiply_accumulates']:.2f}x its multiply-accumulates "
        f"({measured['multiply_accumulates']:,.0f} per input on average)")
    return "\n".join(lines)


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
    document = calibrate(run, export_dir, _QUANTIZE.value, target, _RULE.value, _EXAMPLES.value)
    print(format_document(document))
    files.write_json(export_dir / cascade.FILE_NAME, document)
    print(f"Wrote {export_dir / cascade.FILE_NAME}")


def command():
    """``python -m ddnn_tf.cascade`` and the ``ddnn-cascade`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
