"""Regenerates the BN-mode and loss-weight tables of docs/design.md.

    python bench/ekd_defaults.py [--out bench/results/ekd_defaults.json]

A ResNet-20 holding depths 8 = (1,1,1) and 14 = (2,2,2), trained on 5,120 real
MNIST digits for 2 epochs (batch 64, SGD 0.05, momentum 0.9, cosine decay,
seed 0) per setting, scored on the 10,000 validation digits. About 6 minutes
on 2 CPU cores.
"""

import argparse
import time
from pathlib import Path

import keras

import ddnn_tf
from ddnn_tf import files

# (bn, kd_weight, at_weight, temperature)
SETTINGS = [
    ("shared", 0.0, 0.0, 4.0),
    ("private", 0.0, 0.0, 4.0),
    ("shared", 1.0, 0.0, 4.0),
    ("private", 1.0, 0.0, 4.0),
    ("private", 1.0, 50.0, 4.0),
    ("private", 1.0, 500.0, 4.0),
    ("private", 1.0, 0.0, 2.0),
]
EPOCHS, BATCH, EXAMPLES = 2, 64, 5120


def run(bn, kd_weight, at_weight, temperature):
    keras.utils.set_random_seed(0)
    model = ddnn_tf.build_ddnn(
        "resnet20", 10, (32, 32, 3), depths={8: (1, 1, 1), 14: (2, 2, 2)},
        bn=bn, kd_weight=kd_weight, at_weight=at_weight, temperature=temperature,
    )
    steps = EPOCHS * EXAMPLES // BATCH
    model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.05, steps), momentum=0.9))
    start = time.perf_counter()
    model.fit(ddnn_tf.data.mnist("train", BATCH, num_examples=EXAMPLES), epochs=EPOCHS, verbose=0)
    scores = model.evaluate(ddnn_tf.data.mnist("validation", 500), return_dict=True, verbose=0)
    return {
        "bn": bn, "kd_weight": kd_weight, "at_weight": at_weight, "temperature": temperature,
        "seconds": round(time.perf_counter() - start, 1),
        **{f"top1_{depth}": round(scores[f"acc_{depth}"], 4) for depth in model.depths},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/ekd_defaults.json")
    out = Path(parser.parse_args().out)
    files.writable_dir(out.parent)
    rows = []
    print(f"{'bn':<8} {'kd':>4} {'at':>6} {'T':>4} {'d8':>8} {'d14':>8} {'d20':>8} {'secs':>6}")
    for setting in SETTINGS:
        row = run(*setting)
        rows.append(row)
        print(f"{row['bn']:<8} {row['kd_weight']:>4} {row['at_weight']:>6} {row['temperature']:>4} "
              f"{100 * row['top1_8']:>7.2f}% {100 * row['top1_14']:>7.2f}% {100 * row['top1_20']:>7.2f}% "
              f"{row['seconds']:>6}", flush=True)
    files.write_json(out, {"settings": "docs/design.md", "rows": rows})


if __name__ == "__main__":
    main()
