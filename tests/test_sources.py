"""The offline sources: CIFAR-10 archives in both layouts, Fashion-MNIST's IDX files, the cache, the seeded split."""

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO

from ddnn_tf.config import base_config, stored_data_config
from ddnn_tf.data import cifar10, fashion_mnist, pipeline, sources
from ddnn_tf.errors import UsageError
from ddnn_tf.run import Run

SHARED_ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"
# The original arrays' training-set channel means, pixels in [0, 1]. libjpeg's decoding
# of the shared JPEGs gives 0.4913 / 0.4821 / 0.4465; the archive's README says
# 0.4911 / 0.4808 / 0.4444, which neither libjpeg's nor TensorFlow's faster decoding gives.
SHARED_MEANS = (0.4914, 0.4822, 0.4465)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DDNN_TF_CACHE", str(tmp_path / "cache"))


def _data(**changes):
    data = base_config().data
    data.update(batch_size=16, **changes)
    return data


def _add(archive, name, content):
    member = tarfile.TarInfo(name)
    member.size = len(content)
    archive.addfile(member, io.BytesIO(content))


def _python_archive(path, per_batch=10, seed=0):
    """A small cifar-10-python.tar.gz: five training batches and a test batch of random images."""
    rng = np.random.default_rng(seed)
    expected = {}
    with tarfile.open(path, "w:gz") as archive:
        for split, names in (("train", cifar10.PYTHON_BATCHES), ("test", ("test_batch",))):
            images, labels = [], []
            for name in names:
                batch_images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
                batch_labels = rng.integers(0, 10, per_batch).tolist()
                rows = batch_images.transpose(0, 3, 1, 2).reshape(per_batch, -1)  # red plane, green, blue
                _add(archive, f"cifar-10-batches-py/{name}", pickle.dumps({b"data": rows, b"labels": batch_labels}))
                images.append(batch_images)
                labels += batch_labels
            expected[split] = (np.concatenate(images), np.asarray(labels, np.int32))
    return expected


