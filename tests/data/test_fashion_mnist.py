"""Fashion-MNIST from its IDX files: pixels and labels round-trip, bad files are refused."""

import gzip

import numpy as np
import pytest
from conftest import data_config

from ddnn_tf.data import fashion_mnist, pipeline
from ddnn_tf.errors import UsageError

pytestmark = pytest.mark.usefixtures("own_data_cache")


def _write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(size.to_bytes(4, "big") for size in array.shape)
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx_files_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    expected = {}
    for split, count in (("train", 40), ("test", 10)):
        images, labels = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), rng.integers(0, 10, count)
        names = fashion_mnist.FILES[split]
        suffix = ".gz" if compress else ""
        _write_idx(tmp_path / f"{names[0]}{suffix}", images, compress)
        _write_idx(tmp_path / f"{names[1]}{suffix}", labels, compress)
        expected[split] = (images, labels)
    splits, _ = fashion_mnist.load(data_config(name="fashion_mnist", directory=str(tmp_path)))
    for split in ("train", "test"):
        np.testing.assert_array_equal(splits[split][0], expected[split][0])
        np.testing.assert_array_equal(splits[split][1], expected[split][1])
    # Through the pipeline: padded to 32x32x3, a seeded tenth of train is validation.
    data = data_config(name="fashion_mnist", directory=str(tmp_path))
    data.batch_size = 64
    train, validation, info = pipeline.load(data, role="validation")
    train_images, _ = pipeline.take_examples(train, 100)
    validation_images, _ = pipeline.take_examples(validation, 100)
    assert (len(train_images), len(validation_images)) == (36, 4) and info.image_shape == (32, 32, 3)
    assert info.label_names[9] == "ankle boot"
    np.testing.assert_array_equal(validation_images[:, 2:30, 2:30, 1], validation_images[:, 2:30, 2:30, 0])
    assert not validation_images[:, :2].any(), "a 2-pixel background border"


def test_fashion_mnist_bad_files(tmp_path):
    with pytest.raises(UsageError, match="fashion_mnist file .*train-images-idx3-ubyte.*does not exist; install Debian"):
        pipeline.check(data_config(name="fashion_mnist", directory=str(tmp_path)))
    truncated = tmp_path / "truncated"
    _write_idx(truncated, np.zeros((4, 28, 28)), compress=False)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(UsageError, match="is truncated"):
        fashion_mnist.read_idx(truncated)
