"""LiteRT latency and size of each exported depth against a plain ResNet of the same depth.

    python bench/deployment.py [--arch resnet56] [--threads 1] [--runs 200] [--out bench/results/deployment.json]

Each depth of a DDNN is exported as ddnn_tf exports it (``model.subnet``
on uint8 pixels, normalised inside the file). A plain CIFAR ResNet of the
same depth is built here from stock Keras layers and ops only (not from
ddnn_tf) and converted with the same converter settings, twice:

- on already normalised input (int8 input in the int8 file, as files were
  before ddnn_tf 0.2), the file without normalisation: ``normalisation_cost``
  is ddnn_tf's latency and size over it, minus 1 (goal: at most 2 %);
- on uint8 pixels it normalises first with a multiply and a subtract, as one
  would write it by hand: ``plain_pixels``.

Both in int8 and float32, batch 1. Latency is the median of ``--runs``
interleaved timed runs, in a new random order each round. The file without
normalisation is timed twice, as two interpreters of the same bytes: their
difference (``noise``) is how far apart two identical files time here.
"""

import argparse
import random
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

import ddnn_tf
from ddnn_tf import files, runtime
from ddnn_tf.data import normalization
from ddnn_tf.export import convert, settings
from ddnn_tf.runtime import timing


MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # any statistics: latency does not depend on them


