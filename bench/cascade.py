"""A confidence cascade over a trained run's int8 files against each depth alone, scored on the test images.

    python -m ddnn_tf.export_tflite --workdir RUN --depth all
    python bench/cascade.py --workdir RUN [--max_drop 0.3] [--out bench/results/cascade_cifar10.json]
        [--plot docs/cascade_cifar10.png]

Every threshold comes from the run's validation images alone
(``ddnn_tf.export.cascade.calibrate``'s exact sweep over the files' dequantized
int8 logits): the cascade for ``--max_drop`` under each exit rule, and one
cascade per budget of a grid from the cheapest file's multiply-accumulates
to the deepest's, which draw the curve. Each is then scored once on every
test image: top-1 and the average multiply-accumulates, every file an
escalated image ran counted. The ``--max_drop`` cascade (max_probability)
is written to the export folder as ``cascade.json`` and timed per test
image from pixels to answer (``ddnn_tf.runtime.Cascade``, one thread),
alternating image by image with the deepest file alone through the same
runner, so that a busy machine slows both alike.
"""

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ddnn_tf.export import cascade as calibration  # noqa: E402
from ddnn_tf import files, runtime  # noqa: E402
from ddnn_tf.data import pipeline  # noqa: E402
from ddnn_tf.run import Run  # noqa: E402
from ddnn_tf.runtime import cascade  # noqa: E402

GRID = 40  # budgets on the curve


def _pixels(data):
    images, labels = pipeline.take_examples(data, sys.maxsize)
    return images.astype(np.uint8), labels


def _logits(export_dir, found, images):
    logits = []
    for name, _ in found:
        runner = runtime.Runner((export_dir / name).read_bytes(), threads=1)
        logits.append(np.stack([runner(image) for image in images]))
    return logits


def _scored(logits, labels, rule):
    return (np.stack([cascade.exit_scores(x, rule) for x in logits]),
            np.stack([x.argmax(-1) == labels for x in logits]))


def _on_test(choice, scores, correct, macs):
    """Top-1, average multiply-accumulates and exit fractions of a validation ``choice`` on the test scores."""
    stages = list(choice.stages)
    stop = cascade.route(scores[stages], choice.thresholds)
    images = np.arange(scores.shape[1])
    return {"top1": float(correct[stages][stop, images].mean()),
            "multiply_accumulates": float(np.cumsum(np.asarray(macs)[stages])[stop].mean()),
            "exit_fractions": [float(np.mean(stop == s)) for s in range(len(stages))]}


def _summary(choice, found, test):
    return {"depths": [found[i][1]["depth"] for i in choice.stages], "thresholds": list(choice.thresholds),
            "validation": {"top1": choice.accuracy, "multiply_accumulates": choice.mean_macs,
                           "exit_fractions": [count / choice.images for count in choice.exits]},
            "test": test}


def oracle_floor(correct, macs, max_drop, max_stages=cascade.MAX_STAGES):
    """The fewest average multiply-accumulates any exit rule could reach within ``max_drop`` points of the
    deepest file: an oracle that stops each image at the first file that is right (at the first file when none
    is), and answers wrong at the first file where that saves the most, while the drop allows.

    ``(mean multiply-accumulates, depths indices)`` over every ordered choice of up to ``max_stages`` files.
    """
    files_count, images = correct.shape
    needed = int(np.ceil(correct[-1].sum() - max_drop / 100 * images - 1e-9))
    best = None
    for size in range(1, min(max_stages, files_count) + 1):
        for subset in itertools.combinations(range(files_count), size):
            right = correct[list(subset)]
            spent = np.cumsum(np.asarray(macs, np.float64)[list(subset)])
            reachable = right.any(axis=0)
            first_right = np.where(reachable, right.argmax(axis=0), 0)
            cost = spent[first_right]
            if reachable.sum() < needed:
                continue
            savings = np.sort((cost - spent[0])[reachable])[::-1]
            given_up = int(reachable.sum() - needed)  # images it may answer wrong at the first file
            total = cost.sum() - savings[:given_up].sum()
            if best is None or total < best[0]:
                best = (total, subset)
    return best[0] / images, best[1]


def _latency(cascade_file, deepest_file, images):
    """Per-image milliseconds of the cascade and of the deepest file alone, timed in alternation."""
    runner = cascade.Cascade(cascade_file, threads=1)
    deepest = runtime.Runner(deepest_file.read_bytes(), threads=1)
    for image in images[:50]:  # warm both
        runner(image), deepest(image)
    cascade_ms, deepest_ms = [], []
    for image in images:
        cascade_ms.append(runner(image).milliseconds)
        start = time.perf_counter()
        deepest(image)
        deepest_ms.append((time.perf_counter() - start) * 1e3)
    return {name: {"mean_ms": statistics.fmean(values), "median_ms": statistics.median(values),
                   "p90_ms": float(np.percentile(values, 90))}
            for name, values in (("cascade", cascade_ms), ("deepest", deepest_ms))}


