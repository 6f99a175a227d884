"""docs/schemas: the one definition of benchmark.json and of an export's metadata.

Every producer's output is checked against them where it is tested (the
benchmark CLI, the TensorFlow-free benchmark, parse_benchmark_model, the
device script, the export of every quantize mode, the bundle, QAT); here, the
fixtures the Kotlin core reads and what the schemas refuse.
"""

import copy
import json

import pytest
from conftest import MOBILE_TESTDATA, assert_matches_schema


def _fixture(name):
    return json.loads((MOBILE_TESTDATA / name).read_text())


def test_the_fixtures_the_kotlin_core_reads_match_the_schemas():
    assert_matches_schema("benchmark", _fixture("benchmark_host.json"))
    assert_matches_schema("export_metadata", _fixture("resnet32_depth20_int8.json"))
    assert_matches_schema("export_metadata", _fixture("resnet32_bundle_int8.json"))


def _without(document, key):
    del document[key]
    return document


@pytest.mark.parametrize("change", [
    lambda m: _without(m, "sha256"),
    lambda m: {**m, "unknown_field": 1},
    lambda m: {**m, "quantize": "int4"},
    lambda m: {**m, "input": {**m["input"], "zero_point": 300}},
    lambda m: {**m, "single_file_max_difference": 0.0},  # only a bundle's signatures have it
], ids=["no sha256", "unknown field", "unknown quantize", "zero point out of int8", "bundle field in a file"])
def test_export_metadata_schema_refuses(change):
    with pytest.raises(AssertionError, match="not a valid export_metadata"):
        assert_matches_schema("export_metadata", change(copy.deepcopy(_fixture("resnet32_depth20_int8.json"))))


def test_a_bundle_signature_must_say_how_far_it_is_from_its_own_file():
    bundle = _fixture("resnet32_bundle_int8.json")
    del bundle["signatures"]["depth_20"]["single_file_max_difference"]
    with pytest.raises(AssertionError, match="single_file_max_difference"):
        assert_matches_schema("export_metadata", bundle)


@pytest.mark.parametrize("change", [
    lambda r: {**r, "schema": "ddnn_tf.benchmark/2"},
    lambda r: {**r, "device": {**r["device"], "kind": "phone"}},
    lambda r: {**r, "results": [{**r["results"][0], "threads": 0}]},
    lambda r: {**r, "results": [_without(dict(r["results"][0]), "median_ms")]},
    lambda r: {**r, "results": [{**r["results"][0], "accuracy": 1.5}]},
], ids=["other schema", "unknown device kind", "no threads", "no median", "accuracy above 1"])
def test_benchmark_schema_refuses(change):
    with pytest.raises(AssertionError, match="not a valid benchmark"):
        assert_matches_schema("benchmark", change(copy.deepcopy(_fixture("benchmark_host.json"))))
