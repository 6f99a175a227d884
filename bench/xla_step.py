"""The EKD training step with and without XLA on this machine.

    python bench/xla_step.py [--arch resnet56] [--batch 128] [--repeats 5] [--out bench/results/xla_step.json]

Times the training step of the DDNN that ``python -m ddnn_tf.train`` builds in
``mode=ekd`` (path BN, every distillation term), compiled with
``jit_compile=False`` and with ``jit_compile=True`` (median of interleaved
repeats on one fixed batch, after warm-up), and prints both. The trainer leaves
``jit_compile`` to Keras's "auto", which compiles with XLA only when a GPU is
present; this measures what that choice is worth on a CPU.
"""

import tensorflow as tf
from train_step import IMAGE_SHAPE, ekd_model, fixed_batch, median_step_seconds, parse_step_flags, step_function

from ddnn_tf import files


def main():
    args = parse_step_flags(__doc__, "bench/results/xla_step.json")
    batch = fixed_batch(args.batch)  # seeds the models' initial weights too
    steps = {f"jit_compile={jit}": step_function(ekd_model(args.arch, "path", IMAGE_SHAPE), jit) for jit in (False, True)}
    median = median_step_seconds(steps, batch, args.repeats)
    rows = [
        {"step": name, "ms": round(1e3 * seconds, 1), "images_per_s": round(args.batch / seconds, 1)}
        for name, seconds in median.items()
    ]
    xla_over_plain = round(median["jit_compile=True"] / median["jit_compile=False"], 3)
    print(f"{args.arch} EKD step, batch {args.batch}, median of {args.repeats} interleaved steps, "
          f"devices: {', '.join(d.device_type for d in tf.config.list_logical_devices())}")
    print(f"{'step':<18} {'ms':>9} {'img/s':>9}")
    for row in rows:
        print(f"{row['step']:<18} {row['ms']:>9} {row['images_per_s']:>9}")
    print(f"XLA step time over plain: {xla_over_plain}")
    files.write_json(args.out, {"arch": args.arch, "batch": args.batch, "repeats": args.repeats,
                                "tensorflow": tf.__version__, "rows": rows, "xla_over_plain": xla_over_plain})


if __name__ == "__main__":
    main()
