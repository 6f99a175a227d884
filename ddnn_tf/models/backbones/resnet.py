"""The architecture of a depth-level dynamic ResNet: one weight set, every depth, each runnable alone."""

import math

import keras

from ddnn_tf.models import architectures
from ddnn_tf.models.layers import ZeroPadShortcut


@keras.saving.register_keras_serializable(package="ddnn_tf")
class DDNNBackbone(keras.Model):
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
        bn: "path" (the default: a block's BN is shared by the depths that
            reach it by the same path, so see the same input; every depth keeps
            its own statistics, and a block several depths reach by one path
            is computed once per step), "private" (a block whose input differs
            between depths has its own BN per depth) or "shared" (one BN per
            layer for every depth: the standard parameter count, but the
            depths' moving statistics blend, so a depth must be recalibrated
            with ``ddnn_tf.recalibrated_subnet`` before it is used).
        width: channel multiplier of every stage (0.25, 0.5, 1.0, ...).
        zero_init_residual: start the last BN scale of every residual branch
            at 0, so every block starts as its shortcut.
        bn_momentum: momentum of the BN moving statistics.
        heads: "shared" (one classifier for every depth: the paper's form) or
            "private" (a classifier per depth, as in BYOT and Shallow-Deep
            Networks: a sub-net's losses then never move the head the full
            net uses). Either way each depth's standalone network is the
            standard one, with one classifier; the full net's is named
            ``classifier``, a sub-net's private one ``classifier_depth<d>``.

    Example:
    >>> backbone = ddnn_tf.DDNNBackbone("resnet56", 10, (32, 32, 3))
    >>> backbone.depths
    (20, 32, 44, 56)
    >>> logits = backbone(images, depth=20)
    >>> mobile = backbone.subnet(20)  # a plain functional keras.Model of that depth
    """

    def __init__(self, arch, num_classes, input_shape, depths=None, stem="auto", bn="path", width=1.0,
                 zero_init_residual=False, bn_momentum=0.9, heads="shared", **kwargs):
        super().__init__(**kwargs)
        block_counts = architectures.check(arch, _from_config_pairs(depths), stem, bn, width, heads)
        family, full_depth = architectures.family_of(arch)
        input_shape = tuple(int(size) for size in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
        if stem == "auto":
            stem = "cifar" if max(input_shape[:2]) <= 64 else "imagenet"
        self.arch = arch
        self.num_classes = int(num_classes)
        self.image_shape = input_shape
        self.block_counts = block_counts
        self.stem = stem
        self.bn = bn
        self.width = float(width)
        self.zero_init_residual = bool(zero_init_residual)
        self.bn_momentum = float(bn_momentum)
        self.heads = heads
        self._family = family
        self._widths = architectures.scaled_widths(family, width)
        self._full_depth = full_depth
        self._shared_prefix = _common_prefix_length(block_counts.values())
        self._layer_table = {}
        self._make_layers()
        self.build((None, *input_shape))

    @property
    def depths(self):
        """Names of the depths this model holds, shallowest first."""
        return tuple(self.block_counts)

    @property
    def full_depth(self):
        """Name of the full net: the deepest depth and the teacher."""
        return self._full_depth

    # ------------------------------------------------------------------ layers

    def _add(self, layer):
        self._layer_table[layer.name] = layer

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

    def _batch_norm(self, name, zero_init=False):
        self._add(
            keras.layers.BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=1e-5,
                gamma_initializer="zeros" if zero_init else "ones",
                name=name,
            )
        )

    def _bn_owners(self, stage, block):
        """The owners of this block's BNs, each a tuple of the depths it serves; [None] when it has one BN."""
        if self.bn == "shared" or self._path_index(stage, block) < self._shared_prefix:
            return [None]
        reaching = [depth for depth, counts in self.block_counts.items() if counts[stage] > block]
        if self.bn == "private":
            return [(depth,) for depth in reaching]
        # "path": depths that ran the same blocks of every earlier stage reach
        # this block by the same path, so with the same input.
        groups = {}
        for depth in reaching:
            groups.setdefault(tuple(self.block_counts[depth][:stage]), []).append(depth)
        return [tuple(group) for group in groups.values()]

    def _bn_owner(self, stage, block, depth):
        """The owner of the BN that ``depth`` runs in this block."""
        return next(owner for owner in self._bn_owners(stage, block) if owner is None or depth in owner)

    def _path_index(self, stage, block):
        """Position of a block in the full net's sequence of blocks."""
        full_counts = self.block_counts[self._full_depth]
        return sum(full_counts[:stage]) + block

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
                            _bn_name(f"{prefix}_bn{unit}", owner), zero_init=last_unit and self.zero_init_residual
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
                            self._batch_norm(_bn_name(f"{prefix}_shortcut_bn", owner))
                self._add(keras.layers.Add(name=f"{prefix}_add"))
                self._add(keras.layers.ReLU(name=f"{prefix}_out"))

        self._add(keras.layers.GlobalAveragePooling2D(name="avg_pool"))
        # float32 logits keep the softmax and the losses exact under mixed precision. The full
        # net's head comes first, so private heads leave every other initial weight as it was.
        for depth in (self._full_depth, *(d for d in self.depths if d != self._full_depth)):
            if depth == self._full_depth or self.heads == "private":
                self._add(keras.layers.Dense(self.num_classes, dtype="float32", name=self._head_name(depth)))

    def _head_name(self, depth):
        """The classifier ``depth`` runs."""
        return "classifier" if self.heads == "shared" or depth == self._full_depth else f"classifier_depth{depth}"

    def build(self, input_shape):
        # Runs every depth once symbolically so that every variable exists now:
        # calling the model later never creates one.
        self.run_depths(keras.KerasTensor(input_shape), self.depths, training=False)
        self.built = True

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
            h = table[_bn_name(f"{prefix}_bn{unit}", owner)](h, training=training)
            if unit < units:
                h = table[f"{prefix}_relu{unit}"](h)
        shortcut = x
        if f"{prefix}_shortcut" in table:
            shortcut = table[f"{prefix}_shortcut"](x)
        elif f"{prefix}_shortcut_conv" in table:
            shortcut = table[f"{prefix}_shortcut_conv"](x)
            shortcut = table[_bn_name(f"{prefix}_shortcut_bn", owner)](shortcut, training=training)
        return table[f"{prefix}_out"](table[f"{prefix}_add"]([h, shortcut]))

    def run_depths(self, x, depths, training):
        """Runs several depths on one batch, each shared block computed once.

        Returns ``{depth: (logits, [output of every stage])}``. Depths walk the
        blocks in the same order, so a block reached by the same path with
        the same BN gives the same output for every depth
        that reaches it: it is computed once and reused.
        """
        stem = self._stem(x, training)
        computed = {}
        results = {}
        for depth in depths:
            h, path, stage_outputs = stem, (), []
            for stage, count in enumerate(self.block_counts[depth]):
                for block in range(count):
                    owner = self._bn_owner(stage, block, depth)
                    path += ((stage, block, owner),)
                    if path not in computed:
                        computed[path] = self._block(h, stage, block, owner, training)
                    h = computed[path]
                stage_outputs.append(h)
            pooled = self._layer_table["avg_pool"](h)
            results[depth] = (self._layer_table[self._head_name(depth)](pooled), stage_outputs)
        return results

    def check_depth(self, depth):
        """``depth`` (the full net for None) if this model holds it, else a ValueError naming those it holds."""
        if depth is None:
            return self._full_depth
        if depth not in self.block_counts:
            raise ValueError(
                f"Depth {depth!r} is not in this {self.arch} DDNN; valid choices: "
                f"{', '.join(map(str, self.depths))}."
            )
        return depth

    def call(self, inputs, depth=None, training=None):
        """Logits of one depth (the full net when ``depth`` is None)."""
        depth = self.check_depth(depth)
        if len(inputs.shape) != 4 or inputs.shape[-1] != self.image_shape[-1]:
            raise ValueError(
                f"Expected images of shape (batch, height, width, {self.image_shape[-1]}), "
                f"got shape {tuple(inputs.shape)}."
            )
        return self.run_depths(inputs, (depth,), training)[depth][0]

    def subnet(self, depth, batch_size=None):
        """A plain functional ``keras.Model`` of one depth on normalised images, sharing this model's variables.

        It holds only the layers that depth runs, so exporting it exports that
        depth alone. Its outputs equal ``self(x, depth=depth, training=False)``.
        ``batch_size`` fixes the batch dimension (1 for a phone's TFLite file).
        """
        depth = self.check_depth(depth)
        inputs = keras.Input(self.image_shape, batch_size=batch_size, name="image")
        logits = self.run_depths(inputs, (depth,), training=None)[depth][0]
        return keras.Model(inputs, logits, name=f"{self.arch}_depth{depth}")

    def parameter_count(self, depth=None):
        """Trainable parameters of one depth's standalone network."""
        return int(sum(math.prod(v.shape) for v in self.subnet(depth).trainable_weights))

    def get_config(self):
        return {
            **super().get_config(),
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input_shape": list(self.image_shape),
            # Pairs, not a dict: JSON would turn integer depth names into strings.
            "depths": [[name, list(counts)] for name, counts in self.block_counts.items()],
            "stem": self.stem,
            "bn": self.bn,
            "width": self.width,
            "zero_init_residual": self.zero_init_residual,
            "bn_momentum": self.bn_momentum,
            "heads": self.heads,
        }


def _from_config_pairs(depths):
    """Accepts ``depths`` as ``get_config`` writes it: ``[[name, counts], ...]``."""
    if isinstance(depths, (list, tuple)) and depths and isinstance(depths[0], (list, tuple)):
        return {name: tuple(counts) for name, counts in depths}
    return depths


def _strides(stage, block):
    """Every stage but the first halves the resolution in its first block."""
    return 2 if stage > 0 and block == 0 else 1


def _block_name(stage, block):
    return f"stage{stage + 1}_block{block + 1}"


def _bn_name(name, owner):
    """``name`` for a BN of every depth, ``name_depth14`` for one depth's, ``name_depths14_20`` for a group's."""
    if owner is None:
        return name
    if len(owner) == 1:
        return f"{name}_depth{owner[0]}"
    return f"{name}_depths{'_'.join(map(str, owner))}"


def _common_prefix_length(all_counts):
    """How many blocks, in the full net's order, every depth runs with the same input."""
    paths = [
        [(stage, block) for stage, count in enumerate(counts) for block in range(count)]
        for counts in all_counts
    ]
    length = 0
    while all(len(path) > length for path in paths) and len({path[length] for path in paths}) == 1:
        length += 1
    return length
