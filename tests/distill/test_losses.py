"""The distillation losses against float64 numpy references."""

import numpy as np
import pytest

from ddnn_tf.distill import losses


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _reference_kd(student, teacher, temperature):
    log_p_teacher = _log_softmax(teacher / temperature)
    log_p_student = _log_softmax(student / temperature)
    kl = (np.exp(log_p_teacher) * (log_p_teacher - log_p_student)).sum(axis=-1)
    return kl.mean() * temperature**2


def _reference_attention_map(features):
    energy = (features**2).mean(axis=-1).reshape(len(features), -1)
    return energy / np.linalg.norm(energy, axis=-1, keepdims=True)


@pytest.mark.parametrize("batch,classes", [(1, 2), (8, 10), (5, 100)])
@pytest.mark.parametrize("temperature", [1.0, 3.0, 4.0, 10.0])
def test_kd_loss_matches_reference(batch, classes, temperature):
    rng = np.random.default_rng(batch * classes)
    student = rng.normal(scale=3.0, size=(batch, classes))
    teacher = rng.normal(scale=3.0, size=(batch, classes))
    got = losses.kd_loss(student.astype("float32"), teacher.astype("float32"), temperature)
    np.testing.assert_allclose(float(got), _reference_kd(student, teacher, temperature), rtol=1e-4, atol=1e-6)


def test_kd_loss_is_zero_for_identical_logits_and_positive_otherwise():
    logits = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    assert abs(float(losses.kd_loss(logits, logits, 4.0))) < 1e-6
    assert float(losses.kd_loss(logits, -logits, 4.0)) > 0.01


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (3, 8, 5, 16), (1, 1, 1, 7)])
def test_attention_map_matches_reference(shape):
    features = np.random.default_rng(sum(shape)).normal(size=shape)
    got = np.asarray(losses.attention_map(features.astype("float32")))
    assert got.shape == (shape[0], shape[1] * shape[2])
    np.testing.assert_allclose(got, _reference_attention_map(features), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (3, 8, 5, 16)])
def test_attention_loss_matches_reference(shape):
    rng = np.random.default_rng(len(shape))
    student, teacher = rng.normal(size=shape), rng.normal(size=shape)
    expected = ((_reference_attention_map(student) - _reference_attention_map(teacher)) ** 2).mean()
    got = losses.attention_loss(student.astype("float32"), teacher.astype("float32"))
    np.testing.assert_allclose(float(got), expected, rtol=1e-4)


def test_losses_compute_in_float32_for_half_precision_inputs():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 10)).astype("float16")
    features = rng.normal(size=(4, 4, 4, 8)).astype("float16")
    assert losses.kd_loss(logits, logits[::-1], 2.0).dtype == "float32"
    assert losses.attention_loss(features, features[::-1]).dtype == "float32"


def test_zscored_attention_map_has_zero_mean_and_unit_std_per_example():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4, 6, 5, 7)).astype("float32")
    attention = np.asarray(losses.attention_map(features, "zscored_sum"))
    energy = features.sum(axis=-1).reshape(4, -1)
    expected = (energy - energy.mean(axis=-1, keepdims=True)) / energy.std(axis=-1, keepdims=True)
    np.testing.assert_allclose(attention, expected, rtol=1e-4, atol=1e-5)


def test_unknown_attention_map_names_the_choices():
    with pytest.raises(ValueError, match="valid choices: squared_mean, zscored_sum"):
        losses.attention_map(np.zeros((1, 2, 2, 1), "float32"), "cosine")


def test_the_qat_worker_computes_the_same_kl_with_tensorflow_alone():
    """export/qat_worker.py (Keras 2) loads distill/kl.py by path and feeds it kl.tensorflow_ops()."""
    import importlib.util

    import tensorflow as tf
    from conftest import REPO

    spec = importlib.util.spec_from_file_location("kl_by_path", REPO / "ddnn_tf" / "distill" / "kl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    worker_ops = module.tensorflow_ops()
    rng = np.random.default_rng(7)
    student, teacher = (rng.normal(scale=3.0, size=(6, 10)).astype(np.float32) for _ in range(2))
    per_example = module.softened_kl(tf.constant(student), tf.constant(teacher), 3.0, worker_ops)
    np.testing.assert_allclose(float(tf.reduce_mean(per_example)), float(losses.kd_loss(student, teacher, 3.0)),
                               rtol=1e-6)
    np.testing.assert_allclose(float(tf.reduce_mean(per_example)), _reference_kd(student.astype(np.float64),
                               teacher.astype(np.float64), 3.0), rtol=1e-5)
