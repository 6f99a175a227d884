"""CIFAR-10 without a network: both archive layouts, the error naming both ways, the shared archive."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from cifar10_archives import jpeg_archive, python_archive
from conftest import SHARED_CIFAR10, data_config

from ddnn_tf.config import stored_data_config
from ddnn_tf.data import cifar10, pipeline, sources
from ddnn_tf.errors import UsageError
from ddnn_tf.run import Run

pytestmark = pytest.mark.usefixtures("own_data_cache")

# The original arrays' training-set channel means, pixels in [0, 1]. libjpeg's decoding
# of the shared JPEGs gives 0.4913 / 0.4821 / 0.4465; the archive's README says
# 0.4911 / 0.4808 / 0.4444, which neither libjpeg's nor TensorFlow's faster decoding gives.
SHARED_MEANS = (0.4914, 0.4822, 0.4465)


def files_sha256(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("layout", ["python", "python2", "jpeg"])
def test_a_cifar10_archive_round_trips_pixels_and_labels(tmp_path, layout):
    path = tmp_path / ("cifar10-jpeg.tar.xz" if layout == "jpeg" else "cifar-10-python.tar.gz")
    if layout == "jpeg":
        expected = jpeg_archive(path)
    else:
        expected = python_archive(path, protocol=2 if layout == "python2" else pickle.DEFAULT_PROTOCOL)
    splits, source = cifar10.load(data_config(name="cifar10", archive=str(path)))
    for split in ("train", "test"):
        np.testing.assert_array_equal(splits[split][0], expected[split][0])
        np.testing.assert_array_equal(splits[split][1], expected[split][1])
    assert source == {"kind": "archive", "path": str(path), "sha256": files_sha256(path)}


def test_cifar10_without_either_source_names_both_ways(tmp_path):
    with pytest.raises(UsageError, match="not prepared in tensorflow-datasets and data.archive is not set: "
                                         "prepare it with tensorflow-datasets.*cifar-10-python.tar.gz"):
        pipeline.check(data_config(name="cifar10", data_dir=str(tmp_path / "tfds")))
    with pytest.raises(UsageError, match="archive /nonexistent.tar does not exist"):
        pipeline.check(data_config(name="cifar10", data_dir=str(tmp_path / "tfds"), archive="/nonexistent.tar"))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar archive")
    with pytest.raises(UsageError, match="is unreadable or corrupt"):
        cifar10.load(data_config(name="cifar10", data_dir=str(tmp_path / "tfds"), archive=str(broken)))


def test_a_corrupt_or_foreign_python_batch_is_refused_naming_the_archive(tmp_path):
    class Opener:  # unpickled, it would create the file "opened"
        def __reduce__(self):
            return open, (str(tmp_path / "opened"), "w")

    for content, problem in (
        (b"\x80\x04not a pickle", "UnpicklingError"),
        (pickle.dumps(Opener()), "UnpicklingError: it refers to io.open, which no CIFAR-10 batch holds"),
        (pickle.dumps({b"labels": [1]}), "KeyError: b'data'"),
    ):
        path = tmp_path / "cifar-10-python.tar.gz"
        python_archive(path, replace={"data_batch_3": content})
        message = f"cifar10 archive {path}: data_batch_3 is not a CIFAR-10 batch ({problem}"
        with pytest.raises(UsageError, match=re.escape(message)):
            cifar10.load(data_config(name="cifar10", data_dir=str(tmp_path / "tfds"), archive=str(path)))
    assert not (tmp_path / "opened").exists()
    python_archive(path, replace={"test_batch": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]})})
    with pytest.raises(UsageError, match=f"cifar10 archive {path}: test_batch holds 2 images but 1 labels"):
        cifar10.load(data_config(name="cifar10", data_dir=str(tmp_path / "tfds"), archive=str(path)))


def test_a_cifar10_run_with_seed_3_never_evaluates_on_one_of_its_training_images(tmp_path):
    from ddnn_tf.config import base_config as config_defaults
    from ddnn_tf.training import trainer

    archive = tmp_path / "cifar10.tar.xz"
    jpeg_archive(archive, per_class=(10, 3))
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


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CIFAR10.is_file(), reason=f"the shared CIFAR-10 archive {SHARED_CIFAR10} is not here")
def test_the_shared_cifar10_archive_splits_45000_5000_10000_balanced_with_its_means():
    data = data_config(name="cifar10", archive=str(SHARED_CIFAR10))
    splits = sources.load(data, seed=0, role="eval")
    validation = sources.load(data, seed=0, role="validation").held_out
    assert (splits.train.size, validation.size, splits.held_out.size) == (45_000, 5_000, 10_000)
    assert np.bincount(splits.held_out.labels).tolist() == [1_000] * 10
    assert np.bincount(np.concatenate([splits.train.labels, validation.labels])).tolist() == [5_000] * 10
    assert 400 <= np.bincount(validation.labels).min() and np.bincount(validation.labels).max() <= 600
    training = np.concatenate([splits.train.elements, validation.elements]).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(training.mean(0), SHARED_MEANS, atol=0.002)
