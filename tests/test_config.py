"""Configs: every shipped one loads and checks; unknown keys and bad values are refused."""

import re

import pytest
from conftest import MNIST_CONFIG, SHARED_CIFAR10, tiny_run_config

from ddnn_tf import config as config_module
from ddnn_tf import errors
from ddnn_tf.config import load as load_config
from ddnn_tf.config import shipped as shipped_configs


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_loads_and_checks(name):
    config = load_config(shipped_configs()[name])
    assert set(config) == set(tiny_run_config())  # every key of ddnn_tf.config.base_config
    if config.data.name == "imagenet2012":
        with pytest.raises(errors.UsageError, match="ILSVRC2012_img_train.tar"):
            config_module.check(config)
    elif config.data.name == "cifar10":
        # No network here: without tensorflow-datasets' copy the config names both ways to the images.
        with pytest.raises(errors.UsageError, match="tfds build cifar10.*cifar-10-python.tar.gz"):
            config_module.check(config)
        if SHARED_CIFAR10.is_file():
            config.data.archive = str(SHARED_CIFAR10)
            config_module.check(config)
    else:
        config_module.check(config)


def test_a_config_override_with_an_unknown_key_is_refused():
    assert load_config(MNIST_CONFIG, {"ekd.kd_weight": 0.0}).ekd.kd_weight == 0.0
    with pytest.raises(KeyError, match="kd_wieght"):
        load_config(MNIST_CONFIG, {"ekd.kd_wieght": 0.0})


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("seed", -1, "seed must be at least 0 and at most 4294967295, got -1"),
        ("optimizer.momentum", 1.5, "optimizer.momentum must be at least 0 and at most 1, got 1.5"),
        ("bn_recalibration_batches", -1, "bn_recalibration_batches must be at least 0, got -1"),
        # data.* goes to pipeline.check, whose own table (tests/data/test_pipeline.py) covers each key.
        ("data.image_size", -5, "data.image_size must be 0 (the native size) or a positive count of pixels, got -5"),
    ],
)
def test_a_bad_value_is_refused_by_the_check_in_one_line(key, value, message):
    with pytest.raises(errors.UsageError, match=f"^{re.escape(message)}$"):
        config_module.check(load_config(MNIST_CONFIG, {key: value}))