def plain_cifar_resnet(depth, pixels=True, num_classes=10, input_shape=(32, 32, 3)):
    """He et al.'s CIFAR ResNet (option-A shortcuts) from stock Keras layers and ops, on uint8 pixels it
    normalises, or (``pixels=False``) on normalised float input."""
    blocks = (depth - 2) // 6
    inputs = x = keras.Input(input_shape, batch_size=1, dtype="uint8" if pixels else "float32")
    if pixels:
        x = (ops.cast(inputs, "float32") / 255.0 - np.float32(MEAN)) / np.float32(STD)
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(16, 3, padding="same", use_bias=False)(x)))
    for stage, width in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            h = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False)(x)
            h = layers.ReLU()(layers.BatchNormalization()(h))
            h = layers.BatchNormalization()(layers.Conv2D(width, 3, padding="same", use_bias=False)(h))
            shortcut = x
            if strides > 1:
                extra = width - x.shape[-1]
                shortcut = ops.pad(x[:, ::2, ::2, :], [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
            x = layers.ReLU()(layers.Add()([h, shortcut]))
    outputs = layers.Dense(num_classes)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def normalised_input_file(model, quantize, calibration):
    """The pre-0.2 kind of file: the export's converter settings on normalised float input, int8 input in int8."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    settings.configure(converter, quantize, lambda: ([image[np.newaxis]] for image in calibration), float_output=False)
    if quantize == "int8":
        converter.inference_input_type = tf.int8
    return convert.run_converter(converter)


def median_latencies(flatbuffers, threads, runs):
    """Median ms of ``invoke`` per file, on a zero input of its own dtype, runs interleaved."""
    runners = {name: runtime.Runner(flatbuffer, threads=threads) for name, flatbuffer in flatbuffers.items()}
    inputs = {}
    for name, runner in runners.items():
        inputs[name] = runner.zero_input()
        for _ in range(10):
            runner.invoke(inputs[name])
    timings = {name: [] for name in runners}
    order = list(runners)
    shuffle = random.Random(0).shuffle
    for _ in range(runs):
        # A new order every round: the file timed first after a large one pays
        # for the evicted caches, and a fixed order would always charge the same file.
        shuffle(order)
        for name in order:
            start = time.perf_counter()
            runners[name].invoke(inputs[name])
            timings[name].append((time.perf_counter() - start) * 1e3)
    return {name: timing.summarize(values)["median_ms"] for name, values in timings.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet56")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", default="bench/results/deployment.json")
    args = parser.parse_args()
    out = Path(args.out)
    files.writable_dir(out.parent)

    keras.utils.set_random_seed(0)
    model = ddnn_tf.build_ddnn(args.arch, 10, (32, 32, 3), pixel_mean=MEAN, pixel_std=STD)
    calibration = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype(np.uint8)
    flatbuffers = {}
    for quantize in ("int8", "float32"):
        for depth in model.depths:
            flatbuffers[("ddnn_tf", quantize, depth)] = convert.convert_depth(model, depth, quantize, calibration)
            flatbuffers[("plain_pixels", quantize, depth)] = convert.convert_model(
                plain_cifar_resnet(depth), quantize, calibration)
            normalised = normalization.normalize(calibration.astype(np.float32), np.float32(MEAN), np.float32(STD))
            flatbuffers[("normalised", quantize, depth)] = normalised_input_file(
                plain_cifar_resnet(depth, pixels=False), quantize, normalised)
            flatbuffers[("normalised_twin", quantize, depth)] = flatbuffers[("normalised", quantize, depth)]
    latency = median_latencies(flatbuffers, args.threads, args.runs)

    rows = []
    shallowest = model.depths[0]
    for depth in model.depths:
        row = {"depth": depth, "macs": model.multiply_accumulates(depth)}
        for quantize in ("int8", "float32"):
            ours, without = latency[("ddnn_tf", quantize, depth)], latency[("normalised", quantize, depth)]
            size, size_without = (len(flatbuffers[(kind, quantize, depth)]) for kind in ("ddnn_tf", "normalised"))
            row[f"{quantize}_ms"] = round(ours, 4)
            row[f"{quantize}_plain_ms"] = round(without, 4)
            row[f"{quantize}_plain_pixels_ms"] = round(latency[("plain_pixels", quantize, depth)], 4)
            row[f"{quantize}_normalisation_latency_cost"] = round(ours / without - 1, 4)
            row[f"{quantize}_noise"] = round(latency[("normalised_twin", quantize, depth)] / without - 1, 4)
            row[f"{quantize}_bytes"] = size
            row[f"{quantize}_plain_bytes"] = size_without
            row[f"{quantize}_normalisation_size_cost"] = round(size / size_without - 1, 4)
        row["int8_speedup_over_float32"] = round(row["float32_ms"] / row["int8_ms"], 2)
        row["int8_latency_over_shallowest"] = round(row["int8_ms"] / latency[("ddnn_tf", "int8", shallowest)], 2)
        row["macs_over_shallowest"] = round(row["macs"] / model.multiply_accumulates(shallowest), 2)
        rows.append(row)

    print(f"{args.arch}: median of {args.runs} interleaved runs, batch 1, {args.threads} thread(s), ms; "
          "plain: stock Keras on normalised input; px: stock Keras normalising by hand; cost: ddnn_tf over plain - 1; "
          "noise: plain's twin over plain - 1")
    print(f"{'depth':>5} {'int8':>7} {'plain':>7} {'px':>7} {'cost':>6} {'noise':>6} {'size':>6} {'float32':>7} "
          f"{'plain':>7} {'px':>7} {'cost':>6} {'noise':>6} {'size':>6} {'int8 x':>6} {'lat/d0':>6} {'mac/d0':>6}")
    for r in rows:
        print(f"{r['depth']:>5}" + "".join(
            f" {r[f'{q}_ms']:>7.3f} {r[f'{q}_plain_ms']:>7.3f} {r[f'{q}_plain_pixels_ms']:>7.3f}"
            f" {r[f'{q}_normalisation_latency_cost']:>+6.1%} {r[f'{q}_noise']:>+6.1%}"
            f" {r[f'{q}_normalisation_size_cost']:>+6.1%}"
            for q in ("int8", "float32"))
            + f" {r['int8_speedup_over_float32']:>6} {r['int8_latency_over_shallowest']:>6} {r['macs_over_shallowest']:>6}")
    files.write_json(out, {"arch": args.arch, "threads": args.threads, "runs": args.runs, "tensorflow": tf.__version__,
                        "rows": rows})


if __name__ == "__main__":
    main()
