"""Training callbacks: progress lines, the epoch timer, precise BN, checkpoints."""

import csv
import json
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    DISTILLING,
    build_tiny,
    compile_tiny,
    file_tree,
    run_cli,
    tiny_run_config,
    tiny_run_flags,
    train_digits,
)

import ddnn_tf
from ddnn_tf import errors


def _inference_and_training_mode_accuracy(model, images, labels):
    """Top-1 per depth with the moving BN statistics, and with the batch's own (the moving ones left as they were)."""
    saved = [weight.numpy() for weight in model.non_trainable_weights]
    inference = {d: float(np.mean(np.argmax(model(images, depth=d, training=False), -1) == labels)) for d in model.depths}
    training = {d: float(np.mean(np.argmax(model(images, depth=d, training=True), -1) == labels)) for d in model.depths}
    for weight, value in zip(model.non_trainable_weights, saved):
        weight.assign(value)
    return inference, training


TRAIN = ["ddnn_tf.train", *tiny_run_flags(), "--workdir={tmp}/w"]


def test_progress_lines_appear_within_an_epoch(capsys):
    from ddnn_tf.training.trainer import ProgressLines

    ticks = iter(range(0, 10_000, 10))  # a clock that advances 10 s per reading
    model = compile_tiny(build_tiny(**DISTILLING))
    model.fit(train_digits().take(4), epochs=1, verbose=0,
              callbacks=[ProgressLines(every_seconds=15, clock=lambda: next(ticks))])
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch 1 step" in line]
    assert [line.split(",")[0].strip() for line in lines] == ["epoch 1 step 2/4", "epoch 1 step 4/4"]
    assert all("loss" in line for line in lines)


def test_epoch_timer_logs_the_training_steps_alone_before_the_csv_logger(tmp_path):
    from ddnn_tf.training.trainer import EpochTimer

    clock = iter([0.0, 100.0]).__next__  # the epoch starts at 0 s, its validation at 100 s
    model = compile_tiny(build_tiny(**DISTILLING))
    digits = train_digits().take(2)
    model.fit(digits, validation_data=digits, epochs=1, verbose=0,
              callbacks=[EpochTimer(clock=clock), keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))])
    with open(tmp_path / "log.csv") as f:
        assert float(next(csv.DictReader(f))["train_seconds"]) == 100.0


@pytest.mark.slow
def test_precise_bn_makes_a_short_fit_score_in_inference_what_it_scores_in_training():
    from ddnn_tf.training.callbacks import PreciseBN

    train = train_digits()
    images, labels = (x.numpy() for x in next(iter(ddnn_tf.data.mnist("validation", batch_size=500))))
    validation = tf.data.Dataset.from_tensor_slices((images, labels)).batch(250)
    gaps = {}
    for precise in (False, True):
        keras.utils.set_random_seed(0)
        model = compile_tiny(build_tiny())
        callbacks = [PreciseBN(train, num_batches=20)] if precise else []
        model.fit(train, epochs=1, validation_data=validation, callbacks=callbacks, verbose=0)
        inference, training = _inference_and_training_mode_accuracy(model, images, labels)
        gaps[precise] = max(training[d] - inference[d] for d in model.depths)
    assert gaps[True] <= 0.05, f"inference within a few points of training mode: {gaps}"
    assert gaps[False] > gaps[True], f"the moving statistics of the same fit lag more: {gaps}"


