"""LiteRT latency of TFLite files: timing, budgets, the report and its plot."""

import platform
import statistics
import time
from pathlib import Path

import numpy as np

from ddnn_tf import errors, runtime
from ddnn_tf.plots import save_line_plot

SCHEMA = "ddnn_tf.benchmark/1"


def percentile(values, q):
    """The q-th percentile with linear interpolation (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize(timings_ms):
    """Median, p90, p99 and mean (ms, 4 decimals) of per-run timings: the one place they are computed.

    The host benchmark calls it on its own timings; ``merge_reports`` calls it
    on the ``timings_ms`` a device reports (``complete``), so every report's
    statistics come from this code whichever device measured.
    """
    return {
        "median_ms": round(statistics.median(timings_ms), 4),
        "p90_ms": round(percentile(timings_ms, 90), 4),
        "p99_ms": round(percentile(timings_ms, 99), 4),
        "mean_ms": round(statistics.fmean(timings_ms), 4),
    }


def complete(result):
    """A report's result with its statistics computed here from its ``timings_ms``, when it has them."""
    timings = result.get("timings_ms")
    return {**result, **summarize(timings)} if timings else result


def _process_peak_rss_mb():
    """The peak resident memory of this whole process so far (Linux's VmHWM), or None off Linux.

    VmHWM only rises: a row's figure is the largest of every file timed
    before it and of everything else the process did, not its file's own.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # no /proc: the schema allows null
        pass
    return None


def _read_file(path):
    path = Path(path)
    if path.is_dir():
        raise errors.UsageError(f"{path} is a directory; pass the .tflite files written by ddnn_tf.export_tflite")
    if not path.is_file():
        raise errors.UsageError(f"{path} does not exist; pass .tflite files written by ddnn_tf.export_tflite")
    flatbuffer = path.read_bytes()
    meta = runtime.read_metadata(path, flatbuffer)
    try:
        signatures = list(runtime.Runner(flatbuffer).interpreter.get_signature_list())
    except (ValueError, RuntimeError) as error:
        raise errors.UsageError(f"{path} is not a valid TFLite file: {error}") from None
    return flatbuffer, meta, signatures


def time_file(flatbuffer, signature, threads, runs, warmup):
    """Latency figures (milliseconds) of one signature at one thread count, on an all-zero input.

    The timed runs measure ``invoke`` alone, as ``benchmark_model`` does on a
    device, so any TFLite file can be timed. For a file that takes pixels,
    preparing a black image and dequantizing the output is timed apart
    (``io_ms``); else ``io_ms`` is null.
    """
    start = time.perf_counter()
    runner = runtime.Runner(flatbuffer, signature, threads=threads)
    init_ms = (time.perf_counter() - start) * 1e3
    zeros = runner.zero_input()
    start = time.perf_counter()
    runner.invoke(zeros)
    first_ms = (time.perf_counter() - start) * 1e3
    for _ in range(warmup):
        runner.invoke(zeros)
    timings, io_timings = [], []
    for _ in range(runs):
        start = time.perf_counter()
        output = runner.invoke(zeros)
        timings.append((time.perf_counter() - start) * 1e3)
        if runner.takes_pixels:
            start = time.perf_counter()
            runner.finish(output)
            runner.prepare(zeros[0])
            io_timings.append((time.perf_counter() - start) * 1e3)
    return runner, {
        "init_ms": round(init_ms, 3),
        "first_run_ms": round(first_ms, 3),
        "warmup_runs": warmup,
        "runs": runs,
        **summarize(timings),
        "io_ms": round(statistics.median(io_timings), 4) if io_timings else None,
        "timings_ms": timings,
    }


def deepest_within(results, budget_ms, threads):
    """The result of the deepest depth (most multiply-accumulates) whose median fits, or None."""
    fitting = [r for r in results if r["threads"] == threads and r["median_ms"] <= budget_ms and not r.get("cascade")]
    return max(fitting, key=lambda r: (r["multiply_accumulates"] or 0, -r["median_ms"]), default=None)


def _held_out(meta, count):
    from ddnn_tf.config import stored_data_config
    from ddnn_tf.data import pipeline

    _, eval_data, _ = pipeline.load_stored(stored_data_config(meta["data"]), meta.get("seed", 0))
    return pipeline.take_examples(eval_data, count)


def benchmark(paths, threads, runs, warmup, accuracy=False, eval_examples=1000):
    results = []
    for path in paths:
        flatbuffer, meta, signatures = _read_file(path)
        for signature in signatures:
            info = (meta or {}).get("signatures", {}).get(signature, meta or {})
            for count in threads:
                runner, timing = time_file(flatbuffer, signature, count, runs, warmup)
                timings = timing.pop("timings_ms")
                row = {
                    "file": Path(path).name,
                    "signature": signature,
                    "depth": info.get("depth"),
                    "quantize": info.get("quantize"),
                    "threads": count,
                    **timing,
                    "process_peak_rss_mb": _process_peak_rss_mb(),
                    "file_bytes": len(flatbuffer),
                    "multiply_accumulates": info.get("multiply_accumulates"),
                    "validated_accuracy": info.get("tflite_accuracy"),
                    "accuracy": None,
                    "timings_ms": timings,
                }
                if accuracy and info.get("data"):
                    if not runner.takes_pixels:
                        raise errors.UsageError(
                            f"{path} takes {np.dtype(runner.input['dtype']).name} input, not uint8 pixels: it was "
                            "exported before ddnn_tf 0.2; export it again to measure --accuracy, or time it without"
                        )
                    images, labels = _held_out(info, eval_examples)
                    row["accuracy"] = float(np.mean([runner(x).argmax() for x in images] == labels))
                results.append(row)
    return results


def benchmark_cascade(path, threads, warmup, eval_examples=1000):
    """One result per thread count for the ``cascade.json`` at ``path``, on the run's held-out test images.

    Each image is timed from its pixels to the cascade's answer, every file
    it ran included (``Cascade.__call__``): ``timings_ms`` holds one time per
    image, and ``multiply_accumulates`` is the average over the images of the
    files each one ran.
    """
    from ddnn_tf.runtime.cascade import Cascade

    path = Path(path)
    first_file = path.parent / Cascade(path).stages[0]["file"]  # checks every file before anything is timed
    meta = runtime.read_metadata(first_file, first_file.read_bytes())
    if not meta or "data" not in meta:
        raise errors.UsageError(f"{first_file} has no .json metadata naming its run's data, whose test images "
                                "score the cascade; keep the export's .json files beside the .tflite files")
    images, labels = _held_out(meta, eval_examples)
    images = images.astype(np.uint8)
    results = []
    for count in threads:
        start = time.perf_counter()
        cascade = Cascade(path, threads=count)
        init_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        cascade(images[0])
        first_ms = (time.perf_counter() - start) * 1e3
        for image in images[:warmup]:
            cascade(image)
        decisions = [cascade(image) for image in images]
        stage_macs = np.cumsum([stage["multiply_accumulates"] for stage in cascade.stages])
        stops = np.array([decision.stage for decision in decisions])
        timings = [decision.milliseconds for decision in decisions]
        results.append({
            "file": path.name,
            "signature": "cascade",
            "depth": "cascade",
            "quantize": meta.get("quantize"),
            "threads": count,
            "init_ms": round(init_ms, 3),
            "first_run_ms": round(first_ms, 3),
            "warmup_runs": min(warmup, len(images)),
            "runs": len(decisions),
            **summarize(timings),
            "io_ms": None,  # inside every timing
            "process_peak_rss_mb": _process_peak_rss_mb(),
            "file_bytes": sum((path.parent / stage["file"]).stat().st_size for stage in cascade.stages),
            "multiply_accumulates": int(round(float(np.mean(stage_macs[stops])))),
            "validated_accuracy": None,
            "accuracy": float(np.mean([d.label for d in decisions] == labels)),
            "cascade": {
                "rule": cascade.rule,
                "depths": cascade.depths,
                "thresholds": cascade.thresholds,
                "exit_fractions": [float(np.mean(stops == stage)) for stage in range(len(cascade.stages))],
            },
            "timings_ms": timings,
        })
    return results


def format_table(results):
    header = (f"{'file':<36} {'signature':<16} {'thr':>3} {'init':>8} {'first':>8} {'median':>8} {'p90':>8} "
              f"{'mean':>8} {'MMACs':>8} {'acc':>7}")
    lines = [header + "   (milliseconds)"]
    for r in results:
        acc = r["accuracy"] if r["accuracy"] is not None else r["validated_accuracy"]
        macs = f"{r['multiply_accumulates'] / 1e6:>8.2f}" if r.get("multiply_accumulates") else f"{'-':>8}"
        lines.append(
            f"{r['file']:<36} {r['signature'] or '-':<16} {r['threads']:>3} {r['init_ms']:>8.2f} "
            f"{r['first_run_ms']:>8.2f} {r['median_ms']:>8.3f} {r['p90_ms']:>8.3f} {r['mean_ms']:>8.3f} {macs} "
            + (f"{100 * acc:>6.2f}%" if acc is not None else f"{'-':>7}")
        )
        if r.get("cascade"):
            fractions = ", ".join(f"{100 * f:.1f}% at {d}" for d, f in zip(r["cascade"]["depths"],
                                                                           r["cascade"]["exit_fractions"]))
            lines.append(f"{'':<36} answered {fractions}; times per input, every file it ran included")
    return "\n".join(lines)


def plot(results, path):
    """Accuracy against median latency: one point per depth, one line per thread count (a cascade its own point)."""
    series = {}
    for r in results:
        accuracy = r["accuracy"] if r["accuracy"] is not None else r["validated_accuracy"]
        name = f"{'cascade, ' if r.get('cascade') else ''}{r['threads']} thread(s)"
        series.setdefault(name, []).append(
            (r["median_ms"], 100 * (accuracy or 0), f"{r['depth']} {r['quantize']}")
        )
    save_line_plot(series, "median latency per image (ms)", "top-1 accuracy (%)", path)


def device_description():
    from ai_edge_litert import __version__ as litert_version

    return {
        "name": platform.node(),
        "kind": "host",
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "runtime": f"ai_edge_litert {litert_version} (Python)",
    }
