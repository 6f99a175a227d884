"""Models: the depth-level dynamic ResNet (``DDNNBackbone``), the task that trains it (``DDNN``), their layers."""

from ddnn_tf.models import ddnn as _ddnn
from ddnn_tf.models.architectures import ARCHS
from ddnn_tf.models.backbone import DDNNBackbone
from ddnn_tf.models.ddnn import DDNN
from ddnn_tf.models.layers import PixelNormalization, ZeroPadShortcut

__all__ = ["ARCHS", "DDNN", "DDNNBackbone", "PixelNormalization", "ZeroPadShortcut", "build_ddnn"]


def build_ddnn(arch, num_classes, input_shape, **options):
    """Builds a DDNN: one ResNet holding its shallower sub-nets, and the objective that trains them.

    Args:
        arch: the full net, e.g. "resnet34" (holds 18), "resnet101" (holds 50),
            "resnet56" (holds 20, 32, 44), "resnet20" (with ``depths=(8, 14)``);
            see ``ddnn_tf.ARCHS``.
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)``.
        **options: the backbone's (``depths``, ``stem``, ``bn``, ``width``,
            ``zero_init_residual``, ``bn_momentum``, ``heads``: see ``DDNNBackbone``),
            ``pixel_mean`` and ``pixel_std`` (the model then takes pixels and
            normalises them itself: see ``DDNN``), and either ``objective`` (a
            ``ddnn_tf.distill.Objective``) or its options (``kd_weight``,
            ``at_weight``, ``temperature``, ``teacher``, ...), with their
            defaults: every depth trained by cross-entropy alone.

    Returns:
        A built ``ddnn_tf.DDNN``; compile it with an optimizer and call ``fit``.

    Example:
    >>> model = ddnn_tf.build_ddnn("resnet34", 10, (32, 32, 3))
    >>> model.depths
    (18, 34)
    """
    return _ddnn.build(arch, num_classes, input_shape, **options)
