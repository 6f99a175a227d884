"""Models: the depth-level dynamic ResNet and the families it is built from."""

from ddnn_tf.models.architectures import ARCHS
from ddnn_tf.models.ddnn import DDNN
from ddnn_tf.models.layers import PixelNormalization, ZeroPadShortcut

__all__ = ["ARCHS", "DDNN", "PixelNormalization", "ZeroPadShortcut", "build_ddnn"]


def build_ddnn(arch, num_classes, input_shape, **options):
    """Builds a DDNN: one ResNet holding its shallower sub-nets.

    Args:
        arch: the full net, e.g. "resnet34" (holds 18), "resnet101" (holds 50),
            "resnet56" (holds 20, 32, 44), "resnet20" (with ``depths=(8, 14)``);
            see ``ddnn_tf.ARCHS``.
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)``.
        **options: ``depths``, ``stem``, ``bn``, ``width``,
            ``zero_init_residual`` and the distillation options
            (``temperature``, ``kd_weight``, ``at_weight``, ``teacher``,
            ``detach_teacher``, ``attention``, ``attention_stages``,
            ``distill_warmup_steps``, ``distill_ramp_steps``,
            ``label_smoothing``, ``bn_momentum``), with ``DDNN``'s defaults.

    Returns:
        A built ``ddnn_tf.DDNN``; compile it and call ``fit``.

    Example:
    >>> model = ddnn_tf.build_ddnn("resnet34", 10, (32, 32, 3))
    >>> model.depths
    (18, 34)
    """
    return DDNN(arch, num_classes, input_shape, **options)
