"""Training runs through the CLI: modes, resume, the workdir lock, divergence, strategies."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    EKD_RUN_CHANGES,
    REPO,
    build_tiny,
    error_lines,
    file_tree,
    run_cli,
    tiny_run_config,
    tiny_run_flags,
    train_digits,
)

from ddnn_tf import errors, files
from ddnn_tf.run import Run


def _weights(path):
    return [np.asarray(w) for w in files.load_model(path).weights]


@pytest.mark.slow
def test_every_mode_writes_a_loadable_run(mode_runs):
    for mode in ("ekd", "joint"):
        assert (mode_runs / mode / "model.keras").is_file()
        state = json.loads((mode_runs / mode / "checkpoints" / "state.json").read_text())
        assert state["epoch"] == 1 and (mode_runs / mode / "checkpoints" / "best.keras").is_file()
    assert sorted(p.name for p in (mode_runs / "independent").glob("depth_*")) == ["depth_20", "depth_32"]
    run = Run(mode_runs / "ekd").record
    assert run["data"]["mean"] and run["data"]["label_names"][3] == "3"
    with open(mode_runs / "ekd" / "log.csv") as f:
        row = next(csv.DictReader(f))
    assert {"acc_20", "kd_20", "at_20", "val_acc_32"} <= set(row) and float(row["train_seconds"]) > 0


@pytest.mark.slow
def test_joint_mode_does_not_distil(mode_runs):
    models = Run(mode_runs / "joint").models()
    model = models[32][0]
    assert (model.objective.kd_weight, model.objective.at_weight) == (0.0, 0.0)


@pytest.mark.slow
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


@pytest.mark.slow
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
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_status_2(args, message, tmp_path):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(), f"--workdir={tmp_path / 'w'}", *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.slow
def test_a_diverging_run_stops_with_a_clear_message_and_saves_nothing_of_the_broken_epoch(tmp_path):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**{"optimizer.name": "sgd", "optimizer.learning_rate": 1e30}),
                     f"--workdir={tmp_path}")
    assert result.returncode == 1
    assert not list(tmp_path.rglob("*.keras")), "the NaN weights of epoch 1 are no checkpoint to resume from"
    assert not (tmp_path / "checkpoints" / "state.json").exists()
    assert (tmp_path / "log.csv").read_text() == "", "log.csv holds finished epochs only"
    [line] = error_lines(result)
    assert re.fullmatch(rf"error: the loss became NaN at batch [1-9]\d* of epoch 1; that epoch was not saved "
                        rf"\({re.escape(str(tmp_path / 'checkpoints'))} holds no epoch\)\. "
                        r"Lower --config\.optimizer\.learning_rate or use float32, and train again", line), line
    # Nothing was trained, so the same workdir takes a changed config: it diverges again rather than being refused.
    again = run_cli("ddnn_tf.train", *tiny_run_flags(**{"optimizer.name": "sgd", "optimizer.learning_rate": 1e29}),
                    f"--workdir={tmp_path}")
    assert again.returncode == 1 and "the loss became NaN" in again.stderr, again.stderr


def _digit_batches(poisoned=None):
    """``training_from`` for a run of two epochs of two batches each; the batch ``poisoned`` (epoch, batch) is NaN."""
    images, labels = next(iter(train_digits()))

    def training_from(epoch):
        batches = [(images * float("nan") if (e, b) == poisoned else images, labels)
                   for e in range(epoch + 1, 3) for b in range(2)]
        return tf.data.Dataset.from_tensor_slices(tuple(map(tf.stack, zip(*batches))))

    return training_from, tf.data.Dataset.from_tensors((images, labels))


@pytest.mark.slow
def test_a_loss_that_becomes_nan_mid_run_leaves_the_last_complete_epoch_to_resume_from(tmp_path):
    from ddnn_tf.config import base_config
    from ddnn_tf.training import trainer

    config = base_config()
    config.epochs = 2
    run, strategy = Run(tmp_path), tf.distribute.get_strategy()
    training_from, validation = _digit_batches(poisoned=(2, 1))
    with pytest.raises(errors.CommandFailed) as raised:
        trainer.fit_one(build_tiny, config, run, training_from, validation, strategy)
    checkpoints = run.checkpoints()
    state = json.loads((checkpoints / "state.json").read_text())
    assert (state["epoch"], state["checkpoint"], state["best_epoch"]) == (1, "epoch_1.keras", 1)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.keras", "epoch_1.keras", "state.json"]
    for name in ("epoch_1.keras", "best.keras"):
        assert all(np.isfinite(w).all() for w in _weights(checkpoints / name)), name
    with open(run.log_file()) as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0"]
    assert not run.model_file().exists()
    assert str(raised.value) == (f"the loss became NaN at batch 2 of epoch 2; that epoch was not saved ({checkpoints} "
                                 "holds epoch 1). Lower --config.optimizer.learning_rate or use float32, "
                                 "in another --workdir")

    # Without the NaN batch, the same run resumes from epoch 1.
    training_from, validation = _digit_batches()
    trainer.fit_one(build_tiny, config, run, training_from, validation, strategy)
    assert json.loads((checkpoints / "state.json").read_text())["epoch"] == 2
    with open(run.log_file()) as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert all(np.isfinite(w).all() for w in _weights(run.model_file()))


def test_a_depth_diverging_in_its_first_epoch_beside_a_trained_one_points_to_another_workdir(tmp_path):
    """Independent mode: depth 8 finished, depth 14 diverges at once. The workdir holds a trained epoch, so a
    changed config would be refused there: the advice is another workdir, though depth 14 saved nothing."""
    from ddnn_tf.config import base_config
    from ddnn_tf.training import trainer

    run = Run(tmp_path)
    run.checkpoints(8).mkdir(parents=True)
    files.write_json(run.checkpoints(8) / "state.json", {"epoch": 1, "checkpoint": "epoch_1.keras"})
    training_from, validation = _digit_batches(poisoned=(1, 0))
    with pytest.raises(errors.CommandFailed) as raised:
        trainer.fit_one(build_tiny, base_config(), run, training_from, validation, tf.distribute.get_strategy(),
                        depth=14)
    assert str(raised.value) == (f"the loss became NaN at batch 1 of epoch 1; that epoch was not saved "
                                 f"({run.checkpoints(14)} holds no epoch). Lower --config.optimizer.learning_rate "
                                 "or use float32, in another --workdir")


@pytest.mark.slow
def test_mirrored_strategy_over_two_cpus_through_the_cli(tmp_path):
    result = run_cli(
        "ddnn_tf.train", *tiny_run_flags(), f"--workdir={tmp_path}",
        "--config.strategy=mirrored", "--config.cpu_replicas=2", "--config.data.train_examples=256",
        "--config.precision=mixed_bfloat16",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "checkpoints" / "state.json").read_text())["epoch"] == 1
    assert "top1" in result.stdout and "resnet32" not in result.stderr


@pytest.mark.slow
def test_resuming_a_run_with_another_arch_is_refused(mode_runs, tmp_path):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**{"model.arch": "resnet56"}), f"--workdir={mode_runs / 'ekd'}")
    assert result.returncode == 2
    assert "holds a run of ekd resnet32, not ekd resnet56; use another --workdir" in result.stderr


@pytest.mark.slow
def test_resuming_a_run_in_another_mode_names_the_flag_that_resumes_it(mode_runs):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(mode="joint"), f"--workdir={mode_runs / 'ekd'}")
    assert result.returncode == 2
    assert ("holds a run of ekd resnet32, not joint resnet32; --config.mode=ekd resumes it, or use another --workdir"
            in result.stderr)


@pytest.mark.parametrize("change,difference", [
    ({"seed": 1}, "seed: 0 in its run.json, 1 in this command"),
    ({"epochs": 3}, "epochs: 1 in its run.json, 3 in this command"),
])
@pytest.mark.slow
def test_resuming_with_a_changed_config_is_refused_and_rewrites_nothing(ekd_run, tmp_path, change, difference):
    workdir = tmp_path / "run"
    shutil.copytree(ekd_run, workdir)
    record, before = Run(workdir).record_file.read_bytes(), file_tree(workdir)
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**EKD_RUN_CHANGES, **change), f"--workdir={workdir}")
    assert result.returncode == 2, result.stderr
    assert error_lines(result) == [f"error: {workdir} holds a run of another config ({difference}); "
                                   "to resume it use the same config, or use another --workdir (to train on from "
                                   f"its weights with this config: --init_from {workdir})"], result.stderr
    assert Run(workdir).record_file.read_bytes() == record
    assert file_tree(workdir) == before


@pytest.mark.slow
def test_the_unchanged_command_is_accepted_on_its_own_run(ekd_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(ekd_run, workdir)
    record = Run(workdir).record
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**EKD_RUN_CHANGES), f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    assert "top1" in result.stdout
    assert Run(workdir).record["config"] == record["config"]


def test_only_keys_that_change_no_training_may_differ_on_resume(tmp_path):
    from ddnn_tf.training import trainer

    stored = tiny_run_config().to_dict()
    del stored["ekd"]["subnets_start"]  # as if written before the key existed: it had its default
    files.write_json(Run(tmp_path).record_file, {"config": stored})
    run = Run(tmp_path)
    trainer.check_same_config(run, tiny_run_config())
    trainer.check_same_config(run, tiny_run_config(**{
        "data.eval_examples": 100, "bn_recalibration_batches": 5, "cluster_timeout_s": 10.0, "tpu": "10.0.0.2:8470",
    }))
    for key, value, shown in [
        ("ekd.subnets_start", 0.5, "0.0 in its run.json, 0.5"),
        ("data.validation_examples", 100, "500 in its run.json, 100"),
        ("data.archive", "/elsewhere.tar.gz", '"" in its run.json, "/elsewhere.tar.gz"'),
        ("data.batch_size", 32, "64 in its run.json, 32"),
        ("model.depths", (20, 32), "[] in its run.json, [20, 32]"),
        ("optimizer.learning_rate", 0.01, "0.002 in its run.json, 0.01"),
        ("precision", "mixed_bfloat16", '"float32" in its run.json, "mixed_bfloat16"'),
        ("precise_bn_batches", 5, "0 in its run.json, 5"),
        ("strategy", "mirrored", '"default" in its run.json, "mirrored"'),
    ]:
        with pytest.raises(errors.UsageError, match=re.escape(f"({key}: {shown} in this command)")):
            trainer.check_same_config(run, tiny_run_config(**{key: value}))


def test_xla_is_left_to_keras_auto_on_for_a_gpu_off_on_this_cpu(monkeypatch):
    from ddnn_tf.config import base_config
    from ddnn_tf.training import trainer

    model = build_tiny()
    model.compile(optimizer=trainer.make_optimizer(base_config(), steps_per_epoch=10))
    assert model.jit_compile is False, "XLA is slower on a CPU: off"
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: real(kind) + ([] if kind == "CPU" else [
                            tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")]))
    model = build_tiny()
    model.compile(optimizer=trainer.make_optimizer(base_config(), steps_per_epoch=10))
    assert model.jit_compile is True, "with a GPU, Keras's auto compiles the step with XLA"


@pytest.mark.slow
def test_a_short_run_s_saved_model_scores_what_it_trained_to(ekd_run):
    """16 steps leave a fifth of BN's moving averages at their initial values: the saved statistics are re-estimated."""
    settled = Run(ekd_run).record["final_bn"]["model.keras"]
    assert settled["statistics_lag"] > 0.05 and settled["reestimated_on_images"] == 1024  # every training image
    model = Run(ekd_run).model()
    images, labels = next(iter(Run(ekd_run).datasets(role="validation")[1].unbatch().batch(500)))
    for depth in model.depths:
        inference = np.mean(np.argmax(model(images, depth=depth, training=False), -1) == labels.numpy())
        training_mode = np.mean(np.argmax(model(images, depth=depth, training=True), -1) == labels.numpy())
        assert inference >= training_mode - 0.05, (depth, inference, training_mode)


