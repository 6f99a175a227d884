"""The EKD objective: its terms, teachers and warm-up."""


import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    TINY_DEPTHS,
    build_tiny,
    compile_tiny,
    ekd_terms,
    train_digits,
    variables_of_blocks_beyond,
)

import ddnn_tf


@pytest.mark.parametrize("detach", [True, False])
def test_detached_teacher_gets_no_distillation_gradient(detach, mnist_batch):
    model = build_tiny(detach_teacher=detach)
    images, labels = mnist_batch
    teacher_only = variables_of_blocks_beyond(model, TINY_DEPTHS[14])
    with tf.GradientTape() as tape:
        terms = ekd_terms(model, model.run_depths(images, model.depths, training=True), labels)
        distillation = sum(terms[f"{kind}_{depth}"] for kind in ("kd", "at") for depth in TINY_DEPTHS)
    gradients = tape.gradient(distillation, teacher_only)
    if detach:
        assert all(g is None for g in gradients)
    else:
        assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_last_stage_attention_uses_only_the_last_stage(mnist_batch):
    images, labels = mnist_batch
    every = build_tiny(attention="zscored_sum")
    last = build_tiny(attention="zscored_sum", attention_stages="last")
    last.set_weights(every.get_weights())
    outputs = every.run_depths(images, every.depths, training=True)
    expected = ddnn_tf.distill.losses.attention_loss(outputs[8][1][-1], outputs[20][1][-1], "zscored_sum")
    np.testing.assert_allclose(float(ekd_terms(last, outputs, labels)["at_8"]), float(expected), rtol=1e-6)
    assert float(ekd_terms(every, outputs, labels)["at_8"]) > float(expected)


def test_ensemble_teacher_distils_every_depth(mnist_batch):
    model = build_tiny(teacher="ensemble")
    terms = ekd_terms(model, model.run_depths(mnist_batch[0], model.depths, training=True), mnist_batch[1])
    assert {f"kd_{depth}" for depth in model.depths} <= set(terms)
    assert f"at_{model.full_depth}" not in terms


def test_ekd_total_is_the_weighted_sum_of_its_terms(mnist_batch):
    model = build_tiny(kd_weight=0.5, at_weight=7.0)
    terms = ekd_terms(model, model.run_depths(mnist_batch[0], model.depths, training=True), mnist_batch[1])
    expected = sum(terms[f"ce_{d}"] for d in model.depths)
    expected += sum(0.5 * terms[f"kd_{d}"] + 7.0 * terms[f"at_{d}"] for d in TINY_DEPTHS)
    np.testing.assert_allclose(float(terms["loss"]), float(expected), rtol=1e-6)


@pytest.mark.slow
def test_distillation_warmup_holds_the_weights_at_zero_then_at_their_value():
    # 24 steps an epoch: none for 2 epochs, a 24-step ramp in epoch 3, full weight in epoch 4.
    model = compile_tiny(build_tiny(kd_weight=2.0, at_weight=10.0, distill_warmup_steps=48, distill_ramp_steps=23))
    history = model.fit(train_digits(), epochs=4, verbose=0).history
    assert history["kd_weight"][:2] == [0.0, 0.0] and history["at_weight"][:2] == [0.0, 0.0]
    assert 0.0 < history["kd_weight"][2] < 2.0
    np.testing.assert_allclose(history["kd_weight"][3], 2.0)
    np.testing.assert_allclose(history["at_weight"][3], 10.0)
    # The schedule reads optimizer.iterations, so it survives saving and loading.
    assert int(model.optimizer.iterations) == 96
    np.testing.assert_allclose(float(model.objective.distillation_scale(model.optimizer.iterations)), 1.0)
