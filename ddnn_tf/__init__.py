"""ddnn_tf: depth-level dynamic ResNets trained with Embedded Knowledge Distillation."""

__version__ = "0.1.0"

from ddnn_tf.startup import quiet_native_startup

with quiet_native_startup():
    import tensorflow as _tensorflow

    _tensorflow.config.list_physical_devices()  # the CUDA probe's lines come out here, filtered

from ddnn_tf import data, losses  # noqa: E402
from ddnn_tf.calibration import recalibrate_bn  # noqa: E402
from ddnn_tf.models import ARCHS, DDNN  # noqa: E402


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
