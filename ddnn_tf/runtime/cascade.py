"""A confidence cascade over exported depths: the rule, the exact threshold sweep, ``cascade.json`` and its runtime.

A cascade runs the shallowest file on an input, and stops when the file is
confident: its exit score (the rule's, on the file's dequantized logits) is
at or above that stage's threshold. Otherwise it runs the next file; the
last one always answers. The depths of a DDNN do not share a prefix (a
sub-net keeps the first blocks of every stage), so an input that escalates
costs every file it ran: the multiply-accumulates here count them all.

Thresholds come from ``sweep`` over one set of labelled scores (the run's
validation images, never the test split): it tries every partition of those
images that a threshold can make, at every stage, for every ordered choice
of up to ``MAX_STAGES`` files, and keeps the cheapest cascade within
``max_drop`` points of the deepest file, or the most accurate within
``budget_macs``. TF-free, like the rest of ``ddnn_tf.runtime``.
"""

import dataclasses
import hashlib
import itertools
import math
import time
from pathlib import Path

import numpy as np

from ddnn_tf import errors, files
from ddnn_tf.runtime.runner import Runner

SCHEMA = "ddnn_tf.cascade/1"
FILE_NAME = "cascade.json"

# How an exit score is read from one input's logits; higher is more confident.
#   max_probability: the largest softmax probability;
#   entropy: minus the softmax distribution's entropy (nats).
RULES = ("max_probability", "entropy")

# The sweep tries every threshold of every stage exactly; with k stages that is
# (images + 1)^(k - 1) cascades per choice of files, so it stops at three.
MAX_STAGES = 3


def exit_scores(logits, rule):
    """The exit score of each row of ``logits`` (``(..., classes)``), in float64.

    The arithmetic is fixed so that every runtime reproduces it: the logits
    less their maximum, their exponentials summed in class order, then
    ``1 / sum`` (max_probability) or ``sum(p * z) - log(sum)`` (entropy, whose
    negative this is). mobile/core's ``Cascade.kt`` and the browser page
    compute the same.
    """
    errors.check_choice("rule", rule, RULES)
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    # Class by class, as the other runtimes add them: a running sum adds in order (numpy's sum does not).
    total = np.cumsum(e, axis=-1)[..., -1]
    weighted = np.cumsum(e * z, axis=-1)[..., -1]
    if rule == "max_probability":
        return 1.0 / total
    return weighted / total - np.log(total)


@dataclasses.dataclass(frozen=True)
class Target:
    """What a cascade is chosen for: at most ``max_drop`` top-1 points below the deepest file, at the fewest
    average multiply-accumulates; or the best top-1 within ``budget_macs`` on average. Exactly one is set."""

    max_drop: float | None = None
    budget_macs: float | None = None

    def __post_init__(self):
        if (self.max_drop is None) == (self.budget_macs is None):
            raise errors.UsageError("name one target: --max_drop (points of top-1 below the deepest file) "
                                    "or --budget_macs (average multiply-accumulates per input)")
        if self.max_drop is not None:
            errors.check_range("max_drop", self.max_drop, 0, 100)
        if self.budget_macs is not None:
            errors.check_range("budget_macs", self.budget_macs, 0, low_inclusive=False)
            if not math.isfinite(self.budget_macs):
                raise errors.UsageError(f"budget_macs must be a finite number, got {self.budget_macs}", "budget_macs")

    def as_dict(self):
        return {"max_drop": self.max_drop} if self.max_drop is not None else {"budget_macs": self.budget_macs}


@dataclasses.dataclass(frozen=True)
class Choice:
    """A cascade ``sweep`` found: stage indices into its inputs, each non-final stage's threshold, and what
    it does on the images it was chosen on."""

    stages: tuple
    thresholds: tuple
    correct: int
    total_macs: float
    exits: tuple  # images answered at each stage
    images: int

    @property
    def accuracy(self):
        return self.correct / self.images

    @property
    def mean_macs(self):
        return self.total_macs / self.images