def _plot(fixed, curve, chosen, path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.2))
    points = sorted((p["test"]["multiply_accumulates"] / 1e6, 100 * p["test"]["top1"]) for p in curve)
    axes.plot(*zip(*points), marker=".", label="cascade, one per budget (thresholds from validation)")
    axes.scatter([f["multiply_accumulates"] / 1e6 for f in fixed], [100 * f["test_top1"] for f in fixed],
                 color="black", zorder=3, label="each depth alone")
    for f in fixed:
        axes.annotate(f"depth {f['depth']}", (f["multiply_accumulates"] / 1e6, 100 * f["test_top1"]), fontsize=8,
                      xytext=(4, -10), textcoords="offset points")
    test = chosen["test"]
    axes.scatter([test["multiply_accumulates"] / 1e6], [100 * test["top1"]], marker="*", s=120, color="tab:red",
                 zorder=4, label=f"cascade for --max_drop {chosen['max_drop']}")
    axes.set_xlabel("average multiply-accumulates per test image (millions)")
    axes.set_ylabel("test top-1 (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    files.atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    pyplot.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--max_drop", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cascade_cifar10.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "cascade_cifar10.png")
    args = parser.parse_args()
    run = Run.open(args.workdir)
    export_dir = run.export_dir()
    found = calibration.exported_files(export_dir, "int8")
    calibration.check_one_run(run, found, export_dir)
    macs = [meta["multiply_accumulates"] for _, meta in found]
    validation_images, validation_labels = _pixels(run.datasets(role="validation")[1])
    test_images, test_labels = _pixels(run.datasets(role="eval")[1])
    validation_logits = _logits(export_dir, found, validation_images)
    test_logits = _logits(export_dir, found, test_images)

    fixed = [{"depth": meta["depth"], "file": name, "multiply_accumulates": meta["multiply_accumulates"],
              "validation_top1": float(np.mean(v.argmax(-1) == validation_labels)),
              "test_top1": float(np.mean(t.argmax(-1) == test_labels))}
             for (name, meta), v, t in zip(found, validation_logits, test_logits)]
    rules = {}
    for rule in cascade.RULES:
        val_scores, val_correct = _scored(validation_logits, validation_labels, rule)
        test_scores, test_correct = _scored(test_logits, test_labels, rule)
        choice = cascade.sweep(val_scores, val_correct, macs, cascade.Target(max_drop=args.max_drop))
        rules[rule] = _summary(choice, found, _on_test(choice, test_scores, test_correct, macs))
        if rule == "max_probability":
            document = cascade.describe(choice, found, rule, cascade.Target(max_drop=args.max_drop),
                                        {"depth": fixed[-1]["depth"], "top1": fixed[-1]["validation_top1"],
                                         "multiply_accumulates": macs[-1]})
            files.write_json(export_dir / cascade.FILE_NAME, document)
            curve = []
            for budget in np.linspace(macs[0], macs[-1], GRID):
                point = cascade.sweep(val_scores, val_correct, macs, cascade.Target(budget_macs=float(budget)))
                curve.append({"budget_macs": float(budget),
                              **_summary(point, found, _on_test(point, test_scores, test_correct, macs))})
    chosen = {"max_drop": args.max_drop, "rule": "max_probability", **rules["max_probability"]}
    oracle = {}
    for role, logits, labels in (("validation", validation_logits, validation_labels),
                                 ("test", test_logits, test_labels)):
        floor, subset = oracle_floor(np.stack([x.argmax(-1) == labels for x in logits]), macs, args.max_drop)
        oracle[role] = {"multiply_accumulates": floor, "macs_ratio": floor / macs[-1],
                        "depths": [found[i][1]["depth"] for i in subset]}
    latency = _latency(export_dir / cascade.FILE_NAME, export_dir / found[-1][0], test_images)
    deepest = fixed[-1]
    report = {
        "run": str(args.workdir), "arch": found[-1][1]["arch"], "data": found[-1][1]["data"]["name"],
        "validation_images": int(len(validation_labels)), "test_images": int(len(test_labels)),
        "files": fixed, "max_drop": args.max_drop, "rules": rules, "curve": curve,
        "oracle_floor": oracle,
        "latency_one_thread": {**latency, "ratio": latency["cascade"]["mean_ms"] / latency["deepest"]["mean_ms"]},
        "goal": {"max_drop_points": 0.3, "macs_ratio": 0.6,
                 "test_drop_points": 100 * (deepest["test_top1"] - chosen["test"]["top1"]),
                 "test_macs_ratio": chosen["test"]["multiply_accumulates"] / deepest["multiply_accumulates"]},
        "command": "python bench/cascade.py " + " ".join(sys.argv[1:]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    files.write_json(args.out, report)
    _plot(fixed, curve, chosen, args.plot)

    print(f"{'':<34} {'val top-1':>9} {'test top-1':>10} {'MMACs (test)':>13} {'x deepest':>10}")
    for f in fixed:
        print(f"{'depth ' + str(f['depth']) + ' alone':<34} {100 * f['validation_top1']:>8.2f}% "
              f"{100 * f['test_top1']:>9.2f}% {f['multiply_accumulates'] / 1e6:>13.2f} "
              f"{f['multiply_accumulates'] / deepest['multiply_accumulates']:>10.2f}")
    for rule, summary in rules.items():
        name = f"cascade {'>'.join(map(str, summary['depths']))} ({rule})"
        print(f"{name:<34} {100 * summary['validation']['top1']:>8.2f}% {100 * summary['test']['top1']:>9.2f}% "
              f"{summary['test']['multiply_accumulates'] / 1e6:>13.2f} "
              f"{summary['test']['multiply_accumulates'] / deepest['multiply_accumulates']:>10.2f}")
    print(f"an oracle exit rule within {args.max_drop} points: {oracle['test']['macs_ratio']:.2f}x the deepest's "
          f"multiply-accumulates on the test images ({'>'.join(map(str, oracle['test']['depths']))}), "
          f"{oracle['validation']['macs_ratio']:.2f}x on the validation images")
    print(f"one thread, per test image: cascade {latency['cascade']['mean_ms']:.3f} ms mean, deepest alone "
          f"{latency['deepest']['mean_ms']:.3f} ms: {report['latency_one_thread']['ratio']:.2f}x")
    print(f"Wrote {args.out}, {args.plot} and {export_dir / cascade.FILE_NAME}")


if __name__ == "__main__":
    main()
