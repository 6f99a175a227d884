"""The model's own layers."""

import keras
import numpy as np
import pytest


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 28, 28, 1), (3, 32, 32, 3)])
def test_pixel_normalization_is_the_pipeline_s_formula_and_round_trips_its_config(shape):
    from ddnn_tf.data import normalization
    from ddnn_tf.models import PixelNormalization

    mean, std = (0.1, 0.2, 0.3)[: shape[-1]], (0.5, 0.25, 0.2)[: shape[-1]]
    layer = PixelNormalization(mean=mean, std=std)
    again = PixelNormalization.from_config(layer.get_config())
    pixels = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    expected = normalization.normalize(pixels.astype(np.float32), np.float32(mean), np.float32(std))
    for candidate in (layer, again):
        out = candidate(pixels)
        assert out.dtype == "float32"
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), expected)
    # The pipeline's formula is the textbook one, up to float32 rounding.
    textbook = (pixels / 255.0 - np.asarray(mean)) / np.asarray(std)
    np.testing.assert_allclose(expected, textbook, rtol=0, atol=1e-5)


def test_pixel_normalization_refuses_an_image_of_unknown_width():
    import tensorflow as tf

    from ddnn_tf.models import PixelNormalization

    layer = PixelNormalization(mean=(0.5,) * 3, std=(0.25,) * 3)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, 32, None, 3), tf.uint8)])
    with pytest.raises(ValueError, match="needs a fixed image shape; got input shape \\(None, 32, None, 3\\)"):
        traced.get_concrete_function()
