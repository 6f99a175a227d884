"""A source's images split for a run: what training walks and what is held out, as arrays or a stream."""

import dataclasses
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from ddnn_tf.data import augment

IN_MEMORY_PIXELS = 64  # images up to this size are decoded once and kept in memory


@dataclasses.dataclass
class Part:
    """One split: ``elements`` (images, or file paths that ``fetch`` decodes) and their labels,
    or for tensorflow-datasets' large sets a ``stream`` of ``(image, label)``."""

    labels: Optional[np.ndarray] = None
    elements: Optional[np.ndarray] = None
    fetch: Optional[Callable] = None  # element -> uint8 image; None: the element is the image
    stream: Optional[tf.data.Dataset] = None
    size: int = 0

    def __post_init__(self):
        if self.labels is not None:
            self.size = len(self.labels)

    def image(self, element):
        return self.fetch(element) if self.fetch else element


@dataclasses.dataclass
class Splits:
    train: Part
    held_out: Part
    image_shape: tuple
    label_names: tuple
    source: dict
    statistics: Optional[tuple] = None
    shard_by_file: bool = False


def resized(images, size, labels):
    if not size or images.shape[1:3] == (size, size):
        return images, labels
    resized = tf.data.Dataset.from_tensor_slices(images).batch(1024).map(lambda x: augment.resize(x, (size, size)))
    return np.concatenate([batch.numpy() for batch in resized]), labels
