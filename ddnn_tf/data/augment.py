"""Training augmentation by image family, and the resizing it shares with evaluation.

Every random choice is a stateless function of a seed the pipeline derives
from (run seed, epoch, image), so an epoch's images are the same whether
the run went straight through or was resumed in a new process.
"""

import tensorflow as tf

FAMILIES = ("cifar", "imagenet", "none")
AUTO_CIFAR_PIXELS = 64  # augment="auto": the cifar family up to this size, imagenet above


def family(augment, image_shape):
    """The family ``data.augment`` names for images of ``image_shape``, "auto" resolved.

    The pipeline picks its transforms by it, and the sources that decode
    files pick by it too: the imagenet family crops from the images as they
    are, the others take them resized to ``image_shape``.
    """
    if augment == "auto":
        return "cifar" if max(image_shape[:2]) <= AUTO_CIFAR_PIXELS else "imagenet"
    return augment


def resize(image, image_shape):
    return tf.cast(tf.image.resize(image, image_shape[:2], antialias=True), tf.uint8)


def cifar_train(image, image_shape, seed):
    """4-pixel zero padding, a random crop back to size, a random horizontal flip."""
    height, width = image_shape[:2]
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
    image = tf.image.stateless_random_crop(image, (height, width, 3), seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def imagenet_train(image, image_shape, seed):
    """Inception-style random resized crop (8-100 % of the area, aspect 3/4-4/3), a random flip."""
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros((1, 0, 4)), seed=box_seed, area_range=(0.08, 1.0),
        aspect_ratio_range=(3 / 4, 4 / 3), min_object_covered=0.0, use_image_if_no_bounding_boxes=True,
    )
    image = tf.slice(image, begin, size)
    return tf.image.stateless_random_flip_left_right(resize(image, image_shape), seed=flip_seed)


def imagenet_eval(image, image_shape):
    """Shorter side to 256/224 of the target, then the central target-size crop."""
    height, width = image_shape[:2]
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (256 / 224) * max(height, width) / tf.reduce_min(shape)
    resized = resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    return tf.image.resize_with_crop_or_pad(resized, height, width)


def train_transform(family, image_shape):
    """``transform(image, seed)`` for training images of ``family``."""
    if family == "cifar":
        return lambda image, seed: cifar_train(image, image_shape, seed)
    if family == "imagenet":
        return lambda image, seed: imagenet_train(image, image_shape, seed)
    return lambda image, seed: image


def eval_transform(family, image_shape):
    """``transform(image)`` for held-out images of ``family``."""
    if family == "imagenet":
        return lambda image: imagenet_eval(image, image_shape)
    return lambda image: image
