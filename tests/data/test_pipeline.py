"""Datasets by name: tensorflow-datasets (mocked), image folders, epochs, and their checks."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import data_config
from PIL import Image

from ddnn_tf.config import stored_data_config
from ddnn_tf.data import augment, pipeline
from ddnn_tf.errors import UsageError


def _write_folder(root, per_class=6, size=(20, 24)):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog", "eel"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_a_tensorflow_datasets_set_by_name():
    with tfds.testing.mock_data(num_examples=24):
        train, evaluation, info = pipeline.load(data_config(name="cifar100"), seed=0)
        images, labels = next(iter(train))
        eval_images, _ = next(iter(evaluation))
    assert info.num_classes == 100 and len(info.label_names) == 100
    assert info.image_shape == (32, 32, 3)
    assert info.mean == pipeline.KNOWN_STATISTICS["cifar100"][0]
    assert images.shape == (8, 32, 32, 3) and images.dtype == tf.float32 and labels.dtype == tf.int32
    assert eval_images.shape == (8, 32, 32, 3)


def test_imagenet_family_crops_to_the_configured_size():
    with tfds.testing.mock_data(num_examples=4):
        train, evaluation, info = pipeline.load(
            data_config(name="oxford_flowers102", image_size=64, augment="imagenet", eval_split="test", batch_size=2)
        )
        assert next(iter(train))[0].shape == (2, 64, 64, 3)
        assert next(iter(evaluation))[0].shape == (2, 64, 64, 3)
    assert info.num_classes == 102
    assert len(info.mean) == 3 and all(s > 0 for s in info.std), "statistics estimated from the images"


def test_cifar_augmentation_pads_crops_and_flips_as_its_seed_says():
    image = tf.reshape(tf.range(32 * 32 * 3, dtype=tf.int32) % 251, (32, 32, 3))
    image = tf.cast(image, tf.uint8)
    crops = [augment.cifar_train(image, (32, 32, 3), tf.constant([3, seed], tf.int64)) for seed in range(8)]
    assert all(c.shape == (32, 32, 3) for c in crops)
    assert any(not np.array_equal(c, image) for c in crops)
    assert len({c.numpy().tobytes() for c in crops}) > 4
    again = augment.cifar_train(image, (32, 32, 3), tf.constant([3, 5], tf.int64))
    np.testing.assert_array_equal(again, crops[5])


def test_an_epoch_is_a_function_of_seed_and_epoch_alone():
    data = data_config(name="mnist", batch_size=32, train_examples=96, augment="cifar")
    both = pipeline.take_examples(pipeline.load(data, seed=4, epochs=(0, 2))[0], 192)[0]
    second = pipeline.take_examples(pipeline.load(data, seed=4, epochs=(1, 2))[0], 96)[0]
    np.testing.assert_array_equal(both[96:], second, "epoch 1 alone is epoch 1 of a longer stream")
    assert not np.array_equal(both[:96], both[96:]), "each epoch has its own order and crops"
    assert {x.tobytes() for x in both[:96]} != {x.tobytes() for x in both[96:]}
    other_seed = pipeline.take_examples(pipeline.load(data, seed=5, epochs=(1, 2))[0], 96)[0]
    assert not np.array_equal(second, other_seed)


def test_folder_dataset_holds_out_seeded_eval_and_validation_sets(tmp_path):
    _write_folder(tmp_path)
    data = data_config(name="folder", directory=str(tmp_path), image_size=16, eval_fraction=0.25, validation_fraction=0.1)
    train, evaluation, info = pipeline.load(data, seed=3)
    assert info.label_names == ("cat", "dog", "eel") and info.num_classes == 3
    assert info.image_shape == (16, 16, 3)
    train_images, _ = pipeline.take_examples(train, 100)
    eval_images, eval_labels = pipeline.take_examples(evaluation, 100)
    validation_images, _ = pipeline.take_examples(pipeline.load(data, seed=3, role="validation")[1], 100)
    assert (len(train_images), len(validation_images), len(eval_images)) == (12, 2, 4)
    assert train_images.shape[1:] == (16, 16, 3)
    # No image is in two of the three sets.
    sets = [{image.tobytes() for image in images} for images in (train_images, validation_images, eval_images)]
    assert sum(map(len, sets)) == len(set().union(*sets)) == 18
    _, again_labels = pipeline.take_examples(pipeline.load(data, seed=3)[1], 100)
    np.testing.assert_array_equal(eval_labels, again_labels)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"name": "folder", "directory": "/nonexistent"}, "folder dataset directory '/nonexistent' does not exist"),
        ({"name": "imagenet_typo"}, "unknown dataset 'imagenet_typo'; valid choices: mnist, cifar10, fashion_mnist, folder"),
        ({"name": "cifar100", "augment": "mixup"}, "unknown augment 'mixup'; valid choices: auto, cifar"),
        ({"name": "mnist", "eval_split": "holdout"}, "valid choices: validation, test"),
        ({"name": "cifar100", "eval_split": "train"},
         "data.eval_split must not be 'train', the split cifar100 trains on; valid choices: its test or validation split"),
        ({"name": "oxford_flowers102", "eval_split": "test"},
         "oxford_flowers102's images vary in size: set --config.data.image_size"),
        ({"image_size": -5}, "data.image_size must be 0 (the native size) or a positive count of pixels, got -5"),
        ({"validation_fraction": 1.0}, "data.validation_fraction must be above 0 and at most 0.99, got 1.0"),
        ({"validation_fraction": 0.995}, "data.validation_fraction must be above 0 and at most 0.99, got 0.995"),
        ({"eval_fraction": 0.0}, "data.eval_fraction must be above 0 and at most 0.99, got 0.0"),
    ],
)
def test_bad_data_configs(changes, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        pipeline.check(data_config(**changes))


def test_a_folder_too_small_for_both_held_out_sets_is_refused_by_the_check(tmp_path):
    _write_folder(tmp_path)
    data = data_config(name="folder", directory=str(tmp_path), eval_fraction=0.5, validation_fraction=0.5)
    with pytest.raises(UsageError, match="holds 18 images: too few to hold out 50% for evaluation and 50% for validation"):
        pipeline.check(data)


def test_folder_without_images(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "notes.txt").write_text("no image here")
    with pytest.raises(UsageError, match="no images in .*one sub-folder per class"):
        pipeline.check(data_config(name="folder", directory=str(tmp_path)))


def test_imagenet_without_its_archives_says_where_to_put_them(tmp_path):
    data = data_config(name="imagenet2012", eval_split="validation", data_dir=str(tmp_path / "tfds"),
                 manual_dir=str(tmp_path / "manual"))
    with pytest.raises(UsageError, match=r"ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar is missing from .*manual"):
        pipeline.check(data)


def test_a_data_config_stored_as_json_loads_the_same_images():
    data = data_config(name="mnist", train_examples=64, eval_examples=64)
    stored = stored_data_config(json.loads(json.dumps(data.to_dict())))
    for original, again in zip(pipeline.load(data, seed=1)[:2], pipeline.load(stored, seed=1)[:2]):
        np.testing.assert_array_equal(pipeline.take_examples(original, 64)[0], pipeline.take_examples(again, 64)[0])


def test_later_stages_hold_out_exactly_what_a_seeded_folder_run_held_out(tmp_path):
    from ddnn_tf.config import base_config as config_defaults
    from ddnn_tf.run import Run
    from ddnn_tf.training import trainer

    _write_folder(tmp_path / "images", per_class=8)
    config = config_defaults()
    config.seed = 3
    config.data.update(name="folder", directory=str(tmp_path / "images"), image_size=16, batch_size=8,
                       eval_fraction=0.25, validation_fraction=0.1, augment="none")
    config.model.update(arch="resnet8", width=0.25)
    trainer.train(config, tmp_path / "run")
    run = Run(tmp_path / "run")
    # What training used: the run's own seed.
    trained, _, _ = pipeline.load(config.data, seed=3)
    train_images, _ = pipeline.take_examples(trained, 100)
    # What evaluation, export and the benchmark see: read back from run.json alone.
    _, held_out, info = run.datasets()
    eval_images, _ = pipeline.take_examples(held_out, 100)
    assert len(eval_images) == 6 and len(train_images) == 24 - 6 - 2
    assert not {x.tobytes() for x in train_images} & {x.tobytes() for x in eval_images}
    assert (info.mean, info.std) == (tuple(run.data["mean"]), tuple(run.data["std"]))
    # A different seed would have held out other images: the seed matters.
    _, other, _ = pipeline.load(config.data, seed=0)
    assert {x.tobytes() for x in pipeline.take_examples(other, 100)[0]} != {x.tobytes() for x in eval_images}
    # Pixels, as the model and every exported file take them.
    assert eval_images.min() >= 0 and eval_images.max() <= 255 and np.array_equal(eval_images, np.round(eval_images))
    # Training again in the workdir (a resume, here of a finished run) refuses a folder whose files changed.
    record = run.record_file.read_bytes()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "images" / "dog" / "new.png")
    with pytest.raises(UsageError, match=re.escape(f"folder {tmp_path / 'images'} no longer holds the files the run split")):
        trainer.train(config, tmp_path / "run")
    assert run.record_file.read_bytes() == record


def test_auto_augmentation_of_large_images_crops_them_unsquashed(tmp_path):
    # augment="auto" is the imagenet family above 64 pixels: crops of the files as they are, not of
    # images first squashed to image_size, from a folder and from a tensorflow-datasets stream alike.
    _write_folder(tmp_path, per_class=4, size=(80, 160))
    data = data_config(name="folder", directory=str(tmp_path), image_size=72, eval_fraction=0.25)
    train, evaluation, info = pipeline.load(data, seed=0)
    assert info.image_shape == (72, 72, 3) and next(iter(train))[0].shape == (8, 72, 72, 3)
    centre_crops = {augment.imagenet_eval(tf.io.decode_png(tf.io.read_file(str(path)), 3), info.image_shape)
                    .numpy().tobytes() for path in tmp_path.rglob("*.png")}
    held = {image.astype(np.uint8).tobytes() for image in pipeline.take_examples(evaluation, 100)[0]}
    assert len(held) == 3 and held <= centre_crops
    with tfds.testing.mock_data(num_examples=3):  # images of assorted sizes
        files = tfds.load("oxford_flowers102", split="test", as_supervised=True, shuffle_files=False)
        _, evaluation, _ = pipeline.load(data_config(name="oxford_flowers102", image_size=72, eval_split="test"))
        held = pipeline.take_examples(evaluation, 100)[0]
        expected = [augment.imagenet_eval(image, (72, 72, 3)).numpy() for image, _ in files]
    np.testing.assert_array_equal(held, np.stack(expected))


def test_the_imagenet_family_reads_a_small_folder_of_mixed_sizes(tmp_path):
    _write_folder(tmp_path, size=(20, 24))
    for name in ("cat", "dog", "eel"):
        Image.fromarray(np.zeros((30, 18, 3), np.uint8)).save(tmp_path / name / "0.png")
    train, evaluation, _ = pipeline.load(data_config(name="folder", directory=str(tmp_path), image_size=16,
                                                     augment="imagenet"))
    assert pipeline.take_examples(train, 100)[0].shape[1:] == (16, 16, 3)
    assert pipeline.take_examples(evaluation, 100)[0].shape[1:] == (16, 16, 3)


def test_a_later_stage_refuses_a_folder_whose_files_changed(tmp_path):
    _write_folder(tmp_path)
    data = data_config(name="folder", directory=str(tmp_path), image_size=16)
    stored = pipeline.load(data, seed=3)[2].to_json()
    assert stored["source"]["files"] == 18
    pipeline.load_stored(data, 3, stored=stored)  # the same files: accepted
    message = f"folder {tmp_path} no longer holds the files the run split, byte for byte (18 then, 18 now)"
    original = (tmp_path / "dog" / "1.png").read_bytes()
    Image.fromarray(np.full((20, 24, 3), 7, np.uint8)).save(tmp_path / "dog" / "1.png")  # same name, other pixels
    with pytest.raises(UsageError, match=re.escape(message)):
        pipeline.load_stored(data, 3, stored=stored)
    (tmp_path / "dog" / "1.png").write_bytes(original)
    pipeline.load_stored(data, 3, stored=stored)
    (tmp_path / "dog" / "0.png").rename(tmp_path / "dog" / "renamed.png")
    with pytest.raises(UsageError, match=re.escape(message)):
        pipeline.load_stored(data, 3, stored=stored)
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "dog" / "new.png")
    with pytest.raises(UsageError, match=re.escape("(18 then, 19 now)")):
        pipeline.load_stored(data, 3, stored=stored)


def test_a_tensorflow_datasets_set_without_a_validation_split_holds_out_its_recorded_tail_for_every_seed():
    with tfds.testing.mock_data(num_examples=8):
        data = data_config(name="cifar100")
        loads = [pipeline.load(data, seed=seed, role="validation") for seed in (0, 1)]
        held = [pipeline.take_examples(validation, 100)[0] for _, validation, _ in loads]
    assert loads[0][2].source == {"kind": "tensorflow-datasets", "name": "cifar100", "train_split": "train[:95%]",
                                  "validation_split": "train[95%:]"}
    np.testing.assert_array_equal(held[0], held[1])
