"""The ResNet families' depth tables (``backbones/resnet.py`` builds them), and how their depths nest.

A depth is named by its layer count (18, 34, 56, ...) and described by its
blocks per stage. A sub-net keeps the first ``k_s`` blocks of every stage
``s``, so a standard depth nests inside a deeper one of the same family when
each of its stage counts is no larger.
"""

import dataclasses

from ddnn_tf import errors
from ddnn_tf.models.backbones import options


@dataclasses.dataclass(frozen=True)
class Family:
    """Shape shared by every depth of one ResNet family."""

    block: str  # "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1)
    widths: tuple  # base channels per stage; bottleneck outputs are 4x
    shortcut: str  # "projection" (1x1 conv + BN) or "zero_pad" (He et al. option A)
    depths: dict  # standard depth -> blocks per stage
    # Named depths a DDNN holds only when asked for (``depths=(8, 14)``), so
    # that an arch's default set stays the published one.
    small_depths: dict = dataclasses.field(default_factory=dict)

    def named_depths(self):
        """Every depth this family knows by name: ``{name: blocks per stage}``."""
        return {**self.small_depths, **self.depths}

    @property
    def layers_per_block(self):
        return 2 if self.block == "basic" else 3

    def layer_count(self, blocks_per_stage):
        """Weighted layers of a net: the convs of its blocks, the stem and the classifier."""
        return self.layers_per_block * sum(blocks_per_stage) + 2


IMAGENET_BASIC = Family(
    block="basic",
    widths=(64, 128, 256, 512),
    shortcut="projection",
    depths={18: (2, 2, 2, 2), 34: (3, 4, 6, 3)},
)
IMAGENET_BOTTLENECK = Family(
    block="bottleneck",
    widths=(64, 128, 256, 512),
    shortcut="projection",
    depths={50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)},
)
# He et al. 2016, section 4.2: 6n+2 layers, widths 16/32/64, parameter-free shortcuts.
# ResNet-8 and -14 (n = 1, 2) are small enough to be limited by capacity on MNIST.
CIFAR = Family(
    block="basic",
    widths=(16, 32, 64),
    shortcut="zero_pad",
    depths={6 * n + 2: (n, n, n) for n in (3, 5, 7, 9, 18)},
    small_depths={6 * n + 2: (n, n, n) for n in (1, 2)},
)

ARCHS = {
    f"resnet{depth}": family
    for family in (IMAGENET_BASIC, IMAGENET_BOTTLENECK, CIFAR)
    for depth in sorted(family.named_depths())
}


def scaled_widths(family, width):
    """Channels per stage at a width multiplier (as in width-multiplied networks), at least 1 each."""
    options.check_width(width)
    return tuple(max(1, int(round(channels * width))) for channels in family.widths)


def family_of(arch):
    """Returns ``(family, full depth)`` for an arch name, or raises ValueError."""
    if arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; valid choices: {', '.join(ARCHS)}.")
    return ARCHS[arch], int(arch[len("resnet"):])


def standard_subdepths(arch, include_small=False):
    """The standard depths that nest inside ``arch``, ascending, the full depth last.

    ``include_small`` adds the family's small depths (ResNet-8, -14), which a
    DDNN holds only when asked for by name.
    """
    family, full = family_of(arch)
    known = family.named_depths() if include_small else {**family.depths, full: family.named_depths()[full]}
    return tuple(name for name in options.nested(known, full) if name <= full)


def resolve_depths(arch, depths=None):
    """Turns the user's ``depths`` argument into ``{name: blocks per stage}`` (``options.resolve``).

    ``depths`` is None (every standard depth nested in ``arch``), a sequence
    of standard depth names, or a dict ``{name: blocks per stage}`` for
    custom sub-nets. The full net is always included: it is the teacher.
    """
    family, full = family_of(arch)
    return options.resolve(arch, full, family.named_depths(), depths, standard_subdepths(arch))


STEMS = ("auto", "imagenet", "cifar")


def check(arch, depths=None, stem="auto", bn="path", width=1.0, heads="shared"):
    """The blocks per stage of every depth (``resolve_depths``) once every choice is checked, or a ValueError."""
    errors.check_choice("stem", stem, STEMS)
    options.check_sharing(bn, heads)
    family, _ = family_of(arch)
    scaled_widths(family, width)
    return resolve_depths(arch, depths)
