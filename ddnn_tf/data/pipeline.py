"""The datasets a run trains and evaluates on, chosen by name in its config.

``data.name`` is ``"mnist"`` (the offline real digits), ``"cifar10"``
(tensorflow-datasets' copy or a local archive, ``ddnn_tf.data.cifar10``),
``"fashion_mnist"`` (its IDX files), ``"folder"`` (one sub-folder of images
per class, ``data.directory``) or any tensorflow-datasets
image-classification name (``cifar100``, ``imagenet2012``, ...). Images are
augmented for training by family (``data.augment``: "cifar", "imagenet" or
"none") and given as float32 pixels in [0, 255]: the model normalises them
itself with the per-channel mean and standard deviation of the training
images (``DataInfo``), and so does every file exported from it.

The order of training epoch ``e`` and its augmentation are functions of
(seed, e) alone: a run resumed at epoch ``e`` in a new process sees what an
uninterrupted run would have seen (``sources.training_epochs``).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from ddnn_tf.data import augment, sources
from ddnn_tf.errors import UsageError

AUGMENTATIONS = ("auto", *augment.FAMILIES)
# Per-channel statistics of the training images, pixels scaled to [0, 1].
KNOWN_STATISTICS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
STATISTICS_SAMPLE = 2000  # training images that estimate mean and std of other sets
ROLES = ("eval", "validation")


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What export and the phone need to feed a model as it was trained, and where its images came from."""

    name: str
    num_classes: int
    image_shape: tuple
    mean: tuple  # per channel, subtracted from pixels scaled to [0, 1]
    std: tuple  # per channel, divides after the mean
    label_names: tuple
    # The source ({"kind": ..., "path"/"sha256": ...}) and what fixes its held-out
    # images: a seeded split's validation checksum or a folder's file-list checksum,
    # which later stages check, or a tensorflow-datasets set's split names.
    source: dict = dataclasses.field(default_factory=dict)

    def to_json(self):
        return dataclasses.asdict(self)


def check(data):
    """Raises a UsageError for a data config that cannot be loaded, before anything is written."""
    if data.augment not in AUGMENTATIONS:
        raise UsageError(f"unknown augment {data.augment!r}; valid choices: {', '.join(AUGMENTATIONS)}")
    for key in ("train_examples", "eval_examples", "validation_examples"):
        if data[key] < 0:
            raise UsageError(f"data.{key} must be 0 (the whole split) or a positive count, got {data[key]}")
    if data.image_size < 0:
        raise UsageError(f"data.image_size must be 0 (the native size) or a positive count of pixels, got {data.image_size}")
    for key in ("validation_fraction", "eval_fraction"):
        # At most 0.99: tensorflow-datasets slices whole percents, and holding out more leaves nothing to train on.
        if not 0 < data[key] <= 0.99:
            raise UsageError(f"data.{key} must be above 0 and at most 0.99, got {data[key]}")
    if data.eval_split not in ("validation", "test") and data.name in sources.SPLIT_SIZES:
        raise UsageError(f"unknown eval_split {data.eval_split!r} for {data.name}; valid choices: validation, test")
    if data.name in sources.SPLIT_SIZES:
        sizes = sources.SPLIT_SIZES[data.name]
        for key, split in (("train_examples", "train"), ("eval_examples", data.eval_split),
                           ("validation_examples", "validation")):
            if data[key] > sizes[split]:
                raise UsageError(f"data.{key} is {data[key]}, but the {data.name} {split} split holds {sizes[split]} images")
    sources.check(data)


