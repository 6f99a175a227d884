"""Merges benchmark reports from several devices into one table, one plot and ``merged.json``.

    python -m ddnn_tf.merge_reports laptop/benchmark.json pixel8_cpu.json pi5.json [--out=DIR]

Each REPORT.json is a ``ddnn_tf.benchmark/1`` report (docs/benchmark_schema.md),
written by ``python -m ddnn_tf.benchmark``, the Android app in mobile/android,
mobile/benchmark_on_device.sh or the browser page of ``python -m
ddnn_tf.serve_benchmark``. Prints one table (device, runtime, file, depth,
quantize, threads, median, p90, accuracy) and writes to DIR (default: the first
report's folder) ``merged.json`` (every result with its device), ``merged.txt`` (the
table) and ``accuracy_vs_latency_merged.png``: accuracy against median latency,
one line per device and thread count. Accuracy is the one measured on the
device when the report has it, else the export's validation accuracy (marked
``*`` in the table). Median, p90, p99 and mean of every result that carries
its per-run ``timings_ms`` (the app's reports and the host's do) are computed
here (``timing.summarize``), whatever the device wrote beside them. Bad input
prints one ``error:`` line and exits with status 2.
"""

import time
from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors, files
from ddnn_tf.runtime import report as reports_format

_OUT = flags.DEFINE_string("out", None, "Where merged.json, merged.txt and the plot go (default: the first report's folder).")

MERGED_SCHEMA = "ddnn_tf.benchmark_merged/1"
PLOT_NAME = "accuracy_vs_latency_merged.png"
def _labels(reports):
    """A device label per report: its name, plus its runtime or its position when the name alone is ambiguous."""
    labels = []
    for report in reports:
        device = report["device"]
        same_name = [r["device"] for r in reports if r["device"]["name"] == device["name"]]
        label = device["name"]
        if len({d.get("runtime") for d in same_name}) > 1:
            label += f" ({device.get('runtime')})"
        labels.append(label)
    return [f"{label} [report {index + 1}]" if labels.count(label) > 1 else label for index, label in enumerate(labels)]


def merge(reports, paths):
    """Every result with the device it was measured on, in the order of the reports."""
    rows = []
    for index, (report, label) in enumerate(zip(reports, _labels(reports))):
        device = report["device"]
        for result in report["results"]:
            rows.append({"device": label, "device_kind": device.get("kind"), "runtime": device.get("runtime"),
                         "report": index, **result})
    return {
        "schema": MERGED_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reports": [
            {"path": str(path), "created": report.get("created"), "device": report["device"],
             **({"budget": report["budget"]} if "budget" in report else {})}
            for path, report in zip(paths, reports)
        ],
        "results": rows,
    }


def _accuracy(row):
    """(accuracy, measured on the device?) of a row; the export's validation when nothing was measured."""
    if row["accuracy"] is not None:
        return row["accuracy"], True
    return row["validated_accuracy"], False


def format_table(rows):
    width = max([len("device")] + [len(r["device"]) for r in rows])
    runtime_width = max([len("runtime")] + [len(r["runtime"] or "-") for r in rows])
    lines = [f"{'device':<{width}} {'runtime':<{runtime_width}} {'file':<36} {'depth':>7} {'quantize':<8} {'thr':>3} "
             f"{'median':>9} {'p90':>9} {'mean':>9} {'MMACs':>8} {'acc':>8}   (milliseconds)"]
    validated = False
    for r in rows:
        accuracy, measured = _accuracy(r)
        validated |= accuracy is not None and not measured
        acc = "-" if accuracy is None else f"{100 * accuracy:.2f}%" + ("" if measured else "*")
        lines.append(
            f"{r['device']:<{width}} {r['runtime'] or '-':<{runtime_width}} {r['file']:<36} "
            f"{str(r['depth']) if r['depth'] is not None else '-':>7} "
            f"{r['quantize'] or '-':<8} {r['threads']:>3} {_ms(r['median_ms']):>9} {_ms(r['p90_ms']):>9} "
            f"{_ms(r.get('mean_ms')):>9} {_macs(r.get('multiply_accumulates')):>8} {acc:>8}"
        )
        if r.get("cascade"):
            answered = ", ".join(f"{100 * f:.1f}% at {d}" for d, f in zip(r["cascade"]["depths"],
                                                                          r["cascade"]["exit_fractions"]))
            lines.append(f"{'':<{width}} {'':<{runtime_width}} cascade answered {answered}; multiply-accumulates "
                         "averaged, every file it ran counted")
    if validated:
        lines.append("* the export's validation accuracy on the host; nothing was measured on that device")
    return "\n".join(lines)


def _ms(value):
    return "-" if value is None else f"{value:.3f}"


def _macs(value):
    return "-" if value is None else f"{value / 1e6:.2f}"


def plot(rows, path):
    """Accuracy against median latency: one line per device and thread count, a cascade its own point."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    lines = {}
    for r in rows:
        accuracy, _ = _accuracy(r)
        if r["median_ms"] is not None and accuracy is not None:
            lines.setdefault((r["device"], r["threads"], bool(r.get("cascade"))), []).append(
                (r["median_ms"], 100 * accuracy, r))
    for (device, threads, is_cascade), points in lines.items():
        points.sort(key=lambda point: point[0])
        label = f"{device}, {threads} thread(s){', cascade' if is_cascade else ''}"
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="*" if is_cascade else "o", label=label)
        for x, y, r in points:
            axes.annotate(f"{r['depth']} {r['quantize'] or ''}".strip(), (x, y), fontsize=7)
    if not lines:
        axes.text(0.5, 0.5, "no result has both a median latency and an accuracy", ha="center",
                  transform=axes.transAxes)
    else:
        axes.legend(fontsize=7)
    axes.set_xscale("log")  # a phone and a laptop differ by an order of magnitude or more
    # 0.2, not 2x10^-1; of the minor ticks, only 2 and 5 of each decade, so that the labels do not collide.
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(
        ticker.FuncFormatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))
    axes.set_xlabel("median latency per image (ms, log scale)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    files.atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    pyplot.close(figure)
    return sum(len(points) for points in lines.values())


def merge_files(paths, out):
    """Reads and checks every report, then writes the merged files to ``out``; returns the lines to print.

    Every report is checked before anything is written: a bad one raises a
    UsageError and leaves ``out`` untouched.
    """
    paths = [Path(p) for p in paths]
    reports = [reports_format.read(path) for path in paths]  # a missing one: "benchmark report ... does not exist"
    out = files.writable_dir(out)
    merged = merge(reports, paths)
    table = format_table(merged["results"])
    files.write_json(out / "merged.json", merged)
    files.atomic_write(out / "merged.txt", lambda tmp: Path(tmp).write_text(table + "\n"))
    plotted = plot(merged["results"], out / PLOT_NAME)
    skipped = len(merged["results"]) - plotted
    note = f" ({skipped} result(s) without a median or an accuracy are not plotted)" if skipped else ""
    return [table, f"Wrote {out / 'merged.json'}, {out / 'merged.txt'} and {out / PLOT_NAME}{note}"]


def main(argv):
    paths = argv[1:]
    if not paths:
        raise errors.UsageError("pass one or more benchmark reports, e.g. laptop/benchmark.json pixel8.json")
    print("\n".join(merge_files(paths, _OUT.value or Path(paths[0]).parent)))


def command():
    """``python -m ddnn_tf.merge_reports`` and the ``ddnn-merge-reports`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
