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
    assert all(after[depth] > before[depth] + 0.05 for depth in model.depths), (before, after)


def test_shared_bn_is_recalibrated_on_a_copy_only(mnist_batch):
    model = build_tiny(bn="shared")
    for depth in (None, 8):  # in place it would break the other depths: refused
        with pytest.raises(ValueError, match="Use ddnn_tf.recalibrated_subnet"):
            ddnn_tf.recalibrate_bn(model, _batches(), depth=depth)
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
