"""The KL term of distillation, written once for Keras 3 (training) and for TensorFlow under Keras 2 (QAT).

It imports nothing of the package: ``ops`` is ``keras.ops`` in
``losses.kd_loss``, and ``tensorflow_ops()`` in ``export/qat_worker.py``,
which must not import Keras 3 and so loads this file by its path.
"""

import types


def softened_kl(student_logits, teacher_logits, temperature, ops):
    """Per example, ``T**2 * KL(teacher_T || student_T)`` on classes softened by ``T`` (Hinton).

    The ``T**2`` keeps the gradients' size as the temperature changes.
    ``ops`` provides ``log_softmax(x, axis)``, ``exp(x)`` and ``sum(x, axis)``.
    """
    teacher_log_probs = ops.log_softmax(teacher_logits / temperature, axis=-1)
    student_log_probs = ops.log_softmax(student_logits / temperature, axis=-1)
    kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return kl * (temperature**2)


def tensorflow_ops():
    """TensorFlow's functions under the names ``keras.ops`` gives them, for ``softened_kl`` without Keras 3."""
    import tensorflow as tf

    return types.SimpleNamespace(log_softmax=tf.nn.log_softmax, exp=tf.exp, sum=tf.reduce_sum)
