"""Fashion-MNIST from its IDX files: 60,000 training and 10,000 test images of clothing, 28x28 grey.

The default folder is where Debian's ``dataset-fashion-mnist`` package puts
them (``apt-get download dataset-fashion-mnist && dpkg-deb -x *.deb DIR``
unpacks it without root, under ``DIR/usr/share/datasets/fashion-mnist``);
``data.directory`` names another. Files may be gzipped (``.gz``) or not.
"""

import gzip
from pathlib import Path

import numpy as np

from ddnn_tf.errors import UsageError

DEFAULT_DIRECTORY = "/usr/share/datasets/fashion-mnist"
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000  # of the full set
LABEL_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HOW_TO_GET = ("install Debian's dataset-fashion-mnist, or unpack it with apt-get download dataset-fashion-mnist "
              "&& dpkg-deb -x dataset-fashion-mnist_*.deb DIR and set --config.data.directory="
              "DIR/usr/share/datasets/fashion-mnist")


def directory_of(data):
    return Path(data.directory or DEFAULT_DIRECTORY)


def check(data):
    for split in FILES:
        for stem in FILES[split]:
            _find(directory_of(data), stem)


def load(data):
    """``({"train": (images, labels), "test": (images, labels)}, source)``: 28x28 uint8 images, int32 labels."""
    root = directory_of(data)
    splits = {}
    for split, (images, labels) in FILES.items():
        pixels, classes = read_idx(_find(root, images)), read_idx(_find(root, labels))
        if pixels.ndim != 3 or classes.ndim != 1 or len(pixels) != len(classes):
            raise UsageError(f"{root}: {images} and {labels} do not hold one 2-D image per label")
        splits[split] = (pixels, classes.astype(np.int32))
    return splits, {"kind": "idx", "path": str(root)}


def read_idx(path):
    """The array an IDX file holds (unsigned bytes, big-endian sizes), or a UsageError naming the file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            content = f.read()
    except (OSError, EOFError) as error:
        raise UsageError(f"IDX file {path} is unreadable or corrupt: {error}") from None
    if len(content) < 4 or content[:2] != b"\0\0" or content[2] != 0x08:
        raise UsageError(f"{path} is not an IDX file of unsigned bytes")
    rank = content[3]
    shape = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    start = 4 + 4 * rank
    if len(content) - start != int(np.prod(shape)):
        raise UsageError(f"IDX file {path} is truncated: its header promises {shape}")
    return np.frombuffer(content, np.uint8, offset=start).reshape(shape).copy()


def _find(root, stem):
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise UsageError(f"fashion_mnist file {root / stem}[.gz] does not exist; {HOW_TO_GET}")
