"""The MobileNetV2 family (Sandler et al. 2018): inverted-residual stages, a sub-net keeping the first blocks of each.

As in once-for-all's elastic depth, a sub-net keeps the first ``k_s`` blocks
of every stage, so each depth is a standard MobileNetV2 with fewer blocks.
A depth is named by its weighted layers, as MobileNetV2 is "53 layers deep":
the stem conv, the convs of its blocks (two in the first, three in every
other), the last 1x1 conv and the classifier.
"""

import keras

from ddnn_tf import errors
from ddnn_tf.models.backbones import options
from ddnn_tf.models.backbones.base import DepthLevelBackbone, bn_name, from_config_pairs

# (expansion, output channels, blocks, stride) per stage: Sandler et al.'s table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# A CIFAR-sized image keeps more resolution: the stem and the second stage do not subsample (32 -> 4 pixels
# at the last stage, as in the common CIFAR MobileNetV2); the weights are the same as the 224x224 net's.
CIFAR_STRIDES = (1, 1, 2, 2, 1, 2, 1)
STEMS = ("auto", "imagenet", "cifar")


def layer_count(blocks_per_stage):
    """Weighted layers: stem, 2 convs in the first block, 3 in every other, last conv, classifier."""
    return 3 * sum(blocks_per_stage) + 2


FULL = tuple(stage[2] for stage in STAGES)
# The full net, the one with at most two blocks per stage, and the one with one per stage.
NAMED_DEPTHS = {layer_count(counts): counts for counts in (FULL, tuple(min(2, n) for n in FULL), (1,) * len(FULL))}
FULL_DEPTHS = {"mobilenet_v2" if depth == layer_count(FULL) else f"mobilenet_v2_{depth}": depth for depth in NAMED_DEPTHS}


