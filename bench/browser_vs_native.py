"""The same exported files timed by native LiteRT and by LiteRT.js in a headless Chromium, on this machine, in one run.

    python bench/browser_vs_native.py [--export_dir runs/mnist_resnet34/export_web] [--runs 100] [--threads 1,2]
        [--rounds 3] [--browser tests/browser/usr/lib/chromium/chromium-headless-shell]
        [--out bench/results/browser_vs_native.json]

Native: ``ai_edge_litert``'s interpreter with XNNPACK, ``invoke`` alone
(``ddnn_tf.runtime.timing.time_file``). Browser: the page of ``python -m
ddnn_tf.serve_benchmark`` (WebAssembly with threads, cross-origin isolated),
``run`` alone. Both on an all-zero image, after warm-up, medians over
``--runs`` runs per file and thread count; the export folder is copied first,
so that the browser's report is not left in it. The two are timed one after
the other, ``--rounds`` times, since a busy machine moves either; the table
gives the medians over rounds and the range of the ratio browser / native,
and the JSON every round's figures. ``make demo`` writes the default folder.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ddnn_tf.run import Run  # noqa: E402
from ddnn_tf.runtime import timing, web  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export_dir", type=Path, default=Run(REPO / "runs" / "mnist_resnet34").export_dir("web"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="native then browser, this many times")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--browser", type=Path, default=REPO / "tests" / "browser" / "usr" / "lib" / "chromium"
                        / "chromium-headless-shell")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "browser_vs_native.json")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    files = sorted(args.export_dir.glob("*.tflite"))
    if not files:
        parser.error(f"no .tflite files in {args.export_dir}; export with python -m ddnn_tf.export_tflite --target web")
    if not args.browser.is_file():
        parser.error(f"no browser at {args.browser}; make test installs one")

    rounds = [one_round(files, threads, args) for _ in range(args.rounds)]
    keys = list(rounds[0][0])
    rows = []
    print(f"{'file':<34} {'threads':>7} {'native ms':>10} {'browser ms':>11} {'browser/native':>15}"
          f"   (median of {args.rounds} rounds; each ratio's range)")
    for key in keys:
        natives = [native[key] for native, _ in rounds]
        browsers = [browser.get(key) for _, browser in rounds]
        ratios = [b / n for n, b in zip(natives, browsers) if b]
        row = {"file": key[0], "threads": key[1], "native_median_ms": natives, "browser_median_ms": browsers,
               "browser_over_native": ratios}
        rows.append(row)
        cells = (f"{statistics.median([b for b in browsers if b]):>11.3f} {statistics.median(ratios):>15.2f}"
                 f"   {min(ratios):.2f}-{max(ratios):.2f}" if ratios else f"{'-':>11} {'-':>15}")
        print(f"{key[0]:<34} {key[1]:>7} {statistics.median(natives):>10.3f} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "native": timing.device_description()["runtime"], "browser": rounds[0][1].runtime,
        "browser_device": rounds[0][1].device, "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds,
        "rows": rows, "problems": rounds[0][1].problems,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")


class BrowserMedians(dict):
    """``{(file, threads): median ms}`` of one browser report, with its device, runtime and problems."""

    def __init__(self, report):
        super().__init__({(r["file"], r["threads"]): timing.summarize(r["timings_ms"])["median_ms"]
                          for r in report["results"]})
        self.device, self.runtime = report["device"]["name"], report["device"]["runtime"]
        self.problems = report.get("problems", [])


def one_round(files, threads, args):
    """``(native medians, browser medians)``, each ``{(file, threads): ms}``: every file natively, then in the page."""
    native = {}
    for path in files:
        for count in threads:
            _, figures = timing.time_file(path.read_bytes(), None, count, args.runs, args.warmup)
            native[(path.name, count)] = figures["median_ms"]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "export"
        shutil.copytree(args.export_dir, folder, ignore=shutil.ignore_patterns(f"{web.REPORT_PREFIX}*"))
        saved = []
        server = web.Server(("127.0.0.1", 0), folder, web.default_litert_dir(), 16 << 20, on_report=saved.append)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = (f"http://127.0.0.1:{server.server_address[1]}/?runs={args.runs}&warmup={args.warmup}"
               f"&threads={args.threads}&accelerator=wasm")
        browser = web.open_headless(args.browser, url, Path(scratch) / "profile")
        deadline = time.time() + 1800
        while not saved and time.time() < deadline:
            time.sleep(0.5)
        browser.kill()
        server.shutdown()
        if not saved:
            raise SystemExit("error: the page posted no report within 30 minutes")
        return native, BrowserMedians(json.loads(saved[0].read_text()))


if __name__ == "__main__":
    main()
