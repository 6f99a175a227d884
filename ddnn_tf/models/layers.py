"""Layers the stock Keras set lacks."""

import keras
from keras import ops

from ddnn_tf.data import normalization


@keras.saving.register_keras_serializable(package="ddnn_tf")
class ZeroPadShortcut(keras.layers.Layer):
    """He et al.'s parameter-free shortcut (option A) for the CIFAR ResNets.

    Subsamples the input by ``strides`` and pads the new channels with zeros,
    half before and half after the existing ones.

    Example:
    >>> ZeroPadShortcut(channels=32, strides=2)(keras.ops.ones((1, 8, 8, 16))).shape
    (1, 4, 4, 32)
    """

    def __init__(self, channels, strides, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.strides = strides

    def call(self, inputs):
        subsampled = inputs[:, :: self.strides, :: self.strides, :]
        extra = self.channels - inputs.shape[-1]
        return ops.pad(subsampled, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape

        def subsample(size):
            return None if size is None else -(-size // self.strides)

        return (batch, subsample(height), subsample(width), self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "strides": self.strides}


@keras.saving.register_keras_serializable(package="ddnn_tf")
class PixelNormalization(keras.layers.Layer):
    """Pixels in [0, 255] (any numeric dtype) to the normalised float32 input the network trained on.

    The first layer of every exported file (``DDNN.subnet`` of a DDNN that holds pixel statistics),
    so that phones and boards feed an image's bytes as they are, and the
    model's first layer in training. The arithmetic is
    ``ddnn_tf.data.normalization.normalize``, shared with the QAT worker and
    ``ddnn_tf.data.mnist``, rather than ``keras.layers.Normalization``, which
    divides by ``sqrt(variance)``; it runs as a depthwise convolution over
    groups of pixels (``normalization.grouped_filter``), the cheapest form in a
    TFLite file.

    Example:
    >>> PixelNormalization(mean=(0.5,), std=(0.25,))(keras.ops.full((1, 1, 1, 1), 255, "uint8"))
    <tf.Tensor: shape=(1, 1, 1, 1), dtype=float32, numpy=array([[[[2.]]]], dtype=float32)>
    """

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        if None in (height, width, channels):
            raise ValueError(f"PixelNormalization needs a fixed image shape; got input shape {tuple(inputs.shape)}")
        group = normalization.group_size(width)
        kernel, bias = normalization.grouped_filter(self.mean, self.std, group)
        grouped = ops.reshape(ops.cast(inputs, "float32"), (-1, height, width // group, group * channels))
        return ops.reshape(ops.depthwise_conv(grouped, kernel) + bias, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}
