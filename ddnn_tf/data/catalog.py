"""tensorflow-datasets' image-classification sets by name: small ones in memory, large ones (ImageNet) streamed."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from ddnn_tf.data import augment
from ddnn_tf.data.splits import IN_MEMORY_PIXELS, Part, Splits, resized
from ddnn_tf.errors import UsageError

IMAGENET_ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


def builder_of(data):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(data.name, data_dir=data.data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
        raise UsageError(
            f"unknown dataset {data.name!r}; valid choices: mnist, cifar10, fashion_mnist, folder, or a "
            "tensorflow-datasets image-classification name such as cifar100, imagenet2012"
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
    if data.eval_split == "train":
        others = ", ".join(split for split in splits if split != "train") or "its test or validation split"
        raise UsageError(f"data.eval_split must not be 'train', the split {data.name} trains on; valid choices: {others}")
    if not all(builder.info.features["image"].shape[:2]) and not data.image_size:
        raise UsageError(f"{data.name}'s images vary in size: set --config.data.image_size (224 for ImageNet's models)")
    return builder


def _splits(data, builder):
    """``(training split, validation split)`` names: the dataset's own validation split
    when it is not the eval split, else the last ``validation_fraction`` of train (in whole percents),
    the same for every seed: streamed sets cannot be split by a seed without reading them whole."""
    if "validation" in builder.info.splits and data.eval_split != "validation":
        return "train", "validation"
    # Whole percents: tfds slices by them without knowing the split's size.
    kept = 100 - max(1, int(round(100 * data.validation_fraction)))
    return f"train[:{kept}%]", f"train[{kept}%:]"


def load(data, seed, role):
    import tensorflow_datasets as tfds

    builder = builder_of(data)
    train_split, validation_split = _splits(data, builder)
    held_out_split = data.eval_split if role == "eval" else validation_split
    download_config = tfds.download.DownloadConfig(manual_dir=data.manual_dir or None)
    names = tuple(builder.info.features["label"].names)
    shape = builder.info.features["image"].shape
    source = {"kind": "tensorflow-datasets", "name": data.name, "train_split": train_split,
              "validation_split": validation_split}

    def read(split):
        # Files in a fixed order (tensorflow-datasets shuffled the examples when it wrote them):
        # epochs differ by their seeded shuffle buffer, so a resumed run reads as an uninterrupted one.
        return tfds.load(
            data.name, split=split, as_supervised=True, data_dir=data.data_dir or None, shuffle_files=False,
            download_and_prepare_kwargs={"download_config": download_config},
        ).map(lambda image, label: (image, tf.cast(label, tf.int32)))

    small = all(shape[:2]) and max(data.image_size or 0, *shape[:2]) <= IN_MEMORY_PIXELS
    if small:
        def part(split):
            images, labels = tfds.as_numpy(read(split).batch(1 << 30).get_single_element())
            images, labels = resized(images.astype(np.uint8), data.image_size, labels)
            return Part(labels, images)
        train = part(train_split)
        return Splits(train, part(held_out_split), train.elements.shape[1:], names, source)
    image_shape = (data.image_size or shape[0], data.image_size or shape[1], 3)
    family = augment.family(data.augment, image_shape)

    def stream(split):
        dataset = read(split)
        if family != "imagenet":
            dataset = dataset.map(lambda image, label: (augment.resize(image, image_shape), label))
        size = int(dataset.cardinality())
        if size < 0:  # tensorflow-datasets knows its splits' sizes; count only if it does not
            size = int(dataset.reduce(0, lambda count, _: count + 1))
        return Part(stream=dataset, size=size)

    return Splits(stream(train_split), stream(held_out_split), image_shape, names, source, shard_by_file=True)
