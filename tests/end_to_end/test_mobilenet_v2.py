"""The shipped MobileNetV2 config on the real CIFAR-10: a short run trains every depth and exports each one.

Its accuracy is no claim (a few steps); that its files convert, validate and
describe their family is.
"""

import json

import pytest
from conftest import SHARED_CIFAR10, assert_matches_schema, run_cli

from ddnn_tf.config import shipped


@pytest.mark.skipif(not SHARED_CIFAR10.is_file(), reason=f"the shared CIFAR-10 archive {SHARED_CIFAR10} is not here")
def test_the_cifar10_mobilenetv2_config_trains_and_exports_every_depth(tmp_path):
    workdir, out = tmp_path / "run", tmp_path / "out"
    result = run_cli("ddnn_tf.train", f"--config={shipped()['cifar10_mobilenetv2']}", f"--workdir={workdir}",
                     f"--config.data.archive={SHARED_CIFAR10}", "--config.data.train_examples=256",
                     "--config.data.validation_examples=128", "--config.data.eval_examples=128",
                     "--config.data.batch_size=64", "--config.epochs=1", "--config.optimizer.warmup_epochs=0")
    assert result.returncode == 0, result.stderr
    rows = json.loads((workdir / "results.json").read_text())["rows"]
    # Trainable parameters; the full net is keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.5,
    # classes=10, weights=None) exactly (719,034 weights with its BN statistics: tests/models/test_backbone_contract.py).
    assert [(row["depth"], row["parameters"]) for row in rows] == [(23, 413_514), (38, 551_754), (53, 700_490)]
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={workdir}", "--depth=all", f"--out={out}",
                     "--eval_examples=64", "--calibration_steps=8", "--max_drop=100")
    assert result.returncode == 0, result.stderr
    for depth, blocks in ((23, [1] * 7), (38, [1, 2, 2, 2, 2, 2, 1]), (53, [1, 2, 3, 4, 3, 3, 1])):
        meta = json.loads((out / f"mobilenet_v2_depth{depth}_int8.json").read_text())
        assert_matches_schema("export_metadata", meta)
        assert (meta["family"], meta["blocks_per_stage"], meta["arch"]) == ("mobilenet_v2", blocks, "mobilenet_v2")
        assert meta["agreement"] > 0.5, meta  # the int8 file computes what the Keras depth computes
        assert (out / f"mobilenet_v2_depth{depth}_int8.tflite").stat().st_size == meta["file_bytes"]
