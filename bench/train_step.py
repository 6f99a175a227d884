"""Training-step cost of EKD against training each depth alone.

    python bench/train_step.py [--arch resnet56] [--batch 128] [--repeats 5] [--out bench/results/train_step.json]

On one batch, times (median of interleaved repeats, after warm-up):
  - the EKD step of a DDNN with shared BN (every depth; the stem, the common
    prefix and every block a deeper depth shares with a shallower one
    computed once),
  - the same with private BN (only the stem and the common prefix shared),
  - the same with path BN (a block several depths reach by one path computed
    once, as with shared BN, with a BN of its own per path),
  - the training step of each depth alone, as a plain single-depth network,
and prints the ratio of the EKD step to the sum of the separate steps and to
the full net's step alone.
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
from ddnn_tf.config import base_config
from ddnn_tf.data import pipeline
from ddnn_tf.training import trainer


def ekd_model(arch, bn, image_shape=(32, 32, 3)):
    """The DDNN of ``mode=ekd``, as ``python -m ddnn_tf.train`` builds it: every distillation term on.

    Not ``build_ddnn``'s defaults, which train jointly: the step timed here is EKD's.
    """
    config = base_config()
    config.mode = "ekd"
    config.model.arch = arch
    config.model.bn = bn
    info = pipeline.DataInfo("synthetic", 10, image_shape, (0.5,) * 3, (0.25,) * 3, tuple(map(str, range(10))))
    return trainer.build_model(config, info)


def step_function(model, jit_compile=False):
    """A compiled training step of ``model`` on a fixed batch."""
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit_compile)
    model.make_train_function()
    return model.train_function


def median_step_seconds(steps, iterator, repeats):
    """``{name: median seconds}`` of each step, after two warm-up calls, timed interleaved."""
    for step in steps.values():  # trace and warm up
        for _ in range(2):
            step(iterator)
    timings = {name: [] for name in steps}
    for _ in range(repeats):  # interleaved, so drift in machine load hits every candidate
        for name, step in steps.items():
            start = time.perf_counter()
            logs = step(iterator)
            float(np.asarray(logs["loss"]))
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in timings.items()}


IMAGE_SHAPE = (32, 32, 3)


def parse_step_flags(doc, out):
    """The flags of a step benchmark (``--arch --batch --repeats --out``), with ``--out``'s folder made writable."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--arch", default="resnet56")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    files.writable_dir(Path(args.out).parent)
    return args


def fixed_batch(size):
    """An iterator repeating one seeded batch of random 32x32x3 images and labels."""
    keras.utils.set_random_seed(0)
    images = tf.random.normal((size, *IMAGE_SHAPE))
    labels = tf.random.uniform((size,), 0, 10, tf.int32)
    return iter(tf.data.Dataset.from_tensors((images, labels)).repeat())


def main():
    args = parse_step_flags(__doc__, "bench/results/train_step.json")
    batch, shape = fixed_batch(args.batch), IMAGE_SHAPE
    candidates = {
        "ekd_shared_bn": ekd_model(args.arch, "shared", shape),
        "ekd_private_bn": ekd_model(args.arch, "private", shape),
        "ekd_path_bn": ekd_model(args.arch, "path", shape),
    }
    depths = candidates["ekd_shared_bn"].depths
    for depth in depths:
        candidates[f"alone_{depth}"] = ddnn_tf.build_ddnn(f"resnet{depth}", 10, shape, depths=(depth,))
    steps = {name: step_function(model) for name, model in candidates.items()}
    median = median_step_seconds(steps, batch, args.repeats)
    alone_sum = sum(median[f"alone_{d}"] for d in depths)
    full_alone = median[f"alone_{depths[-1]}"]
    rows = [
        {"step": name, "ms": round(1e3 * seconds, 1), "images_per_s": round(args.batch / seconds, 1)}
        for name, seconds in median.items()
    ]
    summary = {
        "ekd_shared_over_sum_of_alone": round(median["ekd_shared_bn"] / alone_sum, 3),
        "ekd_private_over_sum_of_alone": round(median["ekd_private_bn"] / alone_sum, 3),
        "ekd_path_over_sum_of_alone": round(median["ekd_path_bn"] / alone_sum, 3),
        "ekd_path_over_shared": round(median["ekd_path_bn"] / median["ekd_shared_bn"], 3),
        "ekd_shared_over_full_alone": round(median["ekd_shared_bn"] / full_alone, 3),
        "ekd_private_over_full_alone": round(median["ekd_private_bn"] / full_alone, 3),
        "saved_by_sharing_blocks_beyond_the_prefix": round(1 - median["ekd_shared_bn"] / median["ekd_private_bn"], 3),
    }
    print(f"{args.arch}, depths {depths}, batch {args.batch}, median of {args.repeats} interleaved steps")
    print(f"{'step':<18} {'ms':>9} {'img/s':>9}")
    for row in rows:
        print(f"{row['step']:<18} {row['ms']:>9} {row['images_per_s']:>9}")
    for key, value in summary.items():
        print(f"{key}: {value}")
    files.write_json(args.out, {"arch": args.arch, "depths": list(depths), "batch": args.batch, "repeats": args.repeats,
                        "tensorflow": tf.__version__, "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
