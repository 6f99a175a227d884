"""Distillation: the training objective of every depth (``objective.Objective``) and its losses (``losses``, ``kl``).

Importing this package loads no TensorFlow: configs build an ``Objective``
to check their values before training starts.
"""

from ddnn_tf.distill.objective import Objective

__all__ = ["Objective"]
