"""Training throughput of the CIFAR-10 study's model on this CPU: precision, threads, and whether the input keeps up.

    python bench/cifar10_throughput.py [--steps 30] [--archive PATH] [--out bench/results/cifar10_throughput.json]

The model and optimiser are ``configs/cifar10_resnet20.py``'s (ResNet-20 at
width 0.5 holding 8 and 14, SGD, batch 128), built as ``python -m
ddnn_tf.train`` builds them. Each setting runs in its own process and times
``--steps`` training steps after warm-up (median step):
  - float32 against mixed_bfloat16,
  - a fixed synthetic batch against the real pipeline (JPEG-decoded arrays,
    crop, flip, normalisation), which shows whether the input keeps the step fed,
  - one process with two threads against two single-threaded processes at once
    (what the study runs), whose images per second add up.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "cifar10_resnet20.py"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"


def worker(precision, source, steps, archive):
    """Times ``steps`` training steps of the study's model; prints one JSON line."""
    import keras
    import tensorflow as tf

    from ddnn_tf.config import load as load_config
    from ddnn_tf.data import pipeline
    from ddnn_tf.training import trainer

    config = load_config(CONFIG, {"precision": precision, "data.archive": str(archive)})
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_dtype_policy(precision)
    train, _, info = pipeline.load(config.data, seed=0, role="validation")
    if source == "synthetic":
        images, labels = next(iter(train))
        train = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model = trainer.build_model(config, info, steps_per_epoch=352)
    model.compile(optimizer=trainer.make_optimizer(config, 352))
    model.make_train_function()
    step = model.train_function
    iterator = iter(train.repeat())
    for _ in range(3):
        step(iterator)
    timings = []
    for _ in range(steps):
        start = time.perf_counter()
        float(step(iterator)["loss"])
        timings.append(time.perf_counter() - start)
    median = statistics.median(timings)
    print(json.dumps({"median_step_ms": round(1000 * median, 1),
                      "images_per_second": round(config.data.batch_size / median, 1)}))


def measure(settings, steps, archive):
    """Runs the settings' workers at the same time; returns their results in order."""
    processes = []
    for precision, source, threads in settings:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
        if threads == 1:
            env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
        command = [sys.executable, __file__, "--worker", precision, source, "--steps", str(steps), "--archive", str(archive)]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"error: a worker failed: {err.strip().splitlines()[-1]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("PRECISION", "SOURCE"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cifar10_throughput.json")
    args = parser.parse_args()
    if not args.archive.is_file():
        parser.error(f"the CIFAR-10 archive {args.archive} does not exist; name it with --archive")
    if args.worker:
        worker(*args.worker, args.steps, args.archive)
        return
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        for source in ("synthetic", "real"):
            for threads, jobs in ((2, 1), (1, 1), (1, 2)):
                results = measure([(precision, source, threads)] * jobs, args.steps, args.archive)
                rows.append({
                    "precision": precision, "input": source, "threads": threads, "processes": jobs,
                    "median_step_ms": statistics.fmean(r["median_step_ms"] for r in results),
                    "images_per_second_total": round(sum(r["images_per_second"] for r in results), 1),
                })
                row = rows[-1]
                print(f"{precision:>15} {source:>9} {threads} thread(s) x {jobs} process(es): "
                      f"{row['median_step_ms']:7.1f} ms/step, {row['images_per_second_total']:6.1f} images/s in all",
                      flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": CONFIG.name, "steps": args.steps, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
