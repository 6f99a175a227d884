"""Latency statistics and the budget choice."""

import pytest

from ddnn_tf.runtime import timing


def _result(depth, median, threads=1):
    return {"depth": depth, "median_ms": median, "threads": threads, "multiply_accumulates": depth * 1000,
            "file": f"d{depth}"}


def test_budget_picks_the_deepest_depth_that_fits():
    results = [_result(20, 1.0), _result(32, 2.0), _result(44, 3.0), _result(56, 4.5), _result(56, 0.5, threads=2)]
    assert timing.deepest_within(results, 3.0, 1)["depth"] == 44
    assert timing.deepest_within(results, 0.9, 1) is None
    assert timing.deepest_within(results, 100, 1)["depth"] == 56
    assert timing.deepest_within(results, 1.0, 2)["depth"] == 56
    # Two files of the same depth (int8 and float32): the faster one is named.
    assert timing.deepest_within([_result(20, 1.0), _result(20, 0.4)], 2.0, 1)["median_ms"] == 0.4


def test_percentiles_interpolate_like_numpy():
    assert timing.percentile([1, 2, 3, 4], 50) == 2.5
    assert timing.percentile(list(range(1, 101)), 90) == pytest.approx(90.1)