def sweep(scores, correct, macs, target, max_stages=MAX_STAGES):
    """The best cascade for ``target`` over files ordered by cost, or a UsageError when none meets it.

    Args:
        scores: ``(files, images)`` exit scores of every file on every image.
        correct: ``(files, images)`` whether each file's top-1 is right.
        macs: each file's multiply-accumulates, in increasing order; the last
            file is the reference of ``max_drop``.
        target: a ``Target``.

    Every subset of the files (in their order, up to ``max_stages``) and, for
    each of its non-final stages, every threshold that exits a different set
    of images is tried: the result is the exact optimum on these images.
    Ties go to the more accurate, then the cheaper, then the fewer stages.
    """
    scores, correct = np.asarray(scores, np.float64), np.asarray(correct, bool)
    macs = np.asarray(macs, np.float64)
    files_count, images = scores.shape
    if files_count < 1 or images < 1 or correct.shape != scores.shape or len(macs) != files_count:
        raise ValueError("scores and correct must be (files, images) with one cost per file")
    if np.any(np.diff(macs) < 0):
        raise ValueError("files must be ordered by multiply-accumulates, cheapest first")
    needed = None
    if target.max_drop is not None:
        # Whole images: the deepest file's count less the drop, rounded so that the drop is never exceeded.
        needed = int(np.ceil(correct[-1].sum() - target.max_drop / 100 * images - 1e-9))
    best = None
    for size in range(1, min(max_stages, files_count) + 1):
        for subset in itertools.combinations(range(files_count), size):
            candidate = _best_of(subset, scores, correct, macs, target, needed)
            if candidate is not None and (best is None or _better(candidate, best, target)):
                best = candidate
    if best is None:
        cheapest = macs[0]
        raise errors.UsageError(
            f"no cascade of these files meets --budget_macs {target.budget_macs:,.0f}: the cheapest file alone "
            f"costs {cheapest:,.0f} multiply-accumulates per input; name a budget of at least that")
    return best


def _better(a, b, target):
    if target.max_drop is not None:
        key = lambda c: (-c.total_macs, c.correct, -len(c.stages))  # noqa: E731
    else:
        key = lambda c: (c.correct, -c.total_macs, -len(c.stages))  # noqa: E731
    return key(a) > key(b)


def _distinct_cuts(sorted_scores):
    """Positions ``p`` (1 … n-1) of a descending array where exiting the first ``p`` is a threshold's cut."""
    return np.flatnonzero(sorted_scores[:-1] > sorted_scores[1:]) + 1


def _midpoint(sorted_scores, p):
    """A threshold exiting exactly the first ``p`` images: between the ``p``-th score and the next (the
    ``p``-th itself when the two are neighbouring floats, with nothing between)."""
    above, below = float(sorted_scores[p - 1]), float(sorted_scores[p])
    middle = (above + below) / 2
    return middle if middle > below else above


def _best_of(subset, scores, correct, macs, target, needed):
    """The best cascade on exactly these stages (every non-final stage exits someone), or None."""
    images = scores.shape[1]
    last = subset[-1]
    if len(subset) == 1:
        choice = Choice(subset, (), int(correct[last].sum()), float(macs[last] * images), (images,), images)
        return choice if _meets(choice.correct, choice.total_macs, target, needed, images) else None
    first = subset[0]
    order0 = np.argsort(-scores[first], kind="stable")
    sorted0 = scores[first][order0]
    cuts0 = _distinct_cuts(sorted0)
    if len(cuts0) == 0:
        return None
    correct0 = np.concatenate([[0], np.cumsum(correct[first][order0])])
    if len(subset) == 2:
        # Exiting the first p at stage one: p answered there, the rest by the last file.
        rest_correct = correct[last][order0][::-1].cumsum()[::-1]
        rest_correct = np.concatenate([rest_correct, [0]])
        right = correct0[cuts0] + rest_correct[cuts0]
        cost = macs[first] * images + macs[last] * (images - cuts0)
        pick = _pick(right, cost, target, needed, images)
        if pick is None:
            return None
        p = int(cuts0[pick])
        return Choice(subset, (_midpoint(sorted0, p),), int(right[pick]), float(cost[pick]),
                      (p, images - p), images)
    return _best_of_three(subset, scores, correct, macs, target, needed, order0, sorted0, cuts0, correct0)


