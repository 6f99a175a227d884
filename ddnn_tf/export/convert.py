"""A DDNN's depths as TFLite flatbuffers: one depth per file, or every depth as a signature of one bundle.

Every file takes uint8 pixels in [0, 255] and normalises them inside (the
DDNN's ``PixelNormalization``, the training pipeline's arithmetic), so a
phone or a board feeds an image's bytes as they are, whatever the quantize
mode. ``ddnn_tf.export.writer`` validates and writes them.
"""

import contextlib
import io as io_module
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from ddnn_tf.export import settings
from ddnn_tf.startup import filtered_native_stderr


def signature_name(depth):
    return f"depth_{depth}"


def run_converter(converter):
    """``converter.convert()`` with the converter's and Keras's chatter kept out of the terminal."""
    # Keras prints a listing of every captured variable while tracing for the
    # converter, and the converter's C++ core logs every step of reading the
    # SavedModel; the files' own report is what users need to see.
    with contextlib.redirect_stdout(io_module.StringIO()), filtered_native_stderr(), warnings.catch_warnings():
        # int8 files are calibrated by the representative dataset, not by input statistics.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def convert_model(keras_model, quantize, calibration_images, float_output=False):
    """A single-input Keras model as a TFLite flatbuffer (bytes), in one quantize mode."""

    def calibration():
        for image in calibration_images:
            yield [image[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    return run_converter(settings.configure(converter, quantize, calibration, float_output))


def convert_depth(model, depth, quantize, calibration_images, float_output=False):
    """One depth's standalone sub-net on pixels as a batch-1 TFLite flatbuffer (bytes).

    ``model`` is a DDNN that takes pixels (it holds their statistics); ``calibration_images`` are uint8 pixels.
    """
    return convert_model(model.subnet(depth, batch_size=1), quantize, calibration_images, float_output)


def convert_bundle(model, depths, quantize, calibration_images, float_output=False):
    """One TFLite flatbuffer with a ``depth_N`` signature per depth on pixels, variables shared."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((1, *model.image_shape), tf.uint8, name="pixels")
    for depth in depths:
        archive.add_endpoint(
            name=signature_name(depth),
            fn=lambda pixels, depth=depth: {"logits": model(pixels, depth=depth, training=False)},
            input_signature=[spec],
        )

    def calibration():
        for depth in depths:
            for image in calibration_images:
                yield signature_name(depth), {"pixels": image[np.newaxis]}

    with tempfile.TemporaryDirectory() as saved_model:
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model, signature_keys=[signature_name(depth) for depth in depths]
        )
        return run_converter(settings.configure(converter, quantize, calibration, float_output))


