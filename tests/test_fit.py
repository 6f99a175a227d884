"""EKD through model.fit on real MNIST: logs, learning, saving, distribution, precision."""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import build_tiny, ekd_terms

import ddnn_tf

EXPECTED_LOGS = {
    "loss", "ce_8", "ce_14", "ce_20", "acc_8", "acc_14", "acc_20", "kd_8", "kd_14", "at_8", "at_14",
    "kd_weight", "at_weight",
}


def _train_digits(batch_size=64):
    return ddnn_tf.data.mnist("train", batch_size=batch_size, num_examples=1536)


def _compile(model):
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def _ekd_total(model, batch):
    images, labels = batch
    return float(ekd_terms(model, model.run_depths(images, model.depths, training=True), labels)["loss"])


# DDNN's defaults train jointly (no distillation); these tests fit with EKD on.
DISTILLING = {"kd_weight": 1.0, "at_weight": 50.0}


@pytest.fixture(scope="module")
def trained():
    """The tiny DDNN, its fit history and the EKD loss on a test batch before fitting."""
    keras.utils.set_random_seed(0)
    model = _compile(build_tiny(**DISTILLING))
    batch = next(iter(ddnn_tf.data.mnist("test", batch_size=256)))
    before = _ekd_total(model, batch)
    history = model.fit(_train_digits(), epochs=2, verbose=0)
    return model, history, before, batch


def test_fit_logs_every_term_and_lowers_the_loss(trained):
    model, history, before, batch = trained
    assert set(history.history) == EXPECTED_LOGS
    # compile() brings its own "loss" tracker; ours must be the one that is logged.
    assert all(v > 0 for v in history.history["loss"])
    after = _ekd_total(model, batch)
    assert after < 0.5 * before, (before, after)
    for depth in model.depths:
        assert history.history[f"acc_{depth}"][-1] > 0.5  # chance is 0.1


def test_evaluate_covers_every_depth_in_one_pass(trained):
    model, *_ = trained
    results = model.evaluate(ddnn_tf.data.mnist("test", batch_size=500, num_examples=1000), return_dict=True, verbose=0)
    assert set(results) == EXPECTED_LOGS
    expected_total = sum(results[f"ce_{d}"] for d in model.depths)
    expected_total += sum(model.objective.kd_weight * results[f"kd_{d}"] + model.objective.at_weight * results[f"at_{d}"] for d in (8, 14))
    np.testing.assert_allclose(results["loss"], expected_total, rtol=1e-4)


def test_save_and_load_round_trip(trained, tmp_path, mnist_batch):
    model, *_ = trained
    path = tmp_path / "ddnn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ddnn_tf.DDNN)
    assert loaded.get_config() == model.get_config()
    for depth in model.depths:
        np.testing.assert_array_equal(
            loaded(mnist_batch[0], depth=depth, training=False), model(mnist_batch[0], depth=depth, training=False)
        )


def test_mirrored_strategy_fit():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = _compile(build_tiny(**DISTILLING))
    batch = next(iter(ddnn_tf.data.mnist("test", batch_size=256)))
    before = _ekd_total(model, batch)
    history = model.fit(_train_digits(batch_size=64).take(12), epochs=1, verbose=0)
    assert set(history.history) == EXPECTED_LOGS
    assert np.isfinite(history.history["loss"][0])
    assert _ekd_total(model, batch) < before


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_fit(policy):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = _compile(build_tiny(**DISTILLING))
        # One step: float16 is emulated on CPU, slow, and one step shows the loss stays finite.
        history = model.fit(_train_digits(batch_size=16).take(1), epochs=1, verbose=0)
        images = next(iter(_train_digits(batch_size=8)))[0]
        terms = ekd_terms(model, model.run_depths(images, model.depths, training=True), tf.zeros(8, "int32"))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert np.isfinite(history.history["loss"][0])
    assert all(value.dtype == "float32" for value in terms.values())


@pytest.mark.parametrize("arch,depths", [("resnet34", None), ("resnet50", {14: (1, 1, 1, 1)})])
def test_four_stage_families_train_every_depth(arch, depths):
    model = ddnn_tf.build_ddnn(arch, 10, (32, 32, 3), depths=depths)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    images, labels = next(iter(_train_digits(batch_size=8)))
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.fit(images, labels, batch_size=8, epochs=1, verbose=0).history
    assert {f"acc_{depth}" for depth in model.depths} <= set(logs)
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert all(changed), "every variable of the full net and its sub-nets gets a gradient"


