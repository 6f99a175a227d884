"""Training runs on real MNIST: modes, evaluation, resuming, and bad input."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import MNIST_CONFIG, REPO, TINY_RUN_OVERRIDES, error_lines, run_cli, tiny_run_config, tiny_run_flags

import ddnn_tf
from ddnn_tf import config as config_module, errors, files
from ddnn_tf.config import load as load_config, shipped as shipped_configs
from ddnn_tf.run import Run
from ddnn_tf.training import evaluation

CONFIG = str(MNIST_CONFIG)
SHARED_CIFAR10 = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"  # beside the checkout, where it is
TINY_OVERRIDES = [f"--config.{key}={value}" for key, value in TINY_RUN_OVERRIDES.items()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ekd_run):
    """One tiny run per mode."""
    root = tmp_path_factory.mktemp("runs")
    (root / "ekd").symlink_to(ekd_run)
    for mode in ("joint", "independent"):
        result = run_cli("ddnn_tf.train", *tiny_run_flags(mode=mode), f"--workdir={root / mode}")
        assert result.returncode == 0, result.stderr
        assert "top1" in result.stdout, "training ends with the evaluation table"
        scored = "  scored depths 20, 32, " if mode == "joint" else "  scored depth 32, "
        assert scored in result.stdout, "evaluation says what it did when output is no terminal"
    return root


def test_every_mode_writes_a_loadable_run(runs):
    for mode in ("ekd", "joint"):
        assert (runs / mode / "model.keras").is_file()
        state = json.loads((runs / mode / "checkpoints" / "state.json").read_text())
        assert state["epoch"] == 1 and (runs / mode / "checkpoints" / "best.keras").is_file()
    assert sorted(p.name for p in (runs / "independent").glob("depth_*")) == ["depth_20", "depth_32"]
    run = json.loads((runs / "ekd" / "run.json").read_text())
    assert run["data"]["mean"] and run["data"]["label_names"][3] == "3"
    with open(runs / "ekd" / "log.csv") as f:
        row = next(csv.DictReader(f))
    assert {"acc_20", "kd_20", "at_20", "val_acc_32"} <= set(row) and float(row["train_seconds"]) > 0


def test_joint_mode_does_not_distil(runs):
    models = Run(runs / "joint").models()
    model = models[32][0]
    assert (model.objective.kd_weight, model.objective.at_weight) == (0.0, 0.0)


def test_evaluate_puts_every_run_on_one_table_and_plot(runs, tmp_path):
    result = run_cli(
        "ddnn_tf.evaluate", *[f"--workdir={runs / m}" for m in config_module.MODES], f"--out={tmp_path}", "--latency_runs=3"
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


def test_evaluate_run_recalibrates_bn_only_when_asked(runs):
    plain = evaluation.evaluate_run(runs / "ekd", latency=False, recalibration_batches=0)
    recalibrated = evaluation.evaluate_run(runs / "ekd", latency=False, recalibration_batches=2)
    assert all("top1_recalibrated_bn" not in row for row in plain)
    assert [row["top1"] for row in recalibrated] == [row["top1"] for row in plain], "the run itself is unchanged"
    assert all(0 <= row["top1_recalibrated_bn"] <= 1 for row in recalibrated)


def _weights(path):
    return [np.asarray(w) for w in files.load_model(path).weights]


def test_a_killed_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    # A quarter of the width: resuming does not depend on it, and its three epochs cost far less.
    args = [*tiny_run_flags(), "--config.epochs=3", "--config.model.width=0.25"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    workdir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "ddnn_tf.train", *args, f"--workdir={workdir}"], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    state = workdir / "checkpoints" / "state.json"
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (workdir / "model.keras").exists(), "the run was killed before it finished"
    first = json.loads(state.read_text())["epoch"]
    assert 1 <= first < 3
    result = run_cli("ddnn_tf.train", *args, f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    assert json.loads(state.read_text())["epoch"] == 3
    with open(workdir / "log.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert epochs == [0, 1, 2][: first] + list(range(first, 3))
    assert sorted(p.name for p in (workdir / "checkpoints").glob("epoch_*.keras")) == ["epoch_2.keras", "epoch_3.keras"]
    assert not list(workdir.rglob(".*.keras")), "a temporary file was left behind"

    straight = tmp_path / "uninterrupted"
    result = run_cli("ddnn_tf.train", *args, f"--workdir={straight}")
    assert result.returncode == 0, result.stderr
    # Every epoch saw the same batches, so the weights are the same to float tolerance.
    for resumed, uninterrupted in zip(_weights(workdir / "model.keras"), _weights(straight / "model.keras")):
        np.testing.assert_allclose(resumed, uninterrupted, rtol=1e-5, atol=1e-6)


def test_a_second_training_in_one_workdir_is_refused_while_the_first_lives(tmp_path):
    args = [*tiny_run_flags(), "--config.epochs=2", "--config.model.width=0.25", f"--workdir={tmp_path}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-m", "ddnn_tf.train", *args], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = tmp_path / files.LOCK_FILE
    deadline = time.time() + 300
    while not (lock.exists() and lock.read_text().strip()) and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    second = run_cli("ddnn_tf.train", *args)
    still_training = first.poll() is None
    first.send_signal(signal.SIGKILL)  # a crash: its lock dies with it
    first.wait()
    assert still_training, "the first run ended before the second started: the test proves nothing"
    assert second.returncode == 2, second.stderr
    assert error_lines(second) == [f"error: {tmp_path} is in use by another training (PID {first.pid}); "
                                   "wait for it to finish or use another --workdir"]
    third = run_cli("ddnn_tf.train", *args)  # the stale lock is taken over
    assert third.returncode == 0, third.stderr
    with open(tmp_path / "log.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    assert sorted(epochs) == epochs and len(set(epochs)) == len(epochs) == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--config.no_such_key=1"], "no_such_key"),
        (["--config.data.name=imagenet_typo"], "unknown dataset 'imagenet_typo'; valid choices: mnist, cifar10, fashion_mnist, folder"),
        (["--config.strategy=horovod"], "unknown strategy 'horovod'; valid choices: default, mirrored, multi_worker, tpu"),
        (["--config.data.name=folder", "--config.data.directory=/nonexistent"], "directory '/nonexistent' does not exist"),
        (["--config.mode=distil"], "unknown mode 'distil'; valid choices: ekd, joint, independent"),
        (["--config.model.arch=resnet57"], "Unknown arch 'resnet57'; valid choices: resnet18"),
        (["--workdir=/proc/ddnn_cannot_write"], "cannot write to the workdir /proc/ddnn_cannot_write"),
        (["extra"], "unexpected arguments extra"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message, tmp_path):
    result = run_cli("ddnn_tf.train", "--config", CONFIG, f"--workdir={tmp_path / 'w'}", *TINY_OVERRIDES, *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_a_diverging_run_stops_with_a_clear_message(tmp_path):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**{"optimizer.name": "sgd", "optimizer.learning_rate": 1e30}),
                     f"--workdir={tmp_path}")
    assert result.returncode == 1
    assert "the loss became NaN at batch" in result.stderr and "learning_rate" in result.stderr
    assert not (tmp_path / "model.keras").exists()


def test_top5_counts_a_label_among_the_five_largest_logits():
    model = ddnn_tf.build_ddnn("resnet20", 100, (32, 32, 3), depths=(20,))
    images = tf.random.normal((16, 32, 32, 3))
    ranked = np.argsort(-model(images, training=False).numpy(), axis=-1)
    for labels, expected in ((ranked[:, 0], (1.0, 1.0)), (ranked[:, 1], (0.0, 1.0)), (ranked[:, 5], (0.0, 0.0))):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32"))).batch(8)
        np.testing.assert_allclose(evaluation._accuracies(model, dataset, top5=True)[20], expected)


def test_mirrored_strategy_over_two_cpus_through_the_cli(tmp_path):
    result = run_cli(
        "ddnn_tf.train", "--config", CONFIG, f"--workdir={tmp_path}", *TINY_OVERRIDES,
        "--config.strategy=mirrored", "--config.cpu_replicas=2", "--config.data.train_examples=256",
        "--config.precision=mixed_bfloat16",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"] == 1
    assert "top1" in result.stdout and "resnet32" not in result.stderr


def test_resuming_a_run_with_another_arch_is_refused(runs, tmp_path):
    result = run_cli("ddnn_tf.train", "--config", CONFIG, f"--workdir={runs / 'ekd'}", *TINY_OVERRIDES[1:])
    assert result.returncode == 2
    assert "holds a run of ekd resnet32, not ekd resnet56; use another --workdir" in result.stderr


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
