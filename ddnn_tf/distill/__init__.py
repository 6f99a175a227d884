"""Distillation losses of EKD: the KL term and attention transfer (``losses``); the model's ``train_step`` sums them."""

from ddnn_tf.distill.losses import ATTENTION_MAPS, attention_loss, attention_map, kd_loss

__all__ = ["ATTENTION_MAPS", "attention_loss", "attention_map", "kd_loss"]
