"""CIFAR-10 without a network: tensorflow-datasets' prepared copy, or a local archive.

Reading order:
  1. tensorflow-datasets' ``cifar10`` when it is prepared in ``data_dir``;
  2. else the archive ``data.archive`` names, in either layout:
     - ``cifar-10-python.tar.gz`` from the dataset's page (pickled batches);
     - a tarball of JPEG files ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``
       (class folders in label order when sorted), optionally under one top folder.
Decoded arrays are cached by the archive's checksum (``ddnn_tf.data.cache``).
"""

import io
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np

from ddnn_tf import files
from ddnn_tf.data import cache
from ddnn_tf.errors import UsageError

LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_SIZE, TEST_SIZE = 50_000, 10_000  # of the full set
PYTHON_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_JPEG_MEMBER = re.compile(r"(?:.*/)?(train|test)/([^/]+)/([^/]+)\.jpe?g$", re.IGNORECASE)
HOW_TO_GET = (
    "prepare it with tensorflow-datasets (tfds build cifar10, needs a network), or set "
    "--config.data.archive to cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
    "or to a tarball of train/<class>/*.jpg and test/<class>/*.jpg"
)


def check(data):
    """Raises a UsageError, before anything is written, when neither source is at hand."""
    if _tfds_prepared(data):
        return
    if not data.archive:
        raise UsageError(f"cifar10 is not prepared in tensorflow-datasets and data.archive is not set: {HOW_TO_GET}")
    if not Path(data.archive).is_file():
        raise UsageError(f"cifar10 archive {data.archive} does not exist; {HOW_TO_GET}")


def load(data):
    """``({"train": (images, labels), "test": (images, labels)}, source)``.

    Images are ``(n, 32, 32, 3)`` uint8, labels ``(n,)`` int32, each split
    in its source's order; ``source`` says where they came from (recorded in
    ``run.json``).
    """
    check(data)
    if _tfds_prepared(data):
        return _from_tfds(data), {"kind": "tensorflow-datasets", "data_dir": data.data_dir or "default"}
    checksum = files.sha256(data.archive)
    # The entry's name changes with the decoding, so that a new decoding never reads an old entry.
    arrays = cache.arrays("cifar10-accurate-dct", checksum, lambda: _decode_archive(data.archive))
    splits = {split: (arrays[f"{split}_images"], arrays[f"{split}_labels"]) for split in ("train", "test")}
    return splits, {"kind": "archive", "path": str(data.archive), "sha256": checksum}


def _tfds_prepared(data):
    # Looked up on disk first: asking tensorflow-datasets about a missing copy logs warnings.
    root = Path(data.data_dir or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")
    if not any((root / "cifar10").glob("*/dataset_info.json")):
        return False
    import tensorflow_datasets as tfds

    return tfds.builder("cifar10", data_dir=data.data_dir or None).is_prepared()


def _from_tfds(data):
    import tensorflow_datasets as tfds

    builder = tfds.builder("cifar10", data_dir=data.data_dir or None)
    splits = {}
    for split in ("train", "test"):
        images, labels = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
        splits[split] = (images.astype(np.uint8), labels.astype(np.int32))
    return splits


def _decode_archive(path):
    """The archive's images and labels, as arrays named ``{split}_images`` and ``{split}_labels``."""
    python, jpegs = {}, {}
    try:
        # One pass in the archive's order: a compressed tar cannot seek back cheaply.
        with tarfile.open(path) as archive:
            for member in archive:
                if not member.isfile():
                    continue
                name = Path(member.name).name
                if name in (*PYTHON_BATCHES, "test_batch"):
                    python[name] = archive.extractfile(member).read()
                elif match := _JPEG_MEMBER.match(member.name):
                    jpegs[match.groups()] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise UsageError(f"cifar10 archive {path} is unreadable or corrupt: {error}") from None
    if len(python) == len(PYTHON_BATCHES) + 1:
        return _decode_python(python, path)
    if jpegs:
        return _decode_jpegs(jpegs)
    raise UsageError(
        f"cifar10 archive {path} holds neither cifar-10-batches-py/data_batch_1..5 and test_batch "
        "nor train/<class>/*.jpg and test/<class>/*.jpg"
    )


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10's batches hold (dicts, lists, bytes, numpy arrays), so that an archive
    from anywhere cannot run code when it is read."""

    ALLOWED = frozenset({
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    })

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which no CIFAR-10 batch holds")
        return super().find_class(module, name)


def _decode_python(batches, path):
    """The pickled batches of ``cifar-10-python.tar.gz``: rows of 1,024 red, then green, then blue bytes."""
    arrays = {}
    for split, names in (("train", PYTHON_BATCHES), ("test", ("test_batch",))):
        images, labels = [], []
        for name in names:
            try:
                batch = _BatchUnpickler(io.BytesIO(batches[name]), encoding="bytes").load()
                images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(batch[b"labels"], np.int32))
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                    OverflowError) as error:
                raise UsageError(
                    f"cifar10 archive {path}: {name} is not a CIFAR-10 batch ({type(error).__name__}: {error})"
                ) from None
            if labels[-1].shape != images[-1].shape[:1]:
                raise UsageError(f"cifar10 archive {path}: {name} holds {len(images[-1])} images but "
                                 f"{labels[-1].size} labels")
        arrays[f"{split}_images"] = np.ascontiguousarray(np.concatenate(images))
        arrays[f"{split}_labels"] = np.concatenate(labels)
    return arrays


def _decode_jpegs(jpegs):
    """``{(split, class folder, file stem): JPEG bytes}`` decoded, sorted by name.

    The accurate integer DCT gives libjpeg's (and Pillow's) pixels exactly;
    TensorFlow's default, faster one is up to 5 levels off in red and blue.
    """
    import tensorflow as tf

    classes = sorted({cls for _, cls, _ in jpegs})
    if len(classes) != len(LABEL_NAMES):
        raise UsageError(
            f"a cifar10 archive needs {len(LABEL_NAMES)} class folders, found {len(classes)}: {', '.join(classes)}"
        )
    arrays = {}
    for split in ("train", "test"):
        keys = sorted(key for key in jpegs if key[0] == split)
        if not keys:
            raise UsageError(f"the cifar10 archive has no {split}/<class>/*.jpg files")
        decoded = tf.data.Dataset.from_tensor_slices([jpegs[key] for key in keys]).map(
            lambda data: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        images = [image.numpy() for image in decoded]
        wrong = next((key for key, image in zip(keys, images) if image.shape != (32, 32, 3)), None)
        if wrong:
            raise UsageError(f"cifar10 images must be 32x32 RGB; {'/'.join(wrong)} is not")
        arrays[f"{split}_images"] = np.stack(images)
        arrays[f"{split}_labels"] = np.asarray([classes.index(cls) for _, cls, _ in keys], np.int32)
    return arrays
