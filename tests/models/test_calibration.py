"""BN recalibration."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import build_tiny

import ddnn_tf


def _batches(count=2, batch_size=64):
    return ddnn_tf.data.mnist("train", batch_size=batch_size, num_examples=count * batch_size, shuffle=False)


def test_statistics_become_the_average_of_the_batch_statistics():
    model = build_tiny(bn="private")
    batches = list(_batches(count=3))
    ddnn_tf.recalibrate_bn(model, tf.data.Dataset.from_tensor_slices(
        (tf.stack([b[0] for b in batches]), tf.stack([b[1] for b in batches]))), depth=8, num_batches=3)
    stem = model.backbone._layer_table["stem_conv"]
    means = [np.mean(stem(images).numpy(), axis=(0, 1, 2)) for images, _ in batches]
    variances = [np.var(stem(images).numpy(), axis=(0, 1, 2)) for images, _ in batches]
    bn = model.backbone._layer_table["stem_bn"]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(variances, axis=0), rtol=1e-3, atol=1e-5)
    assert bn.momentum == 0.9, "the training momentum is restored"


def test_private_bn_keeps_each_depths_statistics():
    model = build_tiny(bn="private")
    other = model.backbone._layer_table["stage2_block1_bn1_depth14"]
    before = other.moving_mean.numpy().copy()
    ddnn_tf.recalibrate_bn(model, _batches(), depth=8, num_batches=2)
    np.testing.assert_array_equal(other.moving_mean.numpy(), before)
    assert not np.array_equal(model.backbone._layer_table["stage2_block1_bn1_depth8"].moving_mean.numpy(), 0)
    assert ddnn_tf.recalibrate_bn(model, _batches(), num_batches=2) == 128


def test_recalibration_repairs_unconverged_statistics():
    # After 16 steps the moving averages still hold 0.9**16 = 19% of their initial
    # values: inference is poor until the statistics are re-estimated.
    model = build_tiny(bn="private")
    model.compile(optimizer="adam")
    model.fit(ddnn_tf.data.mnist("train", batch_size=64, num_examples=1024), epochs=1, verbose=0)
    images, labels = next(iter(ddnn_tf.data.mnist("test", batch_size=500)))

    def accuracy(depth):
        return float(np.mean(np.argmax(model(images, depth=depth), -1) == labels.numpy()))

    before = {depth: accuracy(depth) for depth in model.depths}
    ddnn_tf.recalibrate_bn(model, ddnn_tf.data.mnist("train", batch_size=64), num_batches=10)
    after = {depth: accuracy(depth) for depth in model.depths}
    # Measured: +5, +25 and +29 points at depths 8, 14 and 20 (ResNet-8 has the fewest BN layers to repair).
    assert all(after[depth] > before[depth] + 0.03 for depth in model.depths), (before, after)
    assert after[20] > before[20] + 0.2, (before, after)


def test_shared_bn_is_recalibrated_on_a_copy_only(mnist_batch):
    model = build_tiny(bn="shared")
    with pytest.raises(ValueError, match="Use ddnn_tf.recalibrated_subnet"):  # in place it would break the others
        ddnn_tf.recalibrate_bn(model, _batches(), depth=8)
    with pytest.raises(ValueError, match="valid choices: 8, 14, 20"):
        ddnn_tf.recalibrate_bn(build_tiny(), _batches(), depth=18)
    images = mnist_batch[0]
    before = {depth: model(images, depth=depth, training=False).numpy() for depth in model.depths}
    resnet8 = ddnn_tf.recalibrated_subnet(model, _batches(count=3), depth=8, num_batches=3)
    for depth in model.depths:  # the DDNN is untouched
        np.testing.assert_array_equal(model(images, depth=depth, training=False).numpy(), before[depth])
    # The copy has the depth's weights and statistics of its own, estimated on depth 8's inputs.
    assert not np.allclose(resnet8(images, training=False).numpy(), before[8])
    stem_bn = next(layer for layer in resnet8.layers if layer.name == "stem_bn")
    assert not np.allclose(stem_bn.moving_mean.numpy(), model.backbone._layer_table["stem_bn"].moving_mean.numpy())


def test_recalibrated_subnet_matches_in_place_recalibration_for_private_bn(mnist_batch):
    model = build_tiny(bn="private")
    copy = ddnn_tf.recalibrated_subnet(model, _batches(), depth=14, num_batches=2)
    ddnn_tf.recalibrate_bn(model, _batches(), depth=14, num_batches=2)
    np.testing.assert_allclose(copy(mnist_batch[0], training=False), model(mnist_batch[0], depth=14, training=False),
                               rtol=1e-4, atol=1e-5)


def test_shared_bn_is_reestimated_as_the_blend_of_every_depth():
    """Each shared BN ends as the plain average of the batches it saw, in however many depths run it."""
    model = build_tiny(bn="shared")
    table = model.backbone._layer_table
    full_only = table["stage2_block3_bn1"]  # in ResNet-20 only
    alone = ddnn_tf.recalibrated_subnet(model, _batches(count=3), depth=20, num_batches=3)
    assert ddnn_tf.recalibrate_bn(model, _batches(count=3), num_batches=3) == 192
    # Training mode normalises by the batch, so the layer's inputs are those of depth 20 alone.
    copied = next(layer for layer in alone.layers if layer.name == "stage2_block3_bn1")
    np.testing.assert_allclose(full_only.moving_mean.numpy(), copied.moving_mean.numpy(), rtol=1e-4, atol=1e-5)
    stem = table["stem_bn"]  # in every depth, on the same images: the average of three passes of each batch
    stem_alone = next(layer for layer in alone.layers if layer.name == "stem_bn")
    np.testing.assert_allclose(stem.moving_variance.numpy(), stem_alone.moving_variance.numpy(), rtol=1e-3, atol=1e-5)
    assert {layer.momentum for layer in (stem, full_only)} == {0.9}


def test_statistics_lag_counts_the_initial_values_and_the_steps_at_a_high_rate():
    from ddnn_tf.models.calibration import STALE_LIMIT, statistics_lag

    assert statistics_lag([], 0.9) == 1.0, "no step: the initial values"
    np.testing.assert_allclose(statistics_lag([1.0] * 8, 0.9), 1.0)  # the initial 43 % and 57 % at the peak
    np.testing.assert_allclose(statistics_lag([0.0] * 8, 0.9), 0.9 ** 8)
    cosine_to_zero = 0.5 * (1 + np.cos(np.pi * np.arange(2000) / 2000))
    assert statistics_lag(cosine_to_zero, 0.9) < 0.001 < STALE_LIMIT
    assert statistics_lag(cosine_to_zero[:8], 0.9) > 0.5, "a handful of steps"
    assert statistics_lag(cosine_to_zero[:1000], 0.9) > 0.4, "stopped halfway down"
