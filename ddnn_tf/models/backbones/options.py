"""The options every backbone family shares, checked importing nothing heavy: its depths, its BN and its heads."""

from ddnn_tf import errors

BN_MODES = ("shared", "private", "path")
HEADS = ("shared", "private")


def check_width(width):
    """Raises a ValueError unless ``width`` is a positive channel multiplier."""
    if not width > 0:
        raise ValueError(f"width must be a positive multiplier such as 0.25, 0.5 or 1.0, got {width}.")


def check_sharing(bn, heads):
    """Raises a UsageError (a ValueError) unless ``bn`` and ``heads`` are valid choices."""
    errors.check_choice("bn", bn, BN_MODES)
    errors.check_choice("heads", heads, HEADS)


def nested(named, full_depth):
    """The named depths ``{name: blocks per stage}`` that nest inside ``full_depth``'s, ascending, the full one last.

    A depth nests when each of its stage counts is no larger than the full
    net's: its sub-net keeps the first blocks of every stage.
    """
    full_counts = named[full_depth]
    return {
        name: counts
        for name, counts in sorted(named.items(), key=lambda item: (sum(item[1]), str(item[0])))
        if all(k <= f for k, f in zip(counts, full_counts))
    }


def resolve(arch, full_depth, named, depths, default):
    """Turns the user's ``depths`` argument into ``{name: blocks per stage}``, shallowest first.

    ``named`` maps every depth the family knows by name to its blocks per
    stage; ``depths`` is None (``default``, a sequence of names), a sequence
    of names nested in ``arch``, or a dict ``{name: blocks per stage}`` for
    custom sub-nets. The full net is always included: it is the teacher.
    """
    full_counts = named[full_depth]
    choices = nested(named, full_depth)
    if depths is None:
        depths = default
    resolved = {}
    if isinstance(depths, dict):
        for name, counts in depths.items():
            counts = tuple(int(k) for k in counts)
            if len(counts) != len(full_counts) or not all(1 <= k <= f for k, f in zip(counts, full_counts)):
                raise ValueError(
                    f"Depth {name!r} has blocks per stage {counts}; {arch} needs "
                    f"{len(full_counts)} counts, each from 1 to {full_counts}."
                )
            resolved[name] = counts
    else:
        for name in depths:
            if name not in choices:
                raise ValueError(
                    f"Depth {name!r} is not a standard depth nested in {arch}; valid "
                    f"choices: {', '.join(map(str, choices))} (or pass a dict of "
                    "blocks per stage)."
                )
            resolved[name] = choices[name]
    resolved.setdefault(full_depth, full_counts)
    if list(resolved.values()).count(full_counts) > 1:
        raise ValueError(f"Only the full depth {full_depth} may have the full block counts {full_counts}.")
    return dict(sorted(resolved.items(), key=lambda item: (sum(item[1]), str(item[0]))))
