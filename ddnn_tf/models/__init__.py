"""Models: the depth-level backbones (``backbones``: ResNet, MobileNetV2), the task that trains them (``DDNN``), their layers."""

from ddnn_tf.models import backbones, ddnn as _ddnn
from ddnn_tf.models.backbones.base import DepthLevelBackbone
from ddnn_tf.models.backbones.mobilenet_v2 import MobileNetV2Backbone
from ddnn_tf.models.backbones.resnet import ResNetBackbone
from ddnn_tf.models.ddnn import DDNN
from ddnn_tf.models.layers import PixelNormalization, ZeroPadShortcut

backbones.register_all()
# Every full net a DDNN can be built from, of every family.
ARCHS = tuple(arch for family in backbones.FAMILIES for arch in backbones.get(family).ARCHS)

__all__ = ["ARCHS", "DDNN", "DepthLevelBackbone", "MobileNetV2Backbone", "PixelNormalization", "ResNetBackbone",
           "ZeroPadShortcut", "build_ddnn"]


def build_ddnn(arch, num_classes, input_shape, **options):
    """Builds a DDNN: one network holding its shallower sub-nets, and the objective that trains them.

    Args:
        arch: the full net, e.g. "resnet34" (holds 18), "resnet101" (holds 50),
            "resnet56" (holds 20, 32, 44), "resnet20" (with ``depths=(8, 14)``),
            "mobilenet_v2" (holds 23 and 38); see ``ddnn_tf.ARCHS``.
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)``.
        **options: the backbone's (``depths``, ``stem``, ``bn``, ``width``,
            ``bn_momentum``, ``heads``, and ResNet's ``zero_init_residual``: see
            ``ResNetBackbone`` and ``MobileNetV2Backbone``),
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
