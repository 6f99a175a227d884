"""A folder of images, one sub-folder per class: seeded held-out sets, small images decoded once."""

import hashlib
from pathlib import Path

import numpy as np
import tensorflow as tf

from ddnn_tf import files
from ddnn_tf.data import augment
from ddnn_tf.data.splits import IN_MEMORY_PIXELS, Part, Splits
from ddnn_tf.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def files_of(directory):
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


def check(data):
    """Raises a UsageError when the folder has no images, or too few to hold out both sets."""
    held_out_counts(data, len(files_of(data.directory)[0]))


def held_out_counts(data, count):
    """``(evaluation, validation)`` image counts of a folder of ``count`` images, at least one each."""
    evaluation = max(1, int(round(data.eval_fraction * count)))
    validation = max(1, int(round(data.validation_fraction * count)))
    if evaluation + validation >= count:
        raise UsageError(
            f"{data.directory} holds {count} images: too few to hold out {data.eval_fraction:.0%} "
            f"for evaluation and {data.validation_fraction:.0%} for validation: add images or lower "
            "data.eval_fraction and data.validation_fraction"
        )
    return evaluation, validation


def _contents_sha256(directory, paths):
    """One sha256 over every file's name (relative to ``directory``) and bytes, in order: each file is read once."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).relative_to(directory).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(files.sha256(path)))
    return digest.hexdigest()


def load(data, seed, role):
    """A folder's images: a seeded ``data.eval_fraction`` held out for evaluation, the
    next ``data.validation_fraction`` for validation, the rest for training.

    The split is a function of the seed and the sorted list of files: the
    source records a checksum of every file's name and bytes, so that a later
    stage can refuse a folder that has gained, lost or changed files since
    (``pipeline.load_stored``).
    """
    paths, labels, classes = files_of(data.directory)
    evaluation, validation = held_out_counts(data, len(paths))
    order = np.random.default_rng(seed).permutation(len(paths))
    source = {"kind": "folder", "path": str(data.directory), "files": len(paths),
              "files_sha256": _contents_sha256(data.directory, paths)}
    paths, labels = np.asarray(paths), np.asarray(labels, np.int32)
    first = tf.io.decode_image(tf.io.read_file(paths[0]), channels=3, expand_animations=False)
    image_shape = (data.image_size or first.shape[0], data.image_size or first.shape[1], 3)
    family = augment.family(data.augment, image_shape)

    def decode(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return image if family == "imagenet" else augment.resize(image, image_shape)

    chosen = order[:evaluation] if role == "eval" else order[evaluation:evaluation + validation]
    train, held = order[evaluation + validation:], chosen
    # Decoded once, then indexed like any array, when every image is decoded at image_shape;
    # the imagenet family crops from the files as they are, whatever their sizes.
    if family != "imagenet" and max(image_shape[:2]) <= IN_MEMORY_PIXELS:
        def part(indices):
            images = tf.data.Dataset.from_tensor_slices(paths[indices]).map(decode).batch(256)
            return Part(labels[indices], np.concatenate([batch.numpy() for batch in images]))
    else:
        def part(indices):
            return Part(labels[indices], paths[indices], fetch=decode)
    return Splits(part(train), part(held), image_shape, tuple(classes), source)