def test_a_resume_keeps_the_log_rows_of_its_saved_epochs_only(tmp_path):
    from ddnn_tf.training.callbacks import trim_log

    log = tmp_path / "log.csv"
    header, saved = "epoch,acc_8,loss\r\n", ["0,0.5,1.25\r\n", "1,0.625,1.0\r\n"]
    # Epoch 2's row was written but its checkpoint was not; the kill cut epoch 3's row short.
    log.write_bytes((header + "".join(saved) + "2,0.75,0.875\r\n" + "3,0.").encode())
    trim_log(log, 2)
    assert log.read_bytes() == (header + "".join(saved)).encode()
    trim_log(log, 2)
    assert log.read_bytes() == (header + "".join(saved)).encode()
    trim_log(log, 0)  # no epoch saved: even the header may be cut short
    assert not log.exists()
    trim_log(log, 1)  # no log yet: nothing to do
    assert not log.exists()
    # Epoch 1 saved, its row not written (before the row came first): the log is empty, or its header cut short.
    for content in (b"", b"epoch,ac"):
        log.write_bytes(content)
        trim_log(log, 1)
        assert not log.exists()


@pytest.mark.slow
def test_each_epoch_s_log_row_is_written_before_its_checkpoint(tmp_path, monkeypatch):
    """So that a kill between the two never leaves a saved epoch without its row."""
    from ddnn_tf.training import callbacks, trainer

    rows_at_checkpoint = []
    save = callbacks.EpochCheckpoint.on_epoch_end

    def record_then_save(self, epoch, logs=None):
        with open(tmp_path / "run" / "log.csv") as f:
            rows_at_checkpoint.append([int(row["epoch"]) for row in csv.DictReader(f)])
        save(self, epoch, logs)

    monkeypatch.setattr(callbacks.EpochCheckpoint, "on_epoch_end", record_then_save)
    trainer.train(tiny_run_config(epochs=2, mode="joint"), tmp_path / "run")
    assert rows_at_checkpoint == [[0], [0, 1]]


def test_resuming_from_a_truncated_checkpoint_changes_nothing_and_names_the_intact_one(tmp_path):
    workdir = tmp_path / "w"
    checkpoints = workdir / "checkpoints"
    checkpoints.mkdir(parents=True)
    (workdir / "run.json").write_text(json.dumps({"config": tiny_run_config(epochs=3).to_dict()}))
    with zipfile.ZipFile(checkpoints / "epoch_1.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    whole = (checkpoints / "epoch_1.keras").read_bytes()
    (checkpoints / "epoch_2.keras").write_bytes(whole[: len(whole) // 2])
    (checkpoints / "state.json").write_text(json.dumps({"epoch": 2, "checkpoint": "epoch_2.keras"}))
    before = file_tree(tmp_path)
    result = run_cli(*(arg.replace("{tmp}", str(tmp_path)) for arg in TRAIN), "--config.epochs=3")
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert "epoch_2.keras is truncated or corrupt" in lines[0] and "File not found" not in lines[0]
    assert ('epoch_1.keras is intact: to resume from epoch_1.keras (epoch 1), write {"epoch": 1, '
            f'"checkpoint": "epoch_1.keras"}} into {checkpoints / "state.json"}') in lines[0]
    assert file_tree(tmp_path) == before


def test_a_truncated_checkpoint_names_the_epoch_best_keras_holds():
    from ddnn_tf.run import Run
    from ddnn_tf.training import callbacks

    with tempfile.TemporaryDirectory() as root:
        checkpoints = Path(root) / "checkpoints"
        checkpoints.mkdir()
        with zipfile.ZipFile(checkpoints / "best.keras", "w") as archive:
            archive.writestr("config.json", "{}")
        (checkpoints / "epoch_5.keras").write_bytes(b"PK truncated")
        state = {"epoch": 5, "checkpoint": "epoch_5.keras", "best": 0.9, "best_epoch": 3, "monitor": "val_acc_20"}
        (checkpoints / "state.json").write_text(json.dumps(state))
        with pytest.raises(errors.UsageError) as raised:
            callbacks.check_resumable(Run(root))
    message = str(raised.value)
    assert "best.keras is intact: to resume from best.keras (epoch 3), write " in message
    written = json.loads(message.split("write ", 1)[1].split(" into ", 1)[0])
    assert written == {**state, "epoch": 3, "checkpoint": "best.keras"}
