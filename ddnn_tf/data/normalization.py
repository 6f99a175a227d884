"""How pixels become model input, written once for training, the exported files and the QAT worker.

It imports nothing: ``pixels`` may be a numpy array, a TensorFlow tensor or
a Keras tensor of float32 pixel values in [0, 255]. A ``DDNN`` that holds its
pixel statistics applies it as its first layer
(``ddnn_tf.models.layers.PixelNormalization``), in training and in every file
exported from it, so phones and boards feed raw uint8 pixels;
``ddnn_tf.data.mnist`` applies it for models built without statistics; the
tf_keras QAT worker, which must not import Keras 3, loads this file by its path.
"""


def normalize(pixels, mean, std):
    """``(pixels / 255 - mean) / std`` per channel; ``mean`` and ``std`` are of pixels scaled to [0, 1]."""
    return (pixels / 255.0 - mean) / std