@pytest.mark.slow
def test_init_from_trains_a_finished_run_on_in_a_new_run_that_records_where_it_began(ekd_run, tmp_path):
    workdir = tmp_path / "longer"
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**EKD_RUN_CHANGES, **{"optimizer.learning_rate": 0.0005}),
                     f"--init_from={ekd_run}", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    began = Run(workdir).record["init_from"]
    assert began == {"model.keras": {"run": str(ekd_run.resolve()), "model": "model.keras",
                                     "sha256": files.sha256(ekd_run / "model.keras")}}

    def first_epoch(run, column):
        with open(run / "log.csv") as f:
            return float(next(csv.DictReader(f))[column])

    # Its first epoch starts where the source ended: far lower loss, far higher accuracy than the source's first.
    assert first_epoch(workdir, "loss") < 0.8 * first_epoch(ekd_run, "loss")
    assert first_epoch(workdir, "val_acc_32") > first_epoch(ekd_run, "val_acc_32")
    # Resumed without the flag, it keeps its record; with another source, it is refused.
    again = run_cli("ddnn_tf.train", *tiny_run_flags(**EKD_RUN_CHANGES, **{"optimizer.learning_rate": 0.0005}),
                    f"--workdir={workdir}")
    assert again.returncode == 0, again.stderr
    assert Run(workdir).record["init_from"] == began


