"""Calibrating a confidence cascade over an export folder: its files, checked to be one run's, scored on the
run's validation images, and the sweep's choice as a ``cascade.json`` document.

What ``python -m ddnn_tf.cascade`` and ``bench/cascade.py`` run; the rule, the sweep and the runtime are in
``ddnn_tf.runtime.cascade``.
"""

import sys
from pathlib import Path

import numpy as np

from ddnn_tf import errors, runtime
from ddnn_tf.runtime import cascade


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
