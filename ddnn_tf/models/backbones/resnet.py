"""The ResNet family: a depth-level dynamic ResNet, one weight set holding every depth, each runnable alone."""

import keras

from ddnn_tf.models import architectures
from ddnn_tf.models.backbones.base import DepthLevelBackbone, bn_name, from_config_pairs
from ddnn_tf.models.layers import ZeroPadShortcut


@keras.saving.register_keras_serializable(package="ddnn_tf")
class ResNetBackbone(DepthLevelBackbone):
    """A ResNet whose shallower sub-nets share its weights; ``model(x, depth=d)`` runs one depth.

    A sub-net keeps the first blocks of every stage of the full net (ResNet-18
    is ResNet-34 with 2, 2, 2, 2 of its 3, 4, 6, 3 blocks), so each is exactly
    the standard network. The backbone takes normalised images and gives
    logits; ``ddnn_tf.DDNN`` adds the pixel normalisation and the training
    objective.

    Args:
        arch: the full net, one of ``architectures.ARCHS`` ("resnet34",
            "resnet50", "resnet101", "resnet152", "resnet56", "resnet110", ...).
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)`` of one image.
        depths: None for every standard depth nested in ``arch``; a sequence of
            standard depths such as ``(20, 56)``; or a dict
            ``{name: blocks per stage}`` for custom sub-nets. The full depth is
            always included.
        stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool), "cifar" (3x3/1 conv) or
            "auto" (cifar for inputs of 64 pixels or fewer).
        bn: how the depths share batch norm: "path" (the default), "private"
            or "shared"; see ``DepthLevelBackbone``.
        width: channel multiplier of every stage (0.25, 0.5, 1.0, ...).
        zero_init_residual: start the last BN scale of every residual branch
            at 0, so every block starts as its shortcut.
        bn_momentum: momentum of the BN moving statistics.
        heads: "shared" (one classifier for every depth: the paper's form) or
            "private" (one per depth); see ``DepthLevelBackbone``.

    Example:
    >>> backbone = ddnn_tf.ResNetBackbone("resnet56", 10, (32, 32, 3))
    >>> backbone.depths
    (20, 32, 44, 56)
    >>> logits = backbone(images, depth=20)
    >>> mobile = backbone.subnet(20)  # a plain functional keras.Model of that depth
    """

    family = "resnet"
    ARCHS = tuple(architectures.ARCHS)

    def __init__(self, arch, num_classes, input_shape, depths=None, stem="auto", bn="path", width=1.0,
                 zero_init_residual=False, bn_momentum=0.9, heads="shared", **kwargs):
        block_counts = self.check_options(arch=arch, depths=depths, stem=stem, bn=bn, width=width, heads=heads)
        family, full_depth = architectures.family_of(arch)
        super().__init__(arch, num_classes, input_shape, block_counts, full_depth, bn, heads, bn_momentum, **kwargs)
        if stem == "auto":
            stem = "cifar" if max(self.image_shape[:2]) <= 64 else "imagenet"
        self.stem = stem
        self.width = float(width)
        self.zero_init_residual = bool(zero_init_residual)
        self._family = family
        self._widths = architectures.scaled_widths(family, width)
        self._assemble()

    @classmethod
    def check_options(cls, arch, depths=None, stem="auto", bn="path", width=1.0, heads="shared", **_):
        return architectures.check(arch, from_config_pairs(depths), stem, bn, width, heads)

    def standalone_config(self, depth):
        """``options`` of the plain ResNet of ``depth`` alone (ResNet-20 from a ResNet-56 DDNN)."""
        depth = self.check_depth(depth)
        if not isinstance(depth, int):
            raise ValueError(f"Depth {depth!r} is a custom sub-net; only a standard depth has a standalone ResNet.")
        return {**self.options(), "arch": f"resnet{depth}", "depths": [depth]}

    # ------------------------------------------------------------------ layers

    def _conv(self, name, filters, kernel_size, strides):
        self._add(
            keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=name,
            )
        )

    def _branch(self, stage, block):
        """``(kernel, strides, filters)`` of each conv of a block's residual branch."""
        width = self._widths[stage]
        strides = _strides(stage, block)
        if self._family.block == "basic":
            return [(3, strides, width), (3, 1, width)]
        return [(1, 1, width), (3, strides, width), (1, 1, 4 * width)]

    def _block_in_out(self, stage, block):
        out_channels = self._branch(stage, block)[-1][2]
        if block > 0:
            return out_channels, out_channels
        if stage == 0:
            return self._widths[0], out_channels
        return self._branch(stage - 1, 0)[-1][2], out_channels

    def _make_layers(self):
        width = self._widths[0]
        if self.stem == "imagenet":
            self._conv("stem_conv", width, 7, 2)
        else:
            self._conv("stem_conv", width, 3, 1)
        self._batch_norm("stem_bn")
        self._add(keras.layers.ReLU(name="stem_relu"))
        if self.stem == "imagenet":
            self._add(keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool"))

        for stage, count in enumerate(self.block_counts[self._full_depth]):
            for block in range(count):
                prefix = _block_name(stage, block)
                branch = self._branch(stage, block)
                for unit, (kernel, strides, filters) in enumerate(branch, start=1):
                    self._conv(f"{prefix}_conv{unit}", filters, kernel, strides)
                    last_unit = unit == len(branch)
                    for owner in self._bn_owners(stage, block):
                        self._batch_norm(
                            bn_name(f"{prefix}_bn{unit}", owner), zero_init=last_unit and self.zero_init_residual
                        )
                    if unit < len(branch):
                        self._add(keras.layers.ReLU(name=f"{prefix}_relu{unit}"))
                in_channels, out_channels = self._block_in_out(stage, block)
                strides = _strides(stage, block)
                if strides > 1 or in_channels != out_channels:
                    if self._family.shortcut == "zero_pad":
                        self._add(ZeroPadShortcut(out_channels, strides, name=f"{prefix}_shortcut"))
                    else:
                        self._conv(f"{prefix}_shortcut_conv", out_channels, 1, strides)
                        for owner in self._bn_owners(stage, block):
                            self._batch_norm(bn_name(f"{prefix}_shortcut_bn", owner))
                self._add(keras.layers.Add(name=f"{prefix}_add"))
                self._add(keras.layers.ReLU(name=f"{prefix}_out"))

    # ----------------------------------------------------------------- forward

    def _stem(self, x, training):
        table = self._layer_table
        x = table["stem_conv"](x)
        x = table["stem_bn"](x, training=training)
        x = table["stem_relu"](x)
        if "stem_pool" in table:
            x = table["stem_pool"](x)
        return x

    def _block(self, x, stage, block, owner, training):
        table = self._layer_table
        prefix = _block_name(stage, block)
        units = len(self._branch(stage, block))
        h = x
        for unit in range(1, units + 1):
            h = table[f"{prefix}_conv{unit}"](h)
            h = table[bn_name(f"{prefix}_bn{unit}", owner)](h, training=training)
            if unit < units:
                h = table[f"{prefix}_relu{unit}"](h)
        shortcut = x
        if f"{prefix}_shortcut" in table:
            shortcut = table[f"{prefix}_shortcut"](x)
        elif f"{prefix}_shortcut_conv" in table:
            shortcut = table[f"{prefix}_shortcut_conv"](x)
            shortcut = table[bn_name(f"{prefix}_shortcut_bn", owner)](shortcut, training=training)
        return table[f"{prefix}_out"](table[f"{prefix}_add"]([h, shortcut]))

    def get_config(self):
        return {**super().get_config(), "stem": self.stem, "width": self.width,
                "zero_init_residual": self.zero_init_residual}


# Models saved before the families existed name their backbone "DDNNBackbone".
keras.saving.get_custom_objects()["ddnn_tf>DDNNBackbone"] = ResNetBackbone


def _strides(stage, block):
    """Every stage but the first halves the resolution in its first block."""
    return 2 if stage > 0 and block == 0 else 1


def _block_name(stage, block):
    return f"stage{stage + 1}_block{block + 1}"
