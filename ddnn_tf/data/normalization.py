"""How pixels become model input, written once for training, the exported files and the QAT worker.

It imports numpy only: ``pixels`` may be a numpy array, a TensorFlow tensor
or a Keras tensor of float32 pixel values in [0, 255]. A ``DDNN`` that holds
its pixel statistics applies it as its first layer
(``ddnn_tf.models.layers.PixelNormalization``), in training and in every file
exported from it, so phones and boards feed raw uint8 pixels;
``ddnn_tf.data.mnist`` applies it for models built without statistics; the
tf_keras QAT worker, which must not import Keras 3, loads this file by its path.
"""

import numpy as np


def scale_and_offset(mean, std):
    """``(pixels / 255 - mean) / std`` as ``pixels * scale + offset``, float32 constants per channel.

    ``mean`` and ``std`` are of pixels scaled to [0, 1].
    """
    mean, std = np.float32(mean), np.float32(std)
    return 1.0 / (255.0 * std), -mean / std


def normalize(pixels, mean, std):
    """``(pixels / 255 - mean) / std`` per channel, as one multiply and one add (``scale_and_offset``)."""
    scale, offset = scale_and_offset(mean, std)
    return pixels * scale + offset


# Pixels per group: XNNPACK's depthwise kernels run many channels at a time,
# so 16 RGB pixels (48 channels) cost 3.9 us where the image's own three
# channels cost 9.2 us, on a first convolution of 45 us
# (bench/normalisation_ops.py); wider groups add bytes to the file.
MAX_GROUP = 16


def group_size(width):
    """Pixels per group along an image row: the largest divisor of ``width`` up to ``MAX_GROUP``."""
    return max(size for size in range(1, MAX_GROUP + 1) if width % size == 0)


def grouped_filter(mean, std, group):
    """``normalize`` as a 1x1 depthwise convolution over groups of ``group`` pixels: its kernel and bias.

    An image of shape (height, width, channels) reshaped to (height, width /
    group, group * channels) and convolved with this kernel, bias added, is
    ``normalize`` of it, to the bit. In a TFLite file that is one
    DEPTHWISE_CONV_2D which XNNPACK runs in int8 and float32 alike; per-channel
    MUL and ADD ops take several times as long (bench/deployment.py).
    """
    scale, offset = scale_and_offset(mean, std)
    return np.tile(scale, group).reshape(1, 1, -1, 1), np.tile(offset, group)
