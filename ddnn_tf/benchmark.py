"""LiteRT latency of exported depths on this machine.

    python -m ddnn_tf.benchmark runs/mnist_resnet34/export/*.tflite [--threads 1,2] [--runs 50]
        [--budget_ms 5] [--accuracy] [--out DIR]
    python -m ddnn_tf.benchmark --cascade runs/mnist_resnet34/export/cascade.json

For every file (every signature of a bundle) and thread count: interpreter
init, first run, warm-up, then ``--runs`` timed runs (median, p90, p99), and
the process's peak resident memory. Prints a table, writes
``benchmark.json`` (schema: docs/benchmark_schema.md, the same the Android app
writes) and ``accuracy_vs_latency.png``. ``--budget_ms`` names the deepest
depth whose median latency fits. ``--cascade`` (a ``cascade.json`` of
``python -m ddnn_tf.cascade``) adds the cascade's row, timed per test image
from pixels to answer with every file it ran, beside its files' rows (its
files when no others are named), all scored on the same test images.
"""

import math
import time
from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors, files
from ddnn_tf.runtime import timing

_THREADS = flags.DEFINE_list("threads", ["1", "2"], "Comma list of interpreter thread counts.")
_RUNS = flags.DEFINE_integer("runs", 50, "Timed runs per file and thread count.")
_WARMUP = flags.DEFINE_integer("warmup", 5, "Untimed runs after the first.")
_BUDGET = flags.DEFINE_float("budget_ms", None, "Latency budget: print the deepest depth whose median fits.")
_ACCURACY = flags.DEFINE_bool("accuracy", False, "Also measure top-1 on the run's held-out data.")
_EVAL = flags.DEFINE_integer("eval_examples", 1000, "Held-out images for --accuracy.")
_CASCADE = flags.DEFINE_string("cascade", None, "A cascade.json to time and score beside the files (implies "
                                "--accuracy).")
_OUT = flags.DEFINE_string("out", None, "Where benchmark.json and the plot go (default: the first file's folder).")


def _check_flags():
    """The thread counts, once every numeric flag is checked: the report's schema holds each to its range."""
    try:
        threads = [int(t) for t in _THREADS.value]
    except ValueError:
        raise errors.UsageError(f"--threads takes whole numbers, got {','.join(_THREADS.value)}") from None
    if not threads or any(t < 1 for t in threads):
        raise errors.UsageError(f"--threads takes thread counts of 1 or more, got {','.join(_THREADS.value) or 'none'}")
    if _RUNS.value < 1:
        raise errors.UsageError(f"--runs must be at least 1, got {_RUNS.value}")
    if _WARMUP.value < 0:
        raise errors.UsageError(f"--warmup must be 0 or more untimed runs, got {_WARMUP.value}")
    if _BUDGET.value is not None and not (0 < _BUDGET.value < math.inf):
        raise errors.UsageError(f"--budget_ms must be a positive, finite number of milliseconds, got {_BUDGET.value}")
    if _EVAL.value < 1:
        raise errors.UsageError(f"--eval_examples must be at least 1, got {_EVAL.value}")
    return threads


def main(argv):
    paths = argv[1:]
    threads = _check_flags()
    cascade_path = None
    if _CASCADE.value:
        from ddnn_tf.runtime import cascade

        cascade_path = Path(_CASCADE.value)
        stages = cascade.Cascade(cascade_path).stages  # its files checked before any is timed
        paths = paths or [str(cascade_path.parent / stage["file"]) for stage in stages]
    if not paths:
        raise errors.UsageError("pass one or more .tflite files, e.g. runs/mnist_resnet34/export/*.tflite, "
                                "or --cascade CASCADE_JSON")
    for path in map(Path, paths):
        if path.is_dir():
            raise errors.UsageError(f"{path} is a directory; pass the .tflite files in it, e.g. {path}/*.tflite")
        if not path.is_file():
            raise errors.UsageError(f"{path} does not exist; pass exported .tflite files")
    out = files.writable_dir(_OUT.value or Path(paths[0]).parent)
    accuracy = _ACCURACY.value or cascade_path is not None
    results = timing.benchmark(paths, threads, _RUNS.value, _WARMUP.value, accuracy, _EVAL.value)
    if cascade_path is not None:
        results += timing.benchmark_cascade(cascade_path, threads, _WARMUP.value, _EVAL.value)
    print(timing.format_table(results))
    report = {"schema": timing.SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "device": timing.device_description(), "results": results}
    if _BUDGET.value is not None:
        report["budget"] = []
        for count in threads:
            best = timing.deepest_within(results, _BUDGET.value, count)
            report["budget"].append({"budget_ms": _BUDGET.value, "threads": count,
                                     "depth": best["depth"] if best else None,
                                     "file": best["file"] if best else None})
            print(
                f"Budget {_BUDGET.value} ms, {count} thread(s): "
                + (f"deepest depth {best['depth']} ({best['file']}, median {best['median_ms']:.3f} ms)"
                   if best else "no depth fits")
            )
    files.write_json(out / "benchmark.json", report)
    timing.plot(results, out / "accuracy_vs_latency.png")
    print(f"Wrote {out / 'benchmark.json'} and {out / 'accuracy_vs_latency.png'}")


def command():
    """``python -m ddnn_tf.benchmark`` and the ``ddnn-benchmark`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
