"""Training FLOP/s achieved against the machine's measured matrix-multiply peak.

    python bench/utilisation.py [--arch resnet56] [--batch 128] [--repeats 5] [--out bench/results/utilisation.json]

The peak is the best of a few float32 ``tf.linalg.matmul`` sizes, measured in
the same run. A training step is counted as 3 forward passes (forward, and
the two products of the backward pass) of 2 FLOPs per multiply-accumulate.
For the EKD step, "nominal" counts every depth's forward in full, as if no
block were shared; the blocks it computes once make its real work smaller.
"""

import argparse
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import ddnn_tf
from ddnn_tf import files
from train_step import ekd_model, step_function  # bench/ is on sys.path when run as a script


def matmul_peak_flops(sizes=(1024, 2048, 4096), repeats=5):
    best = 0.0
    for n in sizes:
        a = tf.random.normal((n, n))
        b = tf.random.normal((n, n))
        product = tf.function(lambda x, y: tf.linalg.matmul(x, y))
        product(a, b).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product(a, b).numpy()
            times.append(time.perf_counter() - start)
        best = max(best, 2 * n**3 / min(times))
    return best


def step_seconds(model, images, labels, repeats):
    iterator = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    step = step_function(model)
    for _ in range(2):
        step(iterator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(np.asarray(step(iterator)["loss"]))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet56")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results/utilisation.json")
    args = parser.parse_args()
    out = Path(args.out)
    files.writable_dir(out.parent)

    keras.utils.set_random_seed(0)
    peak = matmul_peak_flops()
    images = tf.random.normal((args.batch, 32, 32, 3))
    labels = tf.random.uniform((args.batch,), 0, 10, tf.int32)
    ddnn = ekd_model(args.arch, "shared")
    rows = []
    nominal_macs = sum(ddnn.multiply_accumulates(depth) for depth in ddnn.depths)
    seconds = step_seconds(ddnn, images, labels, args.repeats)
    rows.append({"step": "ekd (nominal work)", "seconds": seconds, "flops": 6 * nominal_macs * args.batch})
    for depth in ddnn.depths:
        alone = ddnn_tf.build_ddnn(f"resnet{depth}", 10, (32, 32, 3), depths=(depth,))
        seconds = step_seconds(alone, images, labels, args.repeats)
        rows.append({"step": f"resnet{depth} alone", "seconds": seconds,
                     "flops": 6 * alone.multiply_accumulates(depth) * args.batch})
    for row in rows:
        row["gflops_per_s"] = round(row["flops"] / row["seconds"] / 1e9, 2)
        row["fraction_of_matmul_peak"] = round(row["flops"] / row["seconds"] / peak, 3)
        row["seconds"] = round(row["seconds"], 4)

    print(f"float32 matmul peak: {peak / 1e9:.1f} GFLOP/s; batch {args.batch}")
    print(f"{'step':<22} {'s/step':>8} {'GFLOP/s':>9} {'of peak':>8}")
    for row in rows:
        print(f"{row['step']:<22} {row['seconds']:>8} {row['gflops_per_s']:>9} {row['fraction_of_matmul_peak']:>8.1%}")
    files.write_json(out, {"arch": args.arch, "batch": args.batch, "matmul_peak_gflops_per_s": round(peak / 1e9, 2),
                        "tensorflow": tf.__version__, "rows": rows})


if __name__ == "__main__":
    main()