def test_init_from_refuses_another_model_itself_and_a_folder_without_a_run(tmp_path):
    from ddnn_tf.training import trainer

    config = tiny_run_config()
    files.write_json((tmp_path / "source").mkdir() or tmp_path / "source" / "run.json",
                     {"config": tiny_run_config(**{"model.width": 0.5}).to_dict()})
    files.write_json((tmp_path / "deep").mkdir() or tmp_path / "deep" / "run.json",
                     {"config": tiny_run_config(mode="independent").to_dict()})
    new, source = Run(tmp_path / "new"), tmp_path / "source"
    with pytest.raises(errors.UsageError) as refused:
        trainer.check_init_from(new, config, source, resuming=False)
    assert str(refused.value) == (f"--init_from {source} holds another model (model.width: 0.5 in its run.json, 1.0 "
                                  "in this command); its weights fit only the model it trained")
    with pytest.raises(errors.UsageError, match="holds one model per depth .mode independent., which mode ekd cannot"):
        trainer.check_init_from(new, config, tmp_path / "deep", resuming=False)
    with pytest.raises(errors.UsageError, match="holds no run .no run.json.; train one with python -m ddnn_tf.train"):
        trainer.check_init_from(new, config, tmp_path / "nothing", resuming=False)
    with pytest.raises(errors.UsageError, match="--init_from names the run's own workdir .*; to resume it leave"):
        trainer.check_init_from(Run(source), config, source, resuming=False)
    files.write_json((tmp_path / "new").mkdir() or tmp_path / "new" / "run.json", {"config": config.to_dict()})
    with pytest.raises(errors.UsageError, match="holds a run that began from scratch, not from .*source; to resume"):
        trainer.check_init_from(new, config, source, resuming=True)