def _best_of_three(subset, scores, correct, macs, target, needed, order0, sorted0, cuts0, correct0):
    first, middle, last = subset
    images = scores.shape[1]
    order1 = np.argsort(-scores[middle], kind="stable")
    sorted1 = scores[middle][order1]
    cuts1 = _distinct_cuts(sorted1)
    if len(cuts1) == 0:
        return None
    rank0 = np.empty(images, np.int64)
    rank0[order0] = np.arange(images)  # each image's place in stage one's order
    mid_right, last_right = correct[middle][order1], correct[last][order1]
    best = None
    # Chunks of stage-one cuts at a time: a (cuts, images) block of cumulative sums per chunk.
    for chunk in np.array_split(cuts0, max(1, len(cuts0) // 256)):
        reaching = rank0[order1][None, :] >= chunk[:, None]  # still running at stage two, in its order
        reached = reaching.sum(axis=1)
        exits1 = np.cumsum(reaching, axis=1)[:, cuts1 - 1]
        right1 = np.cumsum(reaching & mid_right, axis=1)[:, cuts1 - 1]
        last_all = (reaching & last_right).sum(axis=1)
        last_taken = np.cumsum(reaching & last_right, axis=1)[:, cuts1 - 1]
        right = correct0[chunk][:, None] + right1 + (last_all[:, None] - last_taken)
        cost = (macs[first] * images + macs[middle] * reached)[:, None] + macs[last] * (reached[:, None] - exits1)
        # A middle stage that exits no one, or everyone it sees, is the two-stage cascade at a higher cost.
        useful = (exits1 > 0) & (exits1 < reached[:, None])
        pick = _pick(np.where(useful, right, -1), np.where(useful, cost, np.inf), target, needed, images)
        if pick is None:
            continue
        row, column = np.unravel_index(pick, right.shape)
        p, q = int(chunk[row]), int(cuts1[column])
        candidate = Choice(subset, (_midpoint(sorted0, p), _midpoint(sorted1, q)), int(right[row, column]),
                           float(cost[row, column]), (p, int(exits1[row, column]),
                                                      int(reached[row] - exits1[row, column])), images)
        if best is None or _better(candidate, best, target):
            best = candidate
    return best


def _meets(right, cost, target, needed, images):
    if target.max_drop is not None:
        return right >= needed
    return cost <= target.budget_macs * images * (1 + 1e-12)


def _pick(right, cost, target, needed, images):
    """The flat index of the best feasible entry of ``right`` and ``cost`` for ``target``, or None."""
    right, cost = np.ravel(right), np.ravel(cost)
    feasible = _meets(right, cost, target, needed, images) & (right >= 0)
    if not feasible.any():
        return None
    if target.max_drop is not None:
        keys = (np.where(feasible, -right, np.inf), np.where(feasible, cost, np.inf))  # cheapest, then most right
    else:
        keys = (np.where(feasible, cost, np.inf), np.where(feasible, -right, np.inf))  # most right, then cheapest
    return int(np.lexsort(keys)[0])


def route(scores, thresholds):
    """The stage (index) each image stops at, given ``(stages, images)`` exit scores and the thresholds."""
    scores = np.asarray(scores, np.float64)
    stop = np.full(scores.shape[1], len(scores) - 1)
    undecided = np.ones(scores.shape[1], bool)
    for stage, threshold in enumerate(thresholds):
        exits = undecided & (scores[stage] >= threshold)
        stop[exits] = stage
        undecided &= ~exits
    return stop


# ------------------------------------------------------------------ cascade.json


def describe(choice, file_metas, rule, target, reference):
    """The ``cascade.json`` document of a ``sweep`` choice; ``file_metas`` are ``(name, metadata)`` in sweep
    order, ``reference`` is ``{"top1": …, "multiply_accumulates": …}`` of the deepest file on the same images."""
    import ddnn_tf

    stages = []
    for position, index in enumerate(choice.stages):
        name, meta = file_metas[index]
        threshold = choice.thresholds[position] if position < len(choice.thresholds) else None
        stages.append({"file": name, "sha256": meta["sha256"], "depth": meta["depth"],
                       "multiply_accumulates": meta["multiply_accumulates"], "threshold": threshold})
    return {
        "schema": SCHEMA,
        "rule": rule,
        "target": target.as_dict(),
        "stages": stages,
        "measured": {
            "images": "validation",  # thresholds are chosen on no other split
            "examples": choice.images,
            "top1": choice.accuracy,
            "multiply_accumulates": choice.mean_macs,
            "exit_fractions": [count / choice.images for count in choice.exits],
            "deepest": reference,
        },
        "ddnn_tf": ddnn_tf.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def read(path):
    """A ``cascade.json`` checked for what running it needs, or a UsageError naming the file and the fault."""
    document = files.read_json(path, "cascade")
    where = f"cascade {path}"
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else None
        raise errors.UsageError(f"{where} is not a {SCHEMA} file (its schema is {found!r}); "
                                "write one with python -m ddnn_tf.cascade")
    if document.get("rule") not in RULES:
        raise errors.UsageError(f"{where}: unknown rule {document.get('rule')!r}; valid choices: {', '.join(RULES)}")
    stages = document.get("stages")
    if not isinstance(stages, list) or not stages:
        raise errors.UsageError(f"{where}: stages must be a non-empty list")
    for index, stage in enumerate(stages):
        final = index == len(stages) - 1
        threshold = stage.get("threshold") if isinstance(stage, dict) else None
        if not isinstance(stage, dict) or not isinstance(stage.get("file"), str) or "/" in stage["file"] \
                or not isinstance(stage.get("sha256"), str) or "depth" not in stage \
                or not _whole_number(stage.get("multiply_accumulates")):
            raise errors.UsageError(f"{where}: stages[{index}] must name a file in its folder, its sha256, depth "
                                    "and multiply_accumulates")
        number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and math.isfinite(threshold)
        if final != (threshold is None) or not (final or number):
            raise errors.UsageError(f"{where}: stages[{index}].threshold must be "
                                    + ("null (the last stage always answers)" if final else "a number"))
    return document


def _whole_number(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the cascade answered for one input: the class, the depth that answered, and the milliseconds it
    took from pixels to that answer, every file it ran included."""

    label: int
    depth: "int | str"
    stage: int
    milliseconds: float


class Cascade:
    """Runs the files a ``cascade.json`` names, in order, on one image of pixels, until one is confident.

        cascade = Cascade("runs/mnist_resnet34/export/cascade.json")
        decision = cascade(image)            # uint8 (height, width, channels)
        decision.label, decision.depth, decision.milliseconds

    Each file must have the sha256 the cascade was calibrated on: thresholds
    fitted to one file's scores mean nothing for another's.
    """

    def __init__(self, path, threads=None):
        path = Path(path)
        self.document = read(path)
        self.rule = self.document["rule"]
        self.stages = self.document["stages"]
        self.thresholds = [stage["threshold"] for stage in self.stages[:-1]]
        self.runners = []
        for stage in self.stages:
            file = path.parent / stage["file"]
            if not file.is_file():
                raise errors.UsageError(f"cascade {path} names {stage['file']}, which is not in {path.parent}")
            flatbuffer = file.read_bytes()
            if hashlib.sha256(flatbuffer).hexdigest() != stage["sha256"]:
                raise errors.UsageError(
                    f"cascade {path} was calibrated for another {stage['file']} (its sha256 differs): calibrate "
                    f"again, python -m ddnn_tf.cascade --export_dir {path.parent} --max_drop N")
            self.runners.append(Runner(flatbuffer, threads=threads))

    @property
    def depths(self):
        return [stage["depth"] for stage in self.stages]

    def logits(self, image):
        """The logits of every stage's file on ``image``: what calibration and comparisons need."""
        return [runner(image) for runner in self.runners]

    def __call__(self, image):
        start = time.perf_counter()
        for stage, runner in enumerate(self.runners):
            logits = runner(image)
            final = stage == len(self.runners) - 1
            if final or exit_scores(logits, self.rule) >= self.thresholds[stage]:
                milliseconds = (time.perf_counter() - start) * 1e3
                return Decision(int(np.argmax(logits)), self.stages[stage]["depth"], stage, milliseconds)
        raise AssertionError("the last stage always answers")
