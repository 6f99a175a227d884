"""What each way of normalising pixels inside a TFLite file costs, on a first convolution alone.

    python bench/normalisation_ops.py [--runs 3000] [--out bench/results/normalisation_ops.json]

One int8 file per form, each a 3x3 convolution of 16 channels on a 32x32x3
image with CIFAR-10's statistics, batch 1, 1 thread: the convolution on
already normalised int8 input (``none``, the reference); on uint8 pixels
scaled only (``scale_only``: cast and quantize, the floor of any file on
pixels); normalised with a multiply and an add (``multiply_add``); with a
1x1 depthwise convolution over the image's three channels
(``depthwise_3``); over groups of 4, 8 and 16 pixels (``depthwise_grouped_k``,
ddnn_tf's ``PixelNormalization`` takes 16). Median microseconds of
``--runs`` interleaved invokes, and each form's extra over ``none``.
"""

import argparse
import random
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from ddnn_tf import files, runtime
from ddnn_tf.data import normalization
from ddnn_tf.export import convert, settings
from ddnn_tf.runtime import timing

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)  # CIFAR-10's
FORMS = ("none", "scale_only", "multiply_add", "depthwise_3", "depthwise_grouped_4", "depthwise_grouped_8",
         "depthwise_grouped_16")


def normalised(form, pixels):
    """``pixels`` (float32, [0, 255]) normalised by ``form``."""
    if form == "scale_only":
        return pixels * (1 / 255.0)
    if form == "multiply_add":
        return normalization.normalize(pixels, MEAN, STD)
    group = 1 if form == "depthwise_3" else int(form.rsplit("_", 1)[1])
    kernel, bias = normalization.grouped_filter(MEAN, STD, group)
    grouped = ops.reshape(pixels, (1, 32, 32 // group, 3 * group))
    return ops.reshape(ops.depthwise_conv(grouped, kernel) + bias, (1, 32, 32, 3))


def int8_file(form, convolution, pixels):
    inputs = keras.Input((32, 32, 3), batch_size=1, dtype="float32" if form == "none" else "uint8")
    x = inputs if form == "none" else normalised(form, ops.cast(inputs, "float32"))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, layers.ReLU()(convolution(x))))
    samples = normalization.normalize(pixels.astype(np.float32), MEAN, STD) if form == "none" else pixels
    settings.configure(converter, "int8", lambda: ([image[np.newaxis]] for image in samples), float_output=False)
    if form == "none":
        converter.inference_input_type = tf.int8
    return convert.run_converter(converter)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--out", default="bench/results/normalisation_ops.json")
    args = parser.parse_args()
    out = Path(args.out)
    files.writable_dir(out.parent)

    keras.utils.set_random_seed(0)
    convolution = layers.Conv2D(16, 3, padding="same", use_bias=False)
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 32, 3)).astype(np.uint8)
    flatbuffers = {form: int8_file(form, convolution, pixels) for form in FORMS}
    runners = {form: runtime.Runner(flatbuffer, threads=1) for form, flatbuffer in flatbuffers.items()}
    inputs = {form: runner.zero_input() for form, runner in runners.items()}
    for _ in range(20):
        for form in FORMS:
            runners[form].invoke(inputs[form])
    timings = {form: [] for form in FORMS}
    order, shuffle = list(FORMS), random.Random(0).shuffle
    for _ in range(args.runs):
        shuffle(order)
        for form in order:
            start = time.perf_counter()
            runners[form].invoke(inputs[form])
            timings[form].append((time.perf_counter() - start) * 1e6)
    medians = {form: timing.summarize(values)["median_ms"] for form, values in timings.items()}
    rows = [{"form": form, "ops": runtime.op_names(flatbuffers[form]), "median_us": round(medians[form], 2),
             "extra_us": round(medians[form] - medians["none"], 2), "bytes": len(flatbuffers[form])} for form in FORMS]

    print(f"int8 3x3 convolution on 32x32x3, batch 1, 1 thread: median of {args.runs} interleaved invokes")
    print(f"{'form':<22} {'us':>7} {'extra':>7} {'bytes':>6}  ops")
    for row in rows:
        print(f"{row['form']:<22} {row['median_us']:>7.2f} {row['extra_us']:>+7.2f} {row['bytes']:>6}  "
              f"{' '.join(row['ops'])}")
    files.write_json(out, {"runs": args.runs, "tensorflow": tf.__version__, "rows": rows})


if __name__ == "__main__":
    main()
