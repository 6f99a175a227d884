"""The reproduction study's variants are valid runs that differ from EKD only where they say."""

import importlib.util

import pytest

from conftest import REPO

from ddnn_tf import training


def _load_reproduction():
    spec = importlib.util.spec_from_file_location("reproduction", REPO / "bench" / "reproduction.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reproduction = _load_reproduction()


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("variant", list(reproduction.VARIANTS))
def test_each_variant_changes_only_its_overrides(variant):
    config = reproduction.study_config(variant, seed=3, train_examples=500, epochs=2)
    training.check_config(config)
    baseline = reproduction.study_config("ekd", seed=3, train_examples=500, epochs=2)
    before, after = _flatten(baseline.to_dict()), _flatten(config.to_dict())
    changed = {key: value for key, value in after.items() if before[key] != value}
    assert changed == reproduction.VARIANTS[variant]
    assert (config.seed, config.epochs, config.data.train_examples) == (3, 2, 500)
