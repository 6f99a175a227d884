"""The model's own layers."""

import keras
import numpy as np


def test_pixel_normalization_is_the_pipeline_s_formula_and_round_trips_its_config():
    from ddnn_tf.data import normalization
    from ddnn_tf.models import PixelNormalization

    layer = PixelNormalization(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.2))
    again = PixelNormalization.from_config(layer.get_config())
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype(np.uint8)
    expected = normalization.normalize(pixels.astype(np.float32), np.float32([0.1, 0.2, 0.3]),
                                       np.float32([0.5, 0.25, 0.2]))
    for candidate in (layer, again):
        out = candidate(pixels)
        assert out.dtype == "float32"
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), expected)
