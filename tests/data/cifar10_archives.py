"""Small CIFAR-10 archives in both layouts the loader reads, written by the tests themselves."""

import io
import pickle
import tarfile

import numpy as np
import tensorflow as tf
from PIL import Image

from ddnn_tf.data import cifar10


def _add_member(archive, name, content):
    member = tarfile.TarInfo(name)
    member.size = len(content)
    archive.addfile(member, io.BytesIO(content))


def python_archive(path, per_batch=10, seed=0, protocol=pickle.DEFAULT_PROTOCOL, replace=None):
    """A small cifar-10-python.tar.gz: five training batches and a test batch of random images.

    Protocol 2 writes the batches as the dataset's page has them, Python 2's
    pickles naming ``numpy.core``. ``replace`` maps batch names to other bytes.
    """
    rng = np.random.default_rng(seed)
    expected = {}
    with tarfile.open(path, "w:gz") as archive:
        for split, names in (("train", cifar10.PYTHON_BATCHES), ("test", ("test_batch",))):
            images, labels = [], []
            for name in names:
                batch_images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
                batch_labels = rng.integers(0, 10, per_batch).tolist()
                rows = batch_images.transpose(0, 3, 1, 2).reshape(per_batch, -1)  # red plane, green, blue
                content = pickle.dumps({b"data": rows, b"labels": batch_labels}, protocol=protocol)
                if protocol == 2:
                    content = content.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
                _add_member(archive, f"cifar-10-batches-py/{name}", (replace or {}).get(name, content))
                images.append(batch_images)
                labels += batch_labels
            expected[split] = (np.concatenate(images), np.asarray(labels, np.int32))
    return expected


def jpeg_archive(path, per_class=(6, 2), seed=0):
    """A small tarball in the JPEG layout; the expected pixels are Pillow's (libjpeg's) decoding of each file."""
    rng = np.random.default_rng(seed)
    expected = {}
    with tarfile.open(path, "w:xz") as archive:
        for split, count in zip(("train", "test"), per_class):
            images, labels = [], []
            for label, name in enumerate(cifar10.LABEL_NAMES):
                for i in range(count):
                    encoded = tf.io.encode_jpeg(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), quality=75).numpy()
                    _add_member(archive, f"CIFAR-10-images/{split}/{name}/{i:04d}.jpg", encoded)
                    images.append(np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")))
                    labels.append(label)
            expected[split] = (np.stack(images), np.asarray(labels, np.int32))
    return expected
