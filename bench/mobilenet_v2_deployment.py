"""LiteRT latency and size of the exported MobileNetV2 against stock keras.applications.MobileNetV2.

    python bench/mobilenet_v2_deployment.py [--widths 1.0,0.5] [--threads 1] [--runs 100]
        [--out bench/results/mobilenet_v2_deployment.json]

The full depth of a depth-level MobileNetV2 DDNN (holding depths 23, 38 and
53) is exported as ddnn_tf exports it (``model.subnet`` on uint8 pixels,
batch 1), and ``keras.applications.MobileNetV2`` of the same shape
(224x224, the same width multiplier, 1000 classes, logits), normalising the
same pixels first, is converted with the same converter settings; both int8
and float32. Latency is the median of ``--runs`` interleaved timed runs, in a
new random order each round. The goal is a ratio ddnn_tf / stock of at most 1.02.
"""

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from deployment import MEAN, STD, median_latencies  # bench/ is on the path when a bench script runs
from keras import ops

import ddnn_tf
from ddnn_tf import files
from ddnn_tf.export import convert

SHAPE = (224, 224, 3)
GOAL = 1.02


def stock_on_pixels(width):
    """keras.applications.MobileNetV2 at ``width`` on uint8 pixels it normalises, as every exported file does."""
    stock = keras.applications.MobileNetV2(input_shape=SHAPE, alpha=width, weights=None, classifier_activation=None)
    pixels = keras.Input(SHAPE, batch_size=1, dtype="uint8")
    normalised = (ops.cast(pixels, "float32") / 255.0 - np.float32(MEAN)) / np.float32(STD)
    return keras.Model(pixels, stock(normalised))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="1.0,0.5")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--out", default="bench/results/mobilenet_v2_deployment.json")
    args = parser.parse_args()
    out = Path(args.out)
    files.writable_dir(out.parent)
    widths = [float(w) for w in args.widths.split(",")]

    keras.utils.set_random_seed(0)
    calibration = np.random.default_rng(0).integers(0, 256, (16, *SHAPE)).astype(np.uint8)
    flatbuffers, parameters = {}, {}
    for width in widths:
        model = ddnn_tf.build_ddnn("mobilenet_v2", 1000, SHAPE, width=width, pixel_mean=MEAN, pixel_std=STD)
        stock = stock_on_pixels(width)
        parameters[width] = (model.subnet(model.full_depth).count_params(), stock.count_params())  # BN statistics too
        for quantize in ("int8", "float32"):
            flatbuffers[("ddnn_tf", quantize, width)] = convert.convert_depth(model, model.full_depth, quantize,
                                                                              calibration)
            flatbuffers[("stock", quantize, width)] = convert.convert_model(stock, quantize, calibration)
    latency = median_latencies(flatbuffers, args.threads, args.runs)

    rows = []
    for width in widths:
        row = {"width": width, "depth": 53, "parameters": parameters[width][0],
               "stock_parameters": parameters[width][1]}
        for quantize in ("int8", "float32"):
            ours, stock = latency[("ddnn_tf", quantize, width)], latency[("stock", quantize, width)]
            row[f"{quantize}_ms"] = round(ours, 3)
            row[f"{quantize}_stock_ms"] = round(stock, 3)
            row[f"{quantize}_ratio"] = round(ours / stock, 3)
            row[f"{quantize}_bytes"] = len(flatbuffers[("ddnn_tf", quantize, width)])
            row[f"{quantize}_stock_bytes"] = len(flatbuffers[("stock", quantize, width)])
        rows.append(row)

    print(f"MobileNetV2 {SHAPE[0]}x{SHAPE[1]}, full depth: median of {args.runs} interleaved runs, batch 1, "
          f"{args.threads} thread(s); goal: ratio <= {GOAL}")
    print(f"{'width':>5} {'params':>9} {'stock':>9} {'int8 ms':>8} {'stock':>8} {'ratio':>6} {'KiB':>7} {'stock':>7} "
          f"{'f32 ms':>8} {'stock':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['width']:>5} {r['parameters']:>9} {r['stock_parameters']:>9} {r['int8_ms']:>8.3f} "
              f"{r['int8_stock_ms']:>8.3f} {r['int8_ratio']:>6} {r['int8_bytes'] / 1024:>7.0f} "
              f"{r['int8_stock_bytes'] / 1024:>7.0f} {r['float32_ms']:>8.3f} {r['float32_stock_ms']:>8.3f} "
              f"{r['float32_ratio']:>6}")
    files.write_json(out, {"threads": args.threads, "runs": args.runs, "tensorflow": tf.__version__, "goal": GOAL,
                           "rows": rows})


if __name__ == "__main__":
    main()