def make_divisible(value, divisor=8):
    """Channels rounded to a multiple of ``divisor``, never more than 10 % below ``value`` (as keras.applications)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def check(arch, depths=None, stem="auto", bn="path", width=1.0, heads="shared"):
    """The blocks per stage of every depth once every choice is checked, or a ValueError."""
    errors.check_choice("arch", arch, FULL_DEPTHS)
    errors.check_choice("stem", stem, STEMS)
    options.check_sharing(bn, heads)
    options.check_width(width)
    full = FULL_DEPTHS[arch]
    standard = tuple(options.nested(NAMED_DEPTHS, full))
    return options.resolve(arch, full, NAMED_DEPTHS, depths, standard)


@keras.saving.register_keras_serializable(package="ddnn_tf")
class MobileNetV2Backbone(DepthLevelBackbone):
    """A MobileNetV2 whose shallower versions share its weights; ``model(x, depth=d)`` runs one depth.

    At its full depth and a given ``width`` it is ``keras.applications.MobileNetV2``
    with ``alpha=width``, parameter for parameter (stride-2 convs pad "same"
    rather than by an explicit ZeroPadding2D layer: the same arithmetic on
    even-sized inputs, one op fewer on a phone).

    Args:
        arch: "mobilenet_v2" (53 layers), "mobilenet_v2_38" (at most two
            blocks per stage) or "mobilenet_v2_23" (one block per stage).
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)`` of one image.
        depths: None for every named depth nested in ``arch`` (23, 38, 53);
            a sequence of them; or a dict ``{name: blocks per stage}`` (7
            counts, each from 1 to 1, 2, 3, 4, 3, 3, 1) for custom sub-nets.
            The full depth is always included.
        stem: "imagenet" (stride-2 stem, the 224x224 net), "cifar" (the stem
            and the second stage at stride 1) or "auto" (cifar for inputs of
            64 pixels or fewer).
        bn: how the depths share batch norm: "path" (the default), "private"
            or "shared"; see ``DepthLevelBackbone``.
        width: the width multiplier (MobileNetV2's alpha: 0.35, 0.5, 0.75, 1.0, 1.4).
        bn_momentum: momentum of the BN moving statistics.
        heads: "shared" (one classifier for every depth) or "private" (one
            per depth); see ``DepthLevelBackbone``.

    Example:
    >>> backbone = ddnn_tf.MobileNetV2Backbone("mobilenet_v2", 10, (32, 32, 3), width=0.5)
    >>> backbone.depths
    (23, 38, 53)
    >>> phone = backbone.subnet(38)  # a plain functional keras.Model of that depth
    """

    family = "mobilenet_v2"
    ARCHS = tuple(FULL_DEPTHS)
    _bn_epsilon = 1e-3  # keras.applications' MobileNetV2

    def __init__(self, arch, num_classes, input_shape, depths=None, stem="auto", bn="path", width=1.0,
                 bn_momentum=0.9, heads="shared", **kwargs):
        block_counts = self.check_options(arch=arch, depths=depths, stem=stem, bn=bn, width=width, heads=heads)
        super().__init__(arch, num_classes, input_shape, block_counts, FULL_DEPTHS[arch], bn, heads, bn_momentum, **kwargs)
        if stem == "auto":
            stem = "cifar" if max(self.image_shape[:2]) <= 64 else "imagenet"
        self.stem = stem
        self.width = float(width)
        self._assemble()

    @classmethod
    def check_options(cls, arch, depths=None, stem="auto", bn="path", width=1.0, heads="shared", **_):
        return check(arch, from_config_pairs(depths), stem, bn, width, heads)

    def standalone_config(self, depth):
        """``options`` of the plain MobileNetV2 of ``depth`` alone."""
        depth = self.check_depth(depth)
        arch = next((name for name, full in FULL_DEPTHS.items() if full == depth), None)
        if arch is None:
            raise ValueError(f"Depth {depth!r} is a custom sub-net; only a named depth has a standalone MobileNetV2.")
        return {**self.options(), "arch": arch, "depths": [depth]}

    # ------------------------------------------------------------------ layers

    def _stage_strides(self):
        return CIFAR_STRIDES if self.stem == "cifar" else tuple(stage[3] for stage in STAGES)

    def _channels(self, stage):
        """Output channels of a stage's blocks at this width."""
        return make_divisible(int(STAGES[stage][1] * self.width))

    def _shape(self, stage, block):
        """``(input channels, output channels, stride, expansion)`` of a block; expansion 1 has no expand conv."""
        stem_channels = make_divisible(32 * self.width)
        if block > 0:
            in_channels = self._channels(stage)
        else:
            in_channels = self._channels(stage - 1) if stage > 0 else stem_channels
        stride = self._stage_strides()[stage] if block == 0 else 1
        return in_channels, self._channels(stage), stride, STAGES[stage][0]

    def _conv(self, name, filters, kernel_size, strides=1):
        self._add(keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name))

    def _make_layers(self):
        self._conv("stem_conv", make_divisible(32 * self.width), 3, 1 if self.stem == "cifar" else 2)
        self._batch_norm("stem_bn")
        self._add(keras.layers.ReLU(6.0, name="stem_relu"))
        for stage, count in enumerate(self.block_counts[self._full_depth]):
            for block in range(count):
                prefix = _block_name(stage, block)
                in_channels, out_channels, stride, expansion = self._shape(stage, block)
                owners = self._bn_owners(stage, block)
                if expansion > 1:
                    self._conv(f"{prefix}_expand", expansion * in_channels, 1)
                    for owner in owners:
                        self._batch_norm(bn_name(f"{prefix}_expand_bn", owner))
                    self._add(keras.layers.ReLU(6.0, name=f"{prefix}_expand_relu"))
                self._add(keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                                       name=f"{prefix}_depthwise"))
                for owner in owners:
                    self._batch_norm(bn_name(f"{prefix}_depthwise_bn", owner))
                self._add(keras.layers.ReLU(6.0, name=f"{prefix}_depthwise_relu"))
                self._conv(f"{prefix}_project", out_channels, 1)
                for owner in owners:
                    self._batch_norm(bn_name(f"{prefix}_project_bn", owner))
                if stride == 1 and in_channels == out_channels:
                    self._add(keras.layers.Add(name=f"{prefix}_add"))
        # keras.applications widens the last conv only above width 1.
        self._conv("top_conv", make_divisible(1280 * self.width) if self.width > 1.0 else 1280, 1)
        for owner in self._top_owners():
            self._batch_norm(bn_name("top_bn", owner))
        self._add(keras.layers.ReLU(6.0, name="top_relu"))

    # ----------------------------------------------------------------- forward

    def _stem(self, x, training):
        table = self._layer_table
        return table["stem_relu"](table["stem_bn"](table["stem_conv"](x), training=training))

    def _block(self, x, stage, block, owner, training):
        table = self._layer_table
        prefix = _block_name(stage, block)
        h = x
        if f"{prefix}_expand" in table:
            h = table[f"{prefix}_expand"](h)
            h = table[f"{prefix}_expand_relu"](table[bn_name(f"{prefix}_expand_bn", owner)](h, training=training))
        h = table[f"{prefix}_depthwise"](h)
        h = table[f"{prefix}_depthwise_relu"](table[bn_name(f"{prefix}_depthwise_bn", owner)](h, training=training))
        h = table[bn_name(f"{prefix}_project_bn", owner)](table[f"{prefix}_project"](h), training=training)
        if f"{prefix}_add" in table:
            h = table[f"{prefix}_add"]([x, h])
        return h

    def _top(self, x, depth, training):
        table = self._layer_table
        h = table[bn_name("top_bn", self._top_owner(depth))](table["top_conv"](x), training=training)
        return table["top_relu"](h)

    def get_config(self):
        return {**super().get_config(), "stem": self.stem, "width": self.width}


def _block_name(stage, block):
    return f"stage{stage + 1}_block{block + 1}"
