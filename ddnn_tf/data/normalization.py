"""How pixels become model input, written once for training, the exported files and the QAT worker.

It imports nothing: ``pixels`` may be a numpy array, a TensorFlow tensor or
a Keras tensor of float32 pixel values in [0, 255]. The training pipeline
applies it to every batch; every exported file applies it inside itself
(``ddnn_tf.models.layers.PixelNormalization``), so phones and boards feed
raw uint8 pixels; the tf_keras QAT worker, which must not import Keras 3,
loads this file by its path.
"""


def normalize(pixels, mean, std):
    """``(pixels / 255 - mean) / std`` per channel; ``mean`` and ``std`` are of pixels scaled to [0, 1]."""
    return (pixels / 255.0 - mean) / std
