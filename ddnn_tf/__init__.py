"""ddnn_tf: depth-level dynamic networks (ResNet, MobileNetV2) trained with Embedded Knowledge Distillation.

``import ddnn_tf`` is light: TensorFlow and Keras load when something that
trains or converts is first used (``ddnn_tf.build_ddnn``, ``ddnn_tf.data``,
...), so ``ddnn_tf.runtime`` and ``python -m ddnn_tf.benchmark`` run on a
board with only the LiteRT runtime installed.
"""

import importlib

from ddnn_tf import startup

from ddnn_tf.version import __version__  # noqa: F401 (the package's version, read by setuptools)

# name -> the module that defines it, imported on first use
_LAZY = {
    "build_ddnn": "ddnn_tf.models",
    "DDNN": "ddnn_tf.models",
    "DepthLevelBackbone": "ddnn_tf.models",
    "ResNetBackbone": "ddnn_tf.models",
    "MobileNetV2Backbone": "ddnn_tf.models",
    "Objective": "ddnn_tf.distill",
    "ARCHS": "ddnn_tf.models",
    "recalibrate_bn": "ddnn_tf.models.calibration",
    "recalibrated_subnet": "ddnn_tf.models.calibration",
}
_SUBMODULES = ("data", "distill", "models", "runtime")
__all__ = [*_LAZY, *_SUBMODULES]

startup.install()


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"ddnn_tf.{name}")
    raise AttributeError(f"module 'ddnn_tf' has no attribute {name!r}")
