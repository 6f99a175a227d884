"""Per-depth accuracy, size, cost and speed of trained runs."""

import statistics
import sys
import time

import numpy as np
import tensorflow as tf

from ddnn_tf import files
from ddnn_tf.run import Run
from ddnn_tf.models.calibration import recalibrated_subnet
from ddnn_tf.plots import save_line_plot


def _keras_latency_ms(subnet, image_shape, runs):
    call = tf.function(lambda x: subnet(x, training=False))
    image = tf.zeros((1, *image_shape), subnet.inputs[0].dtype)
    for _ in range(3):
        call(image)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call(image).numpy()
        timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)


def _accuracies(model, dataset, top5, depths=None):
    """Top-1 and top-5 accuracy of every depth (or of ``depths``) of ``model`` in one pass."""
    depths = depths or model.depths

    @tf.function(reduce_retracing=True)
    def logits_of_depths(images):
        return {depth: logits for depth, (logits, _) in model.run_depths(images, depths, training=False).items()}

    counts = {depth: np.zeros(2) for depth in depths}
    total = 0
    for images, labels in dataset:
        outputs = logits_of_depths(images)
        labels = labels.numpy()
        total += len(labels)
        for depth, logits in outputs.items():
            ranked = np.argsort(-logits.numpy(), axis=-1)
            counts[depth][0] += np.sum(ranked[:, 0] == labels)
            if top5:
                counts[depth][1] += np.sum(np.any(ranked[:, :5] == labels[:, None], axis=-1))
    return {depth: count / total for depth, count in counts.items()}


def _top1(network, dataset):
    """Top-1 accuracy of a plain Keras model of one depth."""
    call = tf.function(lambda images: network(images, training=False), reduce_retracing=True)
    correct = total = 0
    for images, labels in dataset:
        correct += int(np.sum(np.argmax(call(images).numpy(), -1) == labels.numpy()))
        total += len(labels)
    return correct / total


def evaluate_run(workdir, latency=True, latency_runs=30, recalibration_batches=None, role="eval", progress=None):
    """One result row per depth of the run in ``workdir``.

    ``recalibration_batches`` (default: the run config's) > 0 also scores each
    depth after re-estimating its BN statistics on that many training batches.
    ``role`` "validation" scores the validation data that chose the run's
    checkpoints instead of the eval split (``pipeline.load``). ``progress``,
    if given, is called with a line after each step (the CLI prints them
    when its output is not a terminal).
    """
    progress = progress or (lambda line: None)
    started = time.perf_counter()

    def done(what):
        progress(f"  {what}, {time.perf_counter() - started:.0f} s")

    run = Run(workdir)
    models = run.models()
    train_data, eval_data, info = run.datasets(role)
    top5 = info.num_classes >= 100
    if recalibration_batches is None:
        recalibration_batches = run.config.get("bn_recalibration_batches", 0)
    rows = []
    cache = {}
    for depth, (model, model_depth) in models.items():
        if id(model) not in cache:
            cache[id(model)] = _accuracies(model, eval_data, top5)
            done(f"scored depth{'s' if len(model.depths) > 1 else ''} {', '.join(map(str, model.depths))}")
        top1, top5_accuracy = cache[id(model)][model_depth]
        recalibrated = None
        if recalibration_batches:  # on a copy of the depth: the run's model stays as trained
            subnet = recalibrated_subnet(model, train_data, model_depth, recalibration_batches)
            recalibrated = _top1(subnet, eval_data)
            done(f"depth {depth} scored again after re-estimating BN on {recalibration_batches} batches")
        row = {
            "run": str(workdir),
            "mode": run.config["mode"],
            "depth": depth,
            "top1": round(float(top1), 5),
            "parameters": model.parameter_count(model_depth),
            "macs": int(model.multiply_accumulates(model_depth)),
        }
        if top5:
            row["top5"] = round(float(top5_accuracy), 5)
        if recalibrated is not None:
            row["top1_recalibrated_bn"] = round(float(recalibrated), 5)
        if latency:
            row["keras_ms_per_image"] = round(
                _keras_latency_ms(model.subnet(model_depth), info.image_shape, latency_runs), 3
            )
        rows.append(row)
    return rows


def format_table(rows):
    names = ("run", "mode", "depth", "top1", "top5", "top1_recalibrated_bn", "parameters", "macs", "keras_ms_per_image")
    columns = [c for c in names if any(c in r for r in rows)]
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in cells]
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, float) and value <= 1:
        return f"{100 * value:.2f}%"
    if isinstance(value, int) and value >= 10_000:
        return f"{value / 1e6:.2f}M"
    return str(value)


def plot(rows, path):
    """Accuracy against multiply-accumulates, one line per run."""
    series = {}
    for row in rows:
        series.setdefault(f"{row['run']} ({row['mode']})", []).append(
            (row["macs"] / 1e6, 100 * row["top1"], row["depth"])
        )
    save_line_plot(series, "multiply-accumulates per image (millions)", "top-1 accuracy (%)", path)


def report(workdirs, out=None, latency=True, latency_runs=30):
    """Evaluates runs, prints the table and writes results.json and the plot."""
    for workdir in workdirs:  # before anything is created: a mistyped --workdir must not appear on disk
        Run.open(workdir)
    out = files.writable_dir(out or workdirs[0])
    rows = []
    for workdir in workdirs:
        print(f"Evaluating {workdir} ...", flush=True)
        progress = None if sys.stdout.isatty() else (lambda line: print(line, flush=True))
        rows += evaluate_run(workdir, latency, latency_runs, progress=progress)
    print(format_table(rows))
    results = Run(out).results_file
    files.write_json(results, {"rows": rows})
    plot(rows, out / "accuracy_vs_macs.png")
    print(f"Wrote {results} and {out / 'accuracy_vs_macs.png'}")
    return rows