def test_a_resume_compares_data_paths_resolved(tmp_path):
    """The folder a run trained on, named another way, resumes it; another folder does not."""
    from ddnn_tf.training import trainer

    (tmp_path / "images").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "images")
    stored = tiny_run_config(**{"data.directory": str(tmp_path / "images")}).to_dict()
    files.write_json(Run(tmp_path).record_file, {"config": stored})
    for same in (tmp_path / "link", tmp_path / "other" / ".." / "images"):
        trainer.check_same_config(Run(tmp_path), tiny_run_config(**{"data.directory": str(same)}))
    with pytest.raises(errors.UsageError, match=re.escape(f"data.directory: \"{tmp_path / 'images'}\" in its run.json, "
                                                          f"\"{tmp_path / 'other'}\" in this command")):
        trainer.check_same_config(Run(tmp_path), tiny_run_config(**{"data.directory": str(tmp_path / "other")}))


@pytest.mark.parametrize("flags, emulated", [
    ("flags\t\t: fpu sse2 avx avx2 fma", True),  # x86 without AVX512_BF16 or AMX
    ("flags\t\t: fpu avx2 avx512f avx512_bf16", False),
    ("flags\t\t: fpu avx2 amx_bf16 amx_tile", False),
    ("Features\t: fp asimd bf16 i8mm", False),  # Arm with BF16
    ("Features\t: fp asimd", True),
])
def test_mixed_bfloat16_on_a_cpu_without_bfloat16_instructions_is_named(flags, emulated, tmp_path, monkeypatch):
    from ddnn_tf.training import trainer

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])  # the CPU alone, on any machine
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\n{flags}\n\nprocessor\t: 1\n{flags}\n")
    note = trainer.emulated_bfloat16_note("mixed_bfloat16", cpuinfo)
    assert (note is not None) == emulated
    if emulated:
        assert "mixed_bfloat16 is emulated" in note and "--config.precision=float32" in note
    assert trainer.emulated_bfloat16_note("float32", cpuinfo) is None
    assert trainer.emulated_bfloat16_note("mixed_bfloat16", tmp_path / "missing") is None
