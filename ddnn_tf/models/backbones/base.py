"""What every depth-level backbone provides: the contract the task, the calibration and the export rely on.

A depth-level backbone is a network of stages of blocks in which a sub-net
keeps the first ``k_s`` blocks of every stage ``s``, so one weight set holds
the full net and its shallower standard versions. ``DepthLevelBackbone``
holds everything that follows from that alone: which depths there are, the
batch-norm owners of every block (``bn``), the classifier heads (``heads``),
running several depths on one batch with shared blocks computed once, one
depth as a plain functional model, and the config round trip. A family
(a file beside this one, named in ``FAMILIES``) adds its layers: the stem, one block,
and what runs after the last block.
"""

import inspect
import math

import keras


class DepthLevelBackbone(keras.Model):
    """Base class of every backbone family; ``model(x, depth=d)`` runs one depth.

    A family subclass sets ``family`` (its registry name) and ``ARCHS`` (the
    full nets it builds), implements ``check_options`` (validates its
    constructor's options and returns each depth's blocks per stage, without
    building anything), ``_make_layers``, ``_stem``, ``_block`` and
    ``standalone_config``, and may override ``_top`` (what runs between the
    last block and the pooling) and ``_bn_epsilon``.

    Args (every family takes these):
        arch: the full net, one of the family's ``ARCHS``.
        num_classes: classifier outputs.
        input_shape: ``(height, width, channels)`` of one image.
        block_counts: ``{depth name: blocks per stage}``, the full depth's included.
        full_depth: the name of the full net, the teacher.
        bn: "path" (a block's BN is shared by the depths that reach it by the
            same path, so see the same input; every depth keeps its own
            statistics, and a block several depths reach by one path is
            computed once per step), "private" (a block whose input differs
            between depths has its own BN per depth) or "shared" (one BN per
            layer for every depth: the standard parameter count, but the
            depths' moving statistics blend, so a depth must be recalibrated
            with ``ddnn_tf.recalibrated_subnet`` before it is used).
        heads: "shared" (one classifier for every depth: the paper's form) or
            "private" (a classifier per depth, as in BYOT and Shallow-Deep
            Networks: a sub-net's losses then never move the head the full
            net uses). Either way each depth's standalone network is the
            standard one, with one classifier; the full net's is named
            ``classifier``, a sub-net's private one ``classifier_depth<d>``.
        bn_momentum: momentum of the BN moving statistics.
    """

    family = None
    ARCHS = ()
    _bn_epsilon = 1e-5

    def __init__(self, arch, num_classes, input_shape, block_counts, full_depth, bn, heads, bn_momentum, **kwargs):
        super().__init__(**{"name": f"{self.family}_backbone", **kwargs})
        input_shape = tuple(int(size) for size in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
        self.arch = arch
        self.num_classes = int(num_classes)
        self.image_shape = input_shape
        self.block_counts = block_counts
        self.bn = bn
        self.heads = heads
        self.bn_momentum = float(bn_momentum)
        self._full_depth = full_depth
        self._shared_prefix = _common_prefix_length(block_counts.values())
        self._layer_table = {}

    def _assemble(self):
        """Makes every layer and variable; a family's constructor calls it last."""
        self._make_layers()
        self._add(keras.layers.GlobalAveragePooling2D(name="avg_pool"))
        # float32 logits keep the softmax and the losses exact under mixed precision. The full
        # net's head comes first, so private heads leave every other initial weight as it was.
        for depth in (self._full_depth, *(d for d in self.depths if d != self._full_depth)):
            if depth == self._full_depth or self.heads == "private":
                self._add(keras.layers.Dense(self.num_classes, dtype="float32", name=self._head_name(depth)))
        self.build((None, *self.image_shape))

    # ------------------------------------------------------- what a family defines

    @classmethod
    def check_options(cls, **options):
        """``{depth name: blocks per stage}`` for these constructor options, or a ValueError naming the bad one."""
        raise NotImplementedError

    def _make_layers(self):
        """Adds (``_add``) every layer of the stem, the blocks and ``_top``."""
        raise NotImplementedError

    def _stem(self, x, training):
        raise NotImplementedError

    def _block(self, x, stage, block, owner, training):
        """One block on ``x``, with the BNs of ``owner`` (``_bn_owner``)."""
        raise NotImplementedError

    def _top(self, x, depth, training):
        """What runs between ``depth``'s last block and the pooling; nothing by default."""
        return x

    def standalone_config(self, depth):
        """``options`` of this family's plain network of ``depth`` alone: what ``independent`` trains."""
        raise NotImplementedError

    # ------------------------------------------------------------ depths

    @property
    def depths(self):
        """Names of the depths this model holds, shallowest first."""
        return tuple(self.block_counts)

    @property
    def full_depth(self):
        """Name of the full net: the deepest depth and the teacher."""
        return self._full_depth

    def describe(self, depth):
        """What an exported file records of ``depth``'s architecture (JSON-ready)."""
        return {"family": self.family, "blocks_per_stage": list(self.block_counts[self.check_depth(depth)])}

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

    # -------------------------------------------------------- layer helpers

    def _add(self, layer):
        self._layer_table[layer.name] = layer

    def _batch_norm(self, name, zero_init=False):
        self._add(
            keras.layers.BatchNormalization(
                momentum=self.bn_momentum,
                epsilon=self._bn_epsilon,
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

    def _top_owners(self):
        """The owners of a BN after the last block: each depth ran its own blocks, so has its own (unless shared)."""
        if self.bn == "shared" or len(self.depths) == 1:
            return [None]
        return [(depth,) for depth in self.depths]

    def _top_owner(self, depth):
        return next(owner for owner in self._top_owners() if owner is None or depth in owner)

    def _path_index(self, stage, block):
        """Position of a block in the full net's sequence of blocks."""
        full_counts = self.block_counts[self._full_depth]
        return sum(full_counts[:stage]) + block

    def _head_name(self, depth):
        """The classifier ``depth`` runs."""
        return "classifier" if self.heads == "shared" or depth == self._full_depth else f"classifier_depth{depth}"

    # ------------------------------------------------------------ forward

    def build(self, input_shape):
        # Runs every depth once symbolically so that every variable exists now:
        # calling the model later never creates one.
        self.run_depths(keras.KerasTensor(input_shape), self.depths, training=False)
        self.built = True

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
            pooled = self._layer_table["avg_pool"](self._top(h, depth, training))
            results[depth] = (self._layer_table[self._head_name(depth)](pooled), stage_outputs)
        return results

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

    @classmethod
    def option_names(cls):
        """The family's constructor options beyond the classes and the image shape: ``config.model``'s keys."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return tuple(p.name for p in parameters if p.kind == p.POSITIONAL_OR_KEYWORD
                     and p.name not in ("self", "num_classes", "input_shape"))

    def options(self):
        """This model's ``option_names``, as its ``get_config`` holds them."""
        config = self.get_config()
        return {name: config[name] for name in self.option_names()}

    def get_config(self):
        """The constructor's arguments; a family adds its own options."""
        return {
            **super().get_config(),
            "arch": self.arch,
            "num_classes": self.num_classes,
            "input_shape": list(self.image_shape),
            # Pairs, not a dict: JSON would turn integer depth names into strings.
            "depths": [[name, list(counts)] for name, counts in self.block_counts.items()],
            "bn": self.bn,
            "heads": self.heads,
            "bn_momentum": self.bn_momentum,
        }


def from_config_pairs(depths):
    """Accepts ``depths`` as ``get_config`` writes it: ``[[name, counts], ...]``."""
    if isinstance(depths, (list, tuple)) and depths and isinstance(depths[0], (list, tuple)):
        return {name: tuple(counts) for name, counts in depths}
    return depths


def bn_name(name, owner):
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
