"""The DDNN task: compile, fit, evaluate, save and load, strategies and precisions."""


import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import DISTILLING, build_tiny, compile_tiny, ekd_terms, train_digits

import ddnn_tf

EXPECTED_LOGS = {
    "loss", "ce_8", "ce_14", "ce_20", "acc_8", "acc_14", "acc_20", "kd_8", "kd_14", "at_8", "at_14",
    "kd_weight", "at_weight",
}


def _ekd_total(model, batch):
    images, labels = batch
    return float(ekd_terms(model, model.run_depths(images, model.depths, training=True), labels)["loss"])


@pytest.fixture(scope="module")
def trained():
    """The tiny DDNN, its fit history and the EKD loss on a test batch before fitting."""
    keras.utils.set_random_seed(0)
    model = compile_tiny(build_tiny(**DISTILLING))
    batch = next(iter(ddnn_tf.data.mnist("test", batch_size=256)))
    before = _ekd_total(model, batch)
    history = model.fit(train_digits(), epochs=2, verbose=0)
    return model, history, before, batch


def test_a_ddnn_saved_by_version_0_2_fails_to_load_with_a_message_naming_it():
    old = {"name": "ddnn", "trainable": True, "arch": "resnet20", "num_classes": 10, "input_shape": [32, 32, 3],
           "depths": [[8, [1, 1, 1]], [20, [3, 3, 3]]], "kd_weight": 0.0}
    with pytest.raises(ValueError, match=r"saved by ddnn_tf 0.2 or earlier.*pip install ddnn_tf==0.2.0"):
        ddnn_tf.DDNN.from_config(old)


def test_compile_takes_the_optimizer_only_and_a_loaded_model_resumes_with_its_optimizer(tmp_path, mnist_batch):
    model = build_tiny()
    with pytest.raises(ValueError, match="computes its own loss and metrics from its objective"):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
    assert model.optimizer.built, "slots created by compile, not inside the first traced step"
    traces, train_step = [], model.train_step
    model.train_step = lambda data: traces.append(data) or train_step(data)
    model.fit(tf.data.Dataset.from_tensors(mnist_batch).repeat(2), epochs=1, verbose=0)
    assert len(traces) == 1, "a step that creates variables is traced twice"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert int(loaded.optimizer.iterations) == 2
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a, b)


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
        model = compile_tiny(build_tiny(**DISTILLING))
    batch = next(iter(ddnn_tf.data.mnist("test", batch_size=256)))
    before = _ekd_total(model, batch)
    history = model.fit(train_digits(batch_size=64).take(12), epochs=1, verbose=0)
    assert set(history.history) == EXPECTED_LOGS
    assert np.isfinite(history.history["loss"][0])
    assert _ekd_total(model, batch) < before


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_fit(policy):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = compile_tiny(build_tiny(**DISTILLING))
        # One step: float16 is emulated on CPU, slow, and one step shows the loss stays finite.
        history = model.fit(train_digits(batch_size=16).take(1), epochs=1, verbose=0)
        images = next(iter(train_digits(batch_size=8)))[0]
        terms = ekd_terms(model, model.run_depths(images, model.depths, training=True), tf.zeros(8, "int32"))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert np.isfinite(history.history["loss"][0])
    assert all(value.dtype == "float32" for value in terms.values())


@pytest.mark.slow
def test_a_step_skipped_by_loss_scaling_still_moves_the_schedules():
    """float16 gradients that overflow skip the update, not the step: the schedules follow the batches."""
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = build_tiny(**DISTILLING)
        # A scale of 2^60 overflows float16 at once; each skipped step halves it, so every step here is skipped.
        model.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.05), initial_scale=2.0 ** 60))
        before = [v.numpy().copy() for v in model.trainable_variables]
        model.fit(train_digits(batch_size=16).take(3), epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)), "every step skipped"
    assert float(model.optimizer.dynamic_scale.numpy()) == 2.0 ** 57
    assert int(model.optimizer.iterations.numpy()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("arch,depths", [("resnet34", None), ("resnet50", {14: (1, 1, 1, 1)})])
def test_four_stage_families_train_every_depth(arch, depths):
    model = ddnn_tf.build_ddnn(arch, 10, (32, 32, 3), depths=depths)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    images, labels = next(iter(train_digits(batch_size=8)))
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.fit(images, labels, batch_size=8, epochs=1, verbose=0).history
    assert {f"acc_{depth}" for depth in model.depths} <= set(logs)
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert all(changed), "every variable of the full net and its sub-nets gets a gradient"
