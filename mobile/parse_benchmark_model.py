#!/usr/bin/env python3
"""Turns the output of TFLite's official ``benchmark_model`` into a ``ddnn_tf.benchmark/1`` report.

    python3 mobile/parse_benchmark_model.py --runs RUNS.tsv --device_name "Pixel 8" \\
        [--kind android] [--machine arm64-v8a] [--system "Android 15 (API 35)"] \\
        [--runtime "benchmark_model, CPU (XNNPACK)"] --out benchmark.json

``RUNS.tsv`` has one line per ``benchmark_model`` run, tab-separated:
``LOG  TFLITE  SIGNATURE  THREADS``: the file holding that run's captured
output (stdout and stderr), the local ``.tflite`` it measured (its ``.json``
metadata, when beside it, fills depth, quantize, multiply-accumulates and the
validated accuracy, as the host benchmark does), the signature it ran (empty
for a single-depth file: it has one, ``serving_default``) and the thread count.
``mobile/benchmark_on_device.sh`` writes it. Standard library only, so that it
runs wherever adb does; ``import`` it to use ``parse_output`` and ``to_result``.

What ``benchmark_model`` prints, and so what the report holds:

- ``init_ms``: ``Init`` (interpreter creation, tensor allocation, delegates);
- ``first_run_ms``: ``First inference``; ``warmup_runs``: the warm-up runs after
  the first, as the schema counts them; ``runs`` and ``mean_ms`` from the
  statistics line of the timed runs;
- ``median_ms``: only when the statistics line has ``median=`` (builds whose
  statistics keep every value print ``p5=``, ``median=`` and ``p95=``; that
  median is the upper middle value, not the mean of the two middle values);
  else null. ``p90_ms`` and ``p99_ms``: null, the tool prints neither (unless
  every timed run took the same time, ``(all same)``, which fixes them all).
  ``timings_ms``: null, the tool prints no per-run timings. Use the Android
  app (mobile/android), which reports every timed run, for the full percentiles;
- ``process_peak_rss_mb``: the ``Overall peak memory footprint`` line, printed
  with ``--report_peak_memory_footprint=true``, else null.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = "ddnn_tf.benchmark/1"
DEVICE_KINDS = ("host", "android", "edge")
DEFAULT_SIGNATURE = "serving_default"

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: (?P<init>{_NUMBER}), First inference: (?P<first>{_NUMBER}), "
    rf"Warmup \(avg\): (?P<warmup>{_NUMBER}), Inference \(avg\): (?P<inference>{_NUMBER})"
)
_STAT_FIELD = re.compile(rf"\b(count|first|curr|min|max|avg|std|p5|median|p95)=({_NUMBER})")
_MEMORY_DELTA = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUMBER}) overall=({_NUMBER})")
_PEAK_MEMORY = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_PHASE_START = "Running benchmark for at least"


class BenchmarkOutputError(Exception):
    """The output is not that of a benchmark_model run that finished."""


def _parse_stat(line):
    """``count=50 first=8123 curr=4975 min=4890 max=5302 avg=4980.12 std=71`` as numbers (microseconds)."""
    fields = {key: float(value) for key, value in _STAT_FIELD.findall(line)}
    if "count" not in fields or ("curr" not in fields and "avg" not in fields):
        raise BenchmarkOutputError(f"cannot read the statistics line {line.strip()!r}")
    if "avg" not in fields:  # "count=5 curr=4000(all same)": every run took the same time
        same = fields["curr"]
        fields.update(first=same, min=same, max=same, avg=same, std=0.0, p5=same, median=same, p95=same)
    fields["count"] = int(fields["count"])
    return fields


def parse_output(text):
    """The figures of one benchmark_model run, in microseconds and megabytes.

    Returns ``{"init_us", "first_us", "warmup_avg_us", "inference_avg_us",
    "warmup": stat, "inference": stat, "memory_init_mb", "memory_overall_mb",
    "peak_memory_mb"}``; each ``stat`` holds count, first, curr, min, max,
    avg, std and, when printed, p5, median and p95. Raises
    ``BenchmarkOutputError`` for the output of a run that failed.
    """
    timings = _TIMINGS.search(text)
    if timings is None:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line] or [line for line in lines if "failed" in line.lower()]
        reason = errors[-1] if errors else "no 'Inference timings in us' line"
        raise BenchmarkOutputError(f"benchmark_model did not finish: {reason}")
    lines = text.splitlines()
    # The statistics line of each phase follows its "Running benchmark for at least ..." line: warm-up, then timed.
    stats = []
    for index, line in enumerate(lines):
        if _PHASE_START in line:
            following = next((later for later in lines[index + 1:] if "count=" in later), None)
            if following is not None:
                stats.append(_parse_stat(following))
    if len(stats) < 2:
        raise BenchmarkOutputError(f"expected the statistics of the warm-up and the timed runs, found {len(stats)}")
    memory = _MEMORY_DELTA.search(text)
    peak = _PEAK_MEMORY.search(text)
    return {
        "init_us": float(timings["init"]),
        "first_us": float(timings["first"]),
        "warmup_avg_us": float(timings["warmup"]),
        "inference_avg_us": float(timings["inference"]),
        "warmup": stats[0],
        "inference": stats[1],
        "memory_init_mb": float(memory[1]) if memory else None,
        "memory_overall_mb": float(memory[2]) if memory else None,
        "peak_memory_mb": float(peak[1]) if peak else None,
    }


def _ms(microseconds, digits):
    return None if microseconds is None else round(microseconds / 1000, digits)


def to_result(parsed, file, signature, threads, metadata, file_bytes):
    """One schema result from ``parse_output``'s figures; ``metadata`` is the export's .json (or None)."""
    info = (metadata or {}).get("signatures", {}).get(signature, metadata or {})
    timed = parsed["inference"]
    # When every timed run took the same time, every percentile is that time; else only a printed median is known.
    exact = timed["min"] if timed["min"] == timed["max"] else None
    return {
        "file": file,
        "signature": signature,
        "depth": info.get("depth"),
        "quantize": info.get("quantize"),
        "threads": threads,
        "init_ms": _ms(parsed["init_us"], 3),
        "first_run_ms": _ms(parsed["first_us"], 3),
        "warmup_runs": parsed["warmup"]["count"] - 1,  # benchmark_model counts the first run as a warm-up run
        "runs": timed["count"],
        "median_ms": _ms(timed.get("median"), 4),
        "p90_ms": _ms(exact, 4),
        "p99_ms": _ms(exact, 4),
        "mean_ms": _ms(parsed["inference_avg_us"], 4),
        "io_ms": None,  # benchmark_model feeds the tensors as they are: no conversion to time
        "process_peak_rss_mb": parsed["peak_memory_mb"],
        "file_bytes": file_bytes,
        "multiply_accumulates": info.get("multiply_accumulates"),
        "validated_accuracy": info.get("tflite_accuracy"),
        "accuracy": None,
        "timings_ms": None,  # the tool prints no per-run timings
    }


def read_runs(path):
    """``[(log, tflite, signature, threads)]`` from a RUNS.tsv file."""
    runs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 4 or not parts[3].strip().isdigit():
            raise ValueError(f"{path} line {number}: expected LOG<TAB>TFLITE<TAB>SIGNATURE<TAB>THREADS, got {line!r}")
        log, tflite, signature, threads = parts
        runs.append((Path(log), Path(tflite), signature or DEFAULT_SIGNATURE, int(threads)))
    if not runs:
        raise ValueError(f"{path} lists no runs")
    return runs


def build_report(runs, device):
    results = []
    for log, tflite, signature, threads in runs:
        try:
            parsed = parse_output(log.read_text(errors="replace"))
        except BenchmarkOutputError as error:
            raise BenchmarkOutputError(f"{log}: {error}") from None
        metadata = metadata_of(tflite)
        results.append(to_result(parsed, tflite.name, signature, threads, metadata, tflite.stat().st_size))
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device,
        "results": results,
    }


def metadata_of(tflite):
    """The export's .json beside ``tflite``, None without one, or a ValueError if it describes another file.

    A killed export can leave a new .tflite beside an old .json, whose depth and cost are another file's.
    """
    meta_path = tflite.with_suffix(".json")
    metadata = read_metadata(meta_path) if meta_path.is_file() else None
    if metadata and metadata.get("sha256") not in (None, hashlib.sha256(tflite.read_bytes()).hexdigest()):
        raise ValueError(f"{meta_path} describes another file than {tflite.name} (its sha256 differs): "
                         "an export was interrupted or the files were mixed; export them again")
    return metadata


def read_metadata(path):
    """An export's .json, or a ValueError naming the file."""
    try:
        metadata = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path} is not an export's metadata (unreadable JSON: {error})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path} is not an export's metadata (a JSON object)")
    return metadata


