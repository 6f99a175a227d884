"""Evaluation of finished runs: the table, the plot, BN recalibration, top-5."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli

import ddnn_tf
from ddnn_tf import config as config_module
from ddnn_tf.training import evaluation


@pytest.mark.slow
def test_evaluate_puts_every_run_on_one_table_and_plot(mode_runs, tmp_path):
    result = run_cli(
        "ddnn_tf.evaluate", *[f"--workdir={mode_runs / m}" for m in config_module.MODES], f"--out={tmp_path}", "--latency_runs=3"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [(row["mode"], row["depth"]) for row in rows] == [
        (mode, depth) for mode in config_module.MODES for depth in (20, 32)
    ]
    assert all(0 <= row["top1"] <= 1 and row["keras_ms_per_image"] > 0 for row in rows)
    assert rows[0]["parameters"] < rows[1]["parameters"] and rows[0]["macs"] < rows[1]["macs"]
    assert (tmp_path / "accuracy_vs_macs.png").read_bytes()[:4] == b"\x89PNG"
    assert "independent" in result.stdout and "top1" in result.stdout


@pytest.mark.slow
def test_evaluate_run_recalibrates_bn_only_when_asked(mode_runs):
    plain = evaluation.evaluate_run(mode_runs / "ekd", latency=False, recalibration_batches=0)
    recalibrated = evaluation.evaluate_run(mode_runs / "ekd", latency=False, recalibration_batches=2)
    assert all("top1_recalibrated_bn" not in row for row in plain)
    assert [row["top1"] for row in recalibrated] == [row["top1"] for row in plain], "the run itself is unchanged"
    assert all(0 <= row["top1_recalibrated_bn"] <= 1 for row in recalibrated)


def test_top5_counts_a_label_among_the_five_largest_logits():
    model = ddnn_tf.build_ddnn("resnet20", 100, (32, 32, 3), depths=(20,))
    images = tf.random.normal((16, 32, 32, 3))
    ranked = np.argsort(-model(images, training=False).numpy(), axis=-1)
    for labels, expected in ((ranked[:, 0], (1.0, 1.0)), (ranked[:, 1], (0.0, 1.0)), (ranked[:, 5], (0.0, 0.0))):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32"))).batch(8)
        np.testing.assert_allclose(evaluation._accuracies(model, dataset, top5=True)[20], expected)
