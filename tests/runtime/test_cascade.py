"""The cascade's rule and threshold sweep on scores alone: exact against a brute force, and refusals."""

import itertools

import numpy as np
import pytest

from ddnn_tf import errors
from ddnn_tf.runtime import cascade


def _brute_force(scores, correct, macs, target, max_stages=cascade.MAX_STAGES):
    """Every subset and every threshold each stage's scores allow (plus never and always exiting)."""
    files, images = scores.shape
    best = None
    for size in range(1, min(max_stages, files) + 1):
        for subset in itertools.combinations(range(files), size):
            options = [np.concatenate([np.unique(scores[s]), [np.inf]]) for s in subset[:-1]]
            for thresholds in itertools.product(*options):
                stop = cascade.route(scores[list(subset)], thresholds)
                right = int(correct[list(subset)][stop, np.arange(images)].sum())
                cost = float(sum(np.cumsum(macs[list(subset)])[stop]))
                if target.max_drop is not None:
                    if right < correct[-1].sum() - target.max_drop / 100 * images - 1e-9:
                        continue
                    key = (-cost, right)
                else:
                    if cost > target.budget_macs * images * (1 + 1e-12):
                        continue
                    key = (right, -cost)
                best = key if best is None or key > best else best
    return best


def _problem(seed, files=3, images=24, classes_tied=False):
    generator = np.random.default_rng(seed)
    scores = generator.random((files, images))
    if classes_tied:  # int8 logits give few distinct scores: many ties
        scores = np.round(scores * 4) / 4
    # Deeper files are right more often, and confident files more often right.
    correct = generator.random((files, images)) < (0.4 + 0.15 * np.arange(files)[:, None] + 0.3 * scores)
    macs = np.array([10.0, 25.0, 60.0][:files])
    return scores, correct, macs


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", [cascade.Target(max_drop=0), cascade.Target(max_drop=5),
                                    cascade.Target(budget_macs=30), cascade.Target(budget_macs=45)],
                         ids=["drop 0", "drop 5", "budget 30", "budget 45"])
def test_the_sweep_finds_the_optimum_a_brute_force_finds(seed, target):
    scores, correct, macs = _problem(seed, classes_tied=seed % 2 == 1)
    choice = cascade.sweep(scores, correct, macs, target)
    expected = _brute_force(scores, correct, macs, target)
    found = (-choice.total_macs, choice.correct) if target.max_drop is not None else (choice.correct, -choice.total_macs)
    assert found == pytest.approx(expected)
    # The thresholds it wrote route these images as it counted them.
    stages = list(choice.stages)
    stop = cascade.route(scores[stages], choice.thresholds)
    assert int(correct[stages][stop, np.arange(scores.shape[1])].sum()) == choice.correct
    assert float(np.cumsum(macs[stages])[stop].sum()) == pytest.approx(choice.total_macs)
    assert tuple(np.bincount(stop, minlength=len(stages))) == choice.exits


def _three_stage_reference(scores, correct, macs, target):
    """The best three-stage cascade over files 0, 1, 2: every first threshold, all second ones at once."""
    images = scores.shape[1]
    spent = np.cumsum(macs)
    best = None
    for first in np.concatenate([np.unique(scores[0]), [np.inf]]):
        stops_first = scores[0] >= first
        for second in np.concatenate([np.unique(scores[1]), [np.inf]]):
            stop = np.where(stops_first, 0, np.where(scores[1] >= second, 1, 2))
            right = int(correct[stop, np.arange(images)].sum())
            cost = float(spent[stop].sum())
            if target.max_drop is not None:
                key = (-cost, right) if right >= correct[-1].sum() - target.max_drop / 100 * images - 1e-9 else None
            else:
                key = (right, -cost) if cost <= target.budget_macs * images else None
            if key is not None and (best is None or key > best):
                best = key
    return best


