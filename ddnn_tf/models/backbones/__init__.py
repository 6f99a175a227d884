"""The backbone families, by name: each one file holding a ``DepthLevelBackbone`` subclass.

A run's ``config.model`` is a family's constructor options plus ``family``,
so training, ``config.check`` and loading all build a backbone one way:

    backbone = backbones.build({"family": "resnet", "arch": "resnet56", ...}, num_classes, input_shape)

A new family is a file here, its line below and the backbone contract test
(``tests/models/test_backbone_contract.py``) passing.
"""

import importlib

from ddnn_tf import errors

FAMILIES = {
    "resnet": "ddnn_tf.models.backbones.resnet:ResNetBackbone",
    "mobilenet_v2": "ddnn_tf.models.backbones.mobilenet_v2:MobileNetV2Backbone",
}


def get(family):
    """The backbone class of ``family``, or a UsageError naming the families."""
    errors.check_choice("family", family, FAMILIES)
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def family_of_arch(arch):
    """The family whose ``ARCHS`` hold ``arch``, or a ValueError naming every arch."""
    for family in FAMILIES:
        if arch in get(family).ARCHS:
            return family
    every = [name for family in FAMILIES for name in get(family).ARCHS]
    raise ValueError(f"Unknown arch {arch!r}; valid choices: {', '.join(every)}.")


def _split(model_config):
    """``(class, options)`` of a ``config.model``, unknown keys refused by name."""
    options = dict(model_config)
    if "family" not in options:
        raise errors.UsageError(f"a model config names its family: one of {', '.join(FAMILIES)}", "family")
    cls = get(options.pop("family"))
    unknown = sorted(options.keys() - set(cls.option_names()))
    if unknown:
        raise errors.UsageError(f"{', '.join(unknown)} is not an option of the {cls.family} family; its options: "
                                f"family, {', '.join(cls.option_names())}", unknown[0])
    # A config's () means the default depths, as the constructors' None does.
    if "depths" in options and not options["depths"]:
        options["depths"] = None
    return cls, options


def check(model_config):
    """Raises a ValueError for the first bad option of a ``config.model``, building nothing."""
    cls, options = _split(model_config)
    cls.check_options(**options)


def build(model_config, num_classes, input_shape):
    """The backbone a ``config.model`` describes (its ``family`` and constructor options)."""
    cls, options = _split(model_config)
    return cls(num_classes=num_classes, input_shape=input_shape, **options)


def register_all():
    """Imports every family, so that Keras can load a saved model of any of them."""
    for family in FAMILIES:
        get(family)