def write_json(path, data):
    """Writes through a temporary file and a rename, so a reader never sees half a report."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_files(paths):
    """``--check``: exit status 0 if every .tflite's .json describes it, else 2 and one line naming the first that does not."""
    try:
        for path in paths:
            metadata_of(Path(path))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--check"]:  # before anything is pushed to a device
        return check_files(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="--check FILE.tflite ...: only check each file against its .json")
    parser.add_argument("--runs", required=True, help="RUNS.tsv: LOG, TFLITE, SIGNATURE, THREADS per line")
    parser.add_argument("--out", required=True, help="the benchmark.json to write")
    parser.add_argument("--device_name", required=True)
    parser.add_argument("--kind", default="android", choices=DEVICE_KINDS)
    parser.add_argument("--machine")
    parser.add_argument("--system")
    parser.add_argument("--runtime", default="benchmark_model (TFLite benchmark tool)")
    args = parser.parse_args(argv)
    device = {"name": args.device_name, "kind": args.kind, "machine": args.machine, "system": args.system,
              "runtime": args.runtime}
    try:
        report = build_report(read_runs(args.runs), device)
        write_json(args.out, report)
    except (OSError, ValueError, BenchmarkOutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for r in report["results"]:
        median = "-" if r["median_ms"] is None else f"{r['median_ms']:.3f}"
        print(f"{r['file']:<36} {r['signature']:<16} {r['threads']:>3} thr  init {r['init_ms']:.2f}  "
              f"first {r['first_run_ms']:.2f}  median {median}  mean {r['mean_ms']:.3f} ms")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
