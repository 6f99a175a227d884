"""Training throughput of one process against two MultiWorkerMirroredStrategy workers on this machine.

    python bench/multi_worker.py [--config configs/mnist_resnet34.py] [--examples 2560] [--epochs 3]
        [--out bench/results/multi_worker.json]

Trains the same run (global batch, examples, seed) three ways, each with
``python -m ddnn_tf.train`` as a user would:
  - ``one_process``: one process on every core (TensorFlow's default threads);
  - ``two_workers``: ``python -m ddnn_tf.launch_local --workers 2`` with
    ``strategy=multi_worker``, one thread per worker (one core each);
  - ``one_worker_share``: one process, one thread, half the batch and half the
    examples: the computation one of the two workers does, with nothing to
    exchange.
Throughput is training examples per second of training steps (``train_seconds``
in ``log.csv``: validation excluded), the median over the epochs after the
first (which traces the step). The step time of ``two_workers`` minus that of
``one_worker_share`` is what the workers spend exchanging gradients and
waiting for each other, printed as a fraction of the two-worker step.
Run it on an otherwise idle machine: the workers share its cores.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ddnn_tf import files
from ddnn_tf.run import Run

REPO = Path(__file__).resolve().parents[1]


def train(name, workdir, config, examples, batch, epochs, threads, workers=1):
    """Runs one training as a user would; returns per-epoch ``train_seconds`` after the first epoch."""
    flags = [f"--config={config}", f"--workdir={workdir}", f"--config.epochs={epochs}",
             f"--config.data.train_examples={examples}", f"--config.data.batch_size={batch}",
             "--config.data.eval_examples=512"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=str(threads))
    if workers > 1:
        command = [sys.executable, "-m", "ddnn_tf.launch_local", f"--workers={workers}", "--",
                   *flags, "--config.strategy=multi_worker"]
    else:
        command = [sys.executable, "-m", "ddnn_tf.train", *flags]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        logs = "".join(p.read_text() for p in Path(workdir).glob("worker_*.log"))
        raise SystemExit(f"error: {name} failed ({result.returncode}):\n{result.stdout}{result.stderr}{logs}")
    with open(Run(workdir).log_file()) as f:
        return [float(row["train_seconds"]) for row in csv.DictReader(f)][1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mnist_resnet34.py")
    parser.add_argument("--examples", type=int, default=2560, help="training examples per epoch (global)")
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--epochs", type=int, default=3, help="the first one traces the step and is not counted")
    parser.add_argument("--out", default="bench/results/multi_worker.json")
    args = parser.parse_args()
    if args.epochs < 2 or args.batch % 2 or args.examples < args.batch:
        parser.error("--epochs must be at least 2, --batch even and --examples at least --batch")
    out = Path(args.out)
    files.writable_dir(out.parent)
    cores = os.cpu_count()
    plans = {  # name: (examples, batch, threads, workers)
        "one_process": (args.examples, args.batch, None, 1),
        "two_workers": (args.examples, args.batch, 1, 2),
        "one_worker_share": (args.examples // 2, args.batch // 2, 1, 1),
    }
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, (examples, batch, threads, workers) in plans.items():
            seconds = statistics.median(train(name, Path(scratch) / name, args.config, examples, batch, args.epochs,
                                              threads, workers))
            rows.append({"run": name, "workers": workers, "threads_per_process": threads or cores,
                         "batch_per_process": batch // workers, "step_ms": round(1e3 * seconds / (examples // batch), 1),
                         "images_per_s": round(examples / seconds, 1)})
            print(f"{name}: {rows[-1]['images_per_s']} images/s", flush=True)
    by_name = {row["run"]: row for row in rows}
    ratio = by_name["two_workers"]["images_per_s"] / by_name["one_process"]["images_per_s"]
    exchange = 1 - by_name["one_worker_share"]["step_ms"] / by_name["two_workers"]["step_ms"]
    print(f"\n{'run':>18}{'workers':>9}{'threads':>9}{'batch/process':>15}{'step ms':>10}{'images/s':>10}")
    for row in rows:
        print(f"{row['run']:>18}{row['workers']:>9}{row['threads_per_process']:>9}{row['batch_per_process']:>15}"
              f"{row['step_ms']:>10.1f}{row['images_per_s']:>10.1f}")
    print(f"\ntwo workers / one process: {ratio:.2f}x images/s; "
          f"exchanging and waiting: {100 * exchange:.0f} % of the two-worker step")
    files.write_json(out, {
        "config": args.config, "examples_per_epoch": args.examples, "epochs_counted": args.epochs - 1,
        "cores": cores, "rows": rows, "two_workers_over_one_process": round(ratio, 3),
        "exchange_fraction_of_two_worker_step": round(exchange, 3),
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