@pytest.mark.slow
@pytest.mark.parametrize("target", [cascade.Target(max_drop=1), cascade.Target(budget_macs=40)], ids=["drop", "budget"])
def test_the_sweep_is_exact_across_chunks_of_first_thresholds(target):
    """600 images with distinct scores: the first stage's 599 thresholds are swept in more than one chunk."""
    scores, correct, macs = _problem(7, images=600)
    found = cascade._best_of((0, 1, 2), scores, correct, macs, target,
                             int(np.ceil(correct[-1].sum() - (target.max_drop or 0) / 100 * 600 - 1e-9)))
    key = (-found.total_macs, found.correct) if target.max_drop is not None else (found.correct, -found.total_macs)
    assert key == pytest.approx(_three_stage_reference(scores, correct, macs, target))


def test_a_score_equal_to_its_threshold_exits():
    scores = np.array([[0.5, 0.49], [0.0, 0.0]])
    assert cascade.route(scores, [0.5]).tolist() == [0, 1]


@pytest.mark.parametrize("threshold", [True, float("nan"), "0.5"], ids=["bool", "nan", "string"])
def test_a_cascade_file_with_a_threshold_that_is_no_number_is_refused(tmp_path, threshold):
    stage = {"file": "a.tflite", "sha256": "0" * 64, "depth": 8, "multiply_accumulates": 10}
    document = {"schema": cascade.SCHEMA, "rule": "max_probability",
                "stages": [{**stage, "threshold": threshold}, {**stage, "file": "b.tflite", "threshold": None}]}
    (tmp_path / "cascade.json").write_text(__import__("json").dumps(document))
    with pytest.raises(errors.UsageError, match=r"stages\[0\].threshold must be a number"):
        cascade.read(tmp_path / "cascade.json")


def test_a_threshold_sits_between_scores_so_that_a_rounding_never_moves_an_image():
    scores = np.array([[0.9, 0.7, 0.7, 0.2], [0.0, 0.0, 0.0, 0.0]])
    correct = np.array([[True, True, True, False], [True, True, True, True]])
    choice = cascade.sweep(scores, correct, [1.0, 10.0], cascade.Target(max_drop=0))
    assert choice.stages == (0, 1) and choice.exits == (3, 1)
    assert 0.2 < choice.thresholds[0] < 0.7 and choice.thresholds[0] == pytest.approx(0.45)


def test_a_budget_below_the_cheapest_file_is_refused_with_what_would_do():
    scores, correct, macs = _problem(0)
    with pytest.raises(errors.UsageError, match="the cheapest file alone costs 10 multiply-accumulates"):
        cascade.sweep(scores, correct, macs, cascade.Target(budget_macs=5))


@pytest.mark.parametrize("kwargs,message", [
    ({}, "name one target"), ({"max_drop": 1, "budget_macs": 5}, "name one target"),
    ({"max_drop": -1}, "max_drop must be at least 0"), ({"budget_macs": 0}, "budget_macs must be above 0"),
])
def test_a_target_is_one_of_the_two_and_in_range(kwargs, message):
    with pytest.raises(errors.UsageError, match=message):
        cascade.Target(**kwargs)


def test_exit_scores_are_the_softmax_s_top_probability_and_minus_its_entropy():
    logits = np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0], [100.0, 0.0, -100.0]], np.float32)
    wide = logits.astype(np.float64)
    probabilities = np.exp(wide - wide.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    np.testing.assert_allclose(cascade.exit_scores(logits, "max_probability"), probabilities.max(1), rtol=1e-12)
    entropy = -np.sum(np.where(probabilities > 0, probabilities * np.log(np.maximum(probabilities, 1e-300)), 0), 1)
    np.testing.assert_allclose(cascade.exit_scores(logits, "entropy"), -entropy, atol=1e-12)
    assert cascade.exit_scores(logits, "entropy")[1] == pytest.approx(-np.log(3))
    with pytest.raises(errors.UsageError, match="unknown rule 'margin'; valid choices: max_probability, entropy"):
        cascade.exit_scores(logits, "margin")