def test_distillation_warmup_holds_the_weights_at_zero_then_at_their_value():
    # 24 steps an epoch: none for 2 epochs, a 24-step ramp in epoch 3, full weight in epoch 4.
    model = _compile(build_tiny(kd_weight=2.0, at_weight=10.0, distill_warmup_steps=48, distill_ramp_steps=23))
    history = model.fit(_train_digits(), epochs=4, verbose=0).history
    assert history["kd_weight"][:2] == [0.0, 0.0] and history["at_weight"][:2] == [0.0, 0.0]
    assert 0.0 < history["kd_weight"][2] < 2.0
    np.testing.assert_allclose(history["kd_weight"][3], 2.0)
    np.testing.assert_allclose(history["at_weight"][3], 10.0)
    # The schedule reads optimizer.iterations, so it survives saving and loading.
    assert int(model.optimizer.iterations) == 96
    np.testing.assert_allclose(float(model.objective.distillation_scale(model.optimizer.iterations)), 1.0)


def test_progress_lines_appear_within_an_epoch(capsys):
    from ddnn_tf.training.trainer import ProgressLines

    ticks = iter(range(0, 10_000, 10))  # a clock that advances 10 s per reading
    model = _compile(build_tiny(**DISTILLING))
    model.fit(_train_digits().take(4), epochs=1, verbose=0,
              callbacks=[ProgressLines(every_seconds=15, clock=lambda: next(ticks))])
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch 1 step" in line]
    assert [line.split(",")[0].strip() for line in lines] == ["epoch 1 step 2/4", "epoch 1 step 4/4"]
    assert all("loss" in line for line in lines)


def test_epoch_timer_logs_the_training_steps_alone_before_the_csv_logger(tmp_path):
    from ddnn_tf.training.trainer import EpochTimer

    clock = iter([0.0, 100.0]).__next__  # the epoch starts at 0 s, its validation at 100 s
    model = _compile(build_tiny(**DISTILLING))
    digits = _train_digits().take(2)
    model.fit(digits, validation_data=digits, epochs=1, verbose=0,
              callbacks=[EpochTimer(clock=clock), keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))])
    with open(tmp_path / "log.csv") as f:
        assert float(next(csv.DictReader(f))["train_seconds"]) == 100.0


def test_xla_is_left_to_keras_auto_on_for_a_gpu_off_on_this_cpu(monkeypatch):
    from ddnn_tf.config import base_config
    from ddnn_tf.training import trainer

    model = build_tiny()
    model.compile(optimizer=trainer.make_optimizer(base_config(), steps_per_epoch=10))
    assert model.jit_compile is False, "XLA is slower on a CPU: off"
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: real(kind) + ([] if kind == "CPU" else [
                            tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")]))
    model = build_tiny()
    model.compile(optimizer=trainer.make_optimizer(base_config(), steps_per_epoch=10))
    assert model.jit_compile is True, "with a GPU, Keras's auto compiles the step with XLA"


def _inference_and_training_mode_accuracy(model, images, labels):
    """Top-1 per depth with the moving BN statistics, and with the batch's own (the moving ones left as they were)."""
    saved = [weight.numpy() for weight in model.non_trainable_weights]
    inference = {d: float(np.mean(np.argmax(model(images, depth=d, training=False), -1) == labels)) for d in model.depths}
    training = {d: float(np.mean(np.argmax(model(images, depth=d, training=True), -1) == labels)) for d in model.depths}
    for weight, value in zip(model.non_trainable_weights, saved):
        weight.assign(value)
    return inference, training


def test_precise_bn_makes_a_short_fit_score_in_inference_what_it_scores_in_training():
    from ddnn_tf.training.callbacks import PreciseBN

    train = _train_digits()
    images, labels = (x.numpy() for x in next(iter(ddnn_tf.data.mnist("validation", batch_size=500))))
    validation = tf.data.Dataset.from_tensor_slices((images, labels)).batch(250)
    gaps = {}
    for precise in (False, True):
        keras.utils.set_random_seed(0)
        model = _compile(build_tiny())
        callbacks = [PreciseBN(train, num_batches=20)] if precise else []
        model.fit(train, epochs=1, validation_data=validation, callbacks=callbacks, verbose=0)
        inference, training = _inference_and_training_mode_accuracy(model, images, labels)
        gaps[precise] = max(training[d] - inference[d] for d in model.depths)
    assert gaps[True] <= 0.05, f"inference within a few points of training mode: {gaps}"
    assert gaps[False] > gaps[True], f"the moving statistics of the same fit lag more: {gaps}"
