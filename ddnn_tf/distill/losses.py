"""Distillation losses of Embedded Knowledge Distillation.

All math runs in float32, whatever the compute dtype of the features, so that
mixed-precision training does not lose the small differences these losses
measure.
"""

import keras
from keras import ops

from ddnn_tf.distill.kl import softened_kl


def kd_loss(student_logits, teacher_logits, temperature):
    """Hinton's distillation loss, KL(teacher || student) on softened classes.

    Scaled by ``temperature**2`` so that its gradients keep their size as the
    temperature changes, and averaged over the batch.

    Args:
        student_logits: ``(batch, classes)`` logits of the student.
        teacher_logits: ``(batch, classes)`` logits of the teacher.
        temperature: softening temperature ``T``.

    Returns:
        A float32 scalar.
    """
    kl = softened_kl(ops.cast(student_logits, "float32"), ops.cast(teacher_logits, "float32"), temperature, ops)
    return ops.mean(kl)


def attention_map(features, form="squared_mean"):
    """Spatial attention of ``(batch, height, width, channels)`` features, ``(batch, height * width)``.

    ``form`` is "squared_mean": the mean over channels of the squared
    activations, L2-normalised per example (Zagoruyko & Komodakis 2017); or
    "zscored_sum": the sum over channels, shifted and scaled to mean 0 and
    standard deviation 1 per example (the form of the same authors' public
    code for EKD in weight-sharing ensembles).
    """
    features = ops.cast(features, "float32")
    if form == "squared_mean":
        energy = ops.mean(ops.square(features), axis=-1)
        energy = ops.reshape(energy, (ops.shape(energy)[0], -1))
        return energy / ops.maximum(ops.norm(energy, axis=-1, keepdims=True), keras.config.epsilon())
    if form == "zscored_sum":
        energy = ops.sum(features, axis=-1)
        energy = ops.reshape(energy, (ops.shape(energy)[0], -1))
        centred = energy - ops.mean(energy, axis=-1, keepdims=True)
        return centred / (ops.std(energy, axis=-1, keepdims=True) + keras.config.epsilon())
    raise ValueError(f"Unknown attention map {form!r}; valid choices: squared_mean, zscored_sum.")


def attention_loss(student_features, teacher_features, form="squared_mean"):
    """Mean squared difference of the two feature maps' attention maps.

    Both inputs must have the same spatial size: in a DDNN they are outputs of
    the same stage, computed by the student and by the teacher.
    """
    return ops.mean(
        ops.square(attention_map(student_features, form) - attention_map(teacher_features, form))
    )