def _jpeg_archive(path, per_class=(6, 2), seed=0):
    """A small tarball in the JPEG layout; the expected pixels are Pillow's (libjpeg's) decoding of each file."""
    rng = np.random.default_rng(seed)
    expected = {}
    with tarfile.open(path, "w:xz") as archive:
        for split, count in zip(("train", "test"), per_class):
            images, labels = [], []
            for label, name in enumerate(cifar10.LABEL_NAMES):
                for i in range(count):
                    encoded = tf.io.encode_jpeg(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), quality=75).numpy()
                    _add(archive, f"CIFAR-10-images/{split}/{name}/{i:04d}.jpg", encoded)
                    images.append(np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")))
                    labels.append(label)
            expected[split] = (np.stack(images), np.asarray(labels, np.int32))
    return expected


@pytest.mark.parametrize("layout", ["python", "jpeg"])
def test_a_cifar10_archive_round_trips_pixels_and_labels(tmp_path, layout):
    path = tmp_path / ("cifar-10-python.tar.gz" if layout == "python" else "cifar10-jpeg.tar.xz")
    expected = (_python_archive if layout == "python" else _jpeg_archive)(path)
    splits, source = cifar10.load(_data(name="cifar10", archive=str(path)))
    for split in ("train", "test"):
        np.testing.assert_array_equal(splits[split][0], expected[split][0])
        np.testing.assert_array_equal(splits[split][1], expected[split][1])
    assert source == {"kind": "archive", "path": str(path), "sha256": files_sha256(path)}


def files_sha256(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_decoded_arrays_are_cached_by_the_archive_s_checksum(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    expected = _python_archive(path)
    cifar10.load(_data(name="cifar10", archive=str(path)))
    assert len(list((tmp_path / "cache").glob("cifar10-*.npz"))) == 1

    def no_decoding(_):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(cifar10, "_decode_archive", no_decoding)
    np.testing.assert_array_equal(cifar10.load(_data(name="cifar10", archive=str(path)))[0]["test"][0],
                                  expected["test"][0])
    _python_archive(path, seed=1)  # another archive at the same path: another checksum, decoded anew
    with pytest.raises(AssertionError, match="decoded again"):
        cifar10.load(_data(name="cifar10", archive=str(path)))


def test_cifar10_without_either_source_names_both_ways(tmp_path):
    with pytest.raises(UsageError, match="not prepared in tensorflow-datasets and data.archive is not set: "
                                         "prepare it with tensorflow-datasets.*cifar-10-python.tar.gz"):
        pipeline.check(_data(name="cifar10", data_dir=str(tmp_path / "tfds")))
    with pytest.raises(UsageError, match="archive /nonexistent.tar does not exist"):
        pipeline.check(_data(name="cifar10", data_dir=str(tmp_path / "tfds"), archive="/nonexistent.tar"))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar archive")
    with pytest.raises(UsageError, match="is unreadable or corrupt"):
        cifar10.load(_data(name="cifar10", data_dir=str(tmp_path / "tfds"), archive=str(broken)))


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
    splits, _ = fashion_mnist.load(_data(name="fashion_mnist", directory=str(tmp_path)))
    for split in ("train", "test"):
        np.testing.assert_array_equal(splits[split][0], expected[split][0])
        np.testing.assert_array_equal(splits[split][1], expected[split][1])
    # Through the pipeline: padded to 32x32x3, a seeded tenth of train is validation.
    data = _data(name="fashion_mnist", directory=str(tmp_path))
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
        pipeline.check(_data(name="fashion_mnist", directory=str(tmp_path)))
    truncated = tmp_path / "truncated"
    _write_idx(truncated, np.zeros((4, 28, 28)), compress=False)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(UsageError, match="is truncated"):
        fashion_mnist.read_idx(truncated)


def test_a_cifar10_run_with_seed_3_never_evaluates_on_one_of_its_training_images(tmp_path):
    from ddnn_tf.config import base_config as config_defaults
    from ddnn_tf.training import trainer

    archive = tmp_path / "cifar10.tar.xz"
    _jpeg_archive(archive, per_class=(10, 3))
    config = config_defaults()
    config.seed = 3
    config.data.update(name="cifar10", archive=str(archive), batch_size=16)
    config.model.update(arch="resnet8", width=0.25)
    trainer.train(config, tmp_path / "run")
    run = Run(tmp_path / "run")
    assert run.data["source"]["validation_seed"] == 3
    trained, _, _ = pipeline.load(config.data, seed=3)
    trained = {x.tobytes() for x in pipeline.take_examples(trained, 1000)[0]}
    for role, count in (("validation", 10), ("eval", 30)):
        # What evaluation, export and the benchmark see: read back from run.json alone.
        _, held_out, _ = run.datasets(role)
        held = {x.tobytes() for x in pipeline.take_examples(held_out, 1000)[0]}
        assert len(held) == count and not held & trained
    assert len(trained) == 100 - 10
    # Another seed holds out other images, and a stored run refuses to be scored on them.
    _, other, _ = pipeline.load(config.data, seed=0, role="validation")
    assert {x.tobytes() for x in pipeline.take_examples(other, 1000)[0]} != held
    changed = {**run.data, "source": {**run.data["source"], "validation_sha256": "0" * 64}}
    with pytest.raises(UsageError, match="split off other validation images than the run did"):
        pipeline.load_stored(stored_data_config(run.config["data"]), 3, "validation", changed)


@pytest.mark.skipif(not SHARED_ARCHIVE.is_file(), reason=f"the shared CIFAR-10 archive {SHARED_ARCHIVE} is not here")
def test_the_shared_cifar10_archive_splits_45000_5000_10000_balanced_with_its_means():
    data = _data(name="cifar10", archive=str(SHARED_ARCHIVE))
    splits = sources.load(data, seed=0, role="eval")
    validation = sources.load(data, seed=0, role="validation").held_out
    assert (splits.train.size, validation.size, splits.held_out.size) == (45_000, 5_000, 10_000)
    assert np.bincount(splits.held_out.labels).tolist() == [1_000] * 10
    assert np.bincount(np.concatenate([splits.train.labels, validation.labels])).tolist() == [5_000] * 10
    assert 400 <= np.bincount(validation.labels).min() and np.bincount(validation.labels).max() <= 600
    training = np.concatenate([splits.train.elements, validation.elements]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(training.mean(0), SHARED_MEANS, atol=0.002)
