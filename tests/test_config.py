"""Configs: every shipped one loads and checks; unknown keys are refused."""

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