def load(data, seed=0, role="eval", statistics=None, epochs=(0, 1)):
    """Returns ``(train dataset, held-out dataset, DataInfo)`` for a data config.

    ``role`` picks the held-out set: "eval" is ``data.eval_split``, scored
    once a run is finished; "validation" is the set that selects checkpoints
    and hyperparameters during and between runs: MNIST's 10,000 validation
    digits, a dataset's "validation" split when it is not the eval split, or
    else part of the training images, which are then never trained on,
    whatever ``role`` is asked for: 5,000 chosen by the seed for cifar10 and
    fashion_mnist, a ``data.validation_fraction`` chosen by the seed for a
    folder, and for a tensorflow-datasets set the last
    ``data.validation_fraction`` (in whole percents) of its train split, the
    same for every seed. ``DataInfo.source`` records which.

    ``data`` holds ``name``, ``batch_size``, ``train_examples``,
    ``eval_examples`` and ``validation_examples`` (0 for the whole split),
    ``eval_split``, ``augment``, ``image_size`` (0 for the native size) and,
    by source, ``archive``, ``directory``, ``data_dir`` and ``manual_dir``.
    The same seed (and the same files) gives the same held-out images. The
    training dataset holds the epochs ``range(*epochs)``, one after the other,
    each in the order and with the augmentation of its (seed, epoch). Images
    are float32 pixels in [0, 255]. ``statistics``, ``(mean, std)`` per channel, skips estimating
    them (a finished run passes the ones it trained with).
    """
    check(data)
    if role not in ROLES:
        raise ValueError(f"Unknown held-out role {role!r}; valid choices: {', '.join(ROLES)}.")
    splits = sources.load(data, seed, role)
    image_shape = splits.image_shape
    mean, std = (statistics or KNOWN_STATISTICS.get(data.name) or splits.statistics
                 or _statistics(splits.train, image_shape))
    family = augment.family(data.augment, image_shape)
    info = DataInfo(data.name, len(splits.label_names), image_shape, tuple(mean), tuple(std),
                    tuple(splits.label_names), splits.source)

    def model_input(x, y):
        return tf.cast(x, tf.float32), y

    train = sources.training_epochs(
        splits.train, seed, range(*epochs), data.batch_size, augment.train_transform(family, image_shape),
        limit=data.train_examples,
    )
    limit = data.eval_examples if role == "eval" else data.validation_examples
    held_out = sources.held_out(splits.held_out, data.batch_size, augment.eval_transform(family, image_shape), limit)
    return tuple(
        sources.sharded(dataset.map(model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE),
                        splits.shard_by_file)
        for dataset in (train, held_out)
    ) + (info,)


def load_stored(data, seed, role="eval", stored=None):
    """The datasets of a finished run, from what it stored (``run.json`` or an export's metadata).

    ``data`` is the stored data config completed with today's defaults
    (``ddnn_tf.config.stored_data_config``) and ``seed`` the run's seed (the
    seeded held-out splits depend on it): later stages see exactly the images
    the run held out. ``stored``, ``run.json``'s ``data`` record, gives the
    statistics the run trained with (none are estimated again) and lets a
    seeded split check that it holds out the same images the run did.
    """
    statistics = (tuple(stored["mean"]), tuple(stored["std"])) if stored else None
    train, held_out, info = load(data, seed=seed, role=role, statistics=statistics)
    check_same_held_out(data, (stored or {}).get("source") or {}, info.source)
    return train, held_out, info


def check_same_held_out(data, expected, source):
    """Raises a UsageError unless ``source`` (a ``DataInfo.source``) holds out the images ``expected`` recorded."""
    if expected.get("validation_sha256") and source.get("validation_sha256") != expected["validation_sha256"]:
        raise UsageError(
            f"the {data['name']} images at hand ({source.get('kind')}) split off other validation images than "
            "the run did: use the same source it trained on"
        )
    if expected.get("train_sha256") and source.get("train_sha256") != expected["train_sha256"]:
        raise UsageError(
            f"the {data['name']} images at hand ({source.get('kind')}) hold other training images than the run "
            "trained on: use the same source it trained on"
        )
    if expected.get("files_sha256") and source.get("files_sha256") != expected["files_sha256"]:
        raise UsageError(
            f"folder {data['directory']} no longer holds the files the run split, byte for byte ({expected['files']} "
            f"then, {source['files']} now), so its images would differ: restore the folder the run trained on"
        )


def take_examples(dataset, count):
    """The first ``count`` ``(images, labels)`` of a batched dataset, as numpy arrays."""
    images, labels = [], []
    for x, y in dataset.unbatch().batch(max(count, 1)).take(1 if count > 0 else 0):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        return np.zeros((0,), np.float32), np.zeros((0,), np.int32)
    return images[0], labels[0]


def _statistics(train, image_shape):
    """Per-channel mean and std of up to STATISTICS_SAMPLE training images."""
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for image in sources.first_images(train, STATISTICS_SAMPLE, image_shape):
        pixels = image.reshape(-1, 3) / 255.0
        total += pixels.sum(0)
        squares += (pixels**2).sum(0)
        count += len(pixels)
    mean = total / count
    return tuple(np.round(mean, 5)), tuple(np.round(np.sqrt(np.maximum(squares / count - mean**2, 1e-12)), 5))
