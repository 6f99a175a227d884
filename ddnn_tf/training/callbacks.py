"""The callbacks of a training run: checkpoints that resume, progress lines, epoch timing, precise BN, NaN."""

import csv
import json
import math
import time
from pathlib import Path

import keras

from ddnn_tf import errors, files
from ddnn_tf.models.calibration import recalibrate_bn
from ddnn_tf.run import BEST_CHECKPOINT, CHECKPOINT_STATE, epoch_checkpoint


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves every epoch and the best one, each file written whole, then renamed.

    ``state.json`` names the last completed epoch; it is written after that
    epoch's file, so it never points at a file that is not complete. Only the
    last ``keep`` epoch files stay: an ImageNet run would otherwise fill a disk.

    Not Keras's own callbacks, because neither does this: ``ModelCheckpoint``
    calls ``model.save`` on the final path (a kill mid-write leaves a
    truncated ``.keras`` file that resuming would then read) and never deletes
    old epochs; ``BackupAndRestore`` keeps one backup in its own format,
    deletes it when training ends, and leaves no per-epoch ``.keras`` files
    or ``best.keras`` for users to load.
    """

    def __init__(self, directory, monitor, keep=2):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.keep = keep
        state = read_state(self.directory) or {}
        self.best = state.get("best", -math.inf)
        self.best_epoch = state.get("best_epoch")  # which epoch best.keras holds

    def on_epoch_end(self, epoch, logs=None):
        files.save_model(self.model, self.directory / epoch_checkpoint(epoch + 1))
        score = (logs or {}).get(self.monitor, -math.inf)
        if score > self.best:
            self.best, self.best_epoch = score, epoch + 1
            files.save_model(self.model, self.directory / BEST_CHECKPOINT)
        files.write_json(self.directory / CHECKPOINT_STATE, {
            "epoch": epoch + 1, "checkpoint": epoch_checkpoint(epoch + 1), "best": self.best,
            "best_epoch": self.best_epoch, "monitor": self.monitor,
        })
        (self.directory / epoch_checkpoint(epoch + 1 - self.keep)).unlink(missing_ok=True)


def read_state(checkpoint_dir):
    path = Path(checkpoint_dir) / CHECKPOINT_STATE
    return files.read_json(path, "checkpoint state") if path.exists() else None


def trim_log(path, epochs):
    """Keeps the header of a ``CSVLogger`` file and the rows of its first ``epochs`` epochs, byte for byte.

    A resumed run starts after the last saved epoch. A row that the killed run
    wrote for an epoch it did not save, or a row that the kill cut short, would
    otherwise stand beside the row the resumed run writes for that epoch.
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, newline="") as f:  # as written: CSVLogger ends rows with \r\n
        lines = f.read().splitlines(keepends=True)
    # No epoch saved, or not even a whole header: CSVLogger creates the file empty when training begins.
    if epochs == 0 or not lines or not lines[0].endswith("\n"):
        path.unlink()
        return
    header, *rows = lines
    columns = next(csv.reader([header]))
    epoch = columns.index("epoch")

    def saved(line):
        values = next(csv.reader([line]), [])
        return len(values) == len(columns) and values[epoch].isdigit() and int(values[epoch]) < epochs

    kept = [line for line in rows if saved(line)]
    if len(kept) < len(rows):
        files.atomic_write(path, lambda tmp: Path(tmp).write_text(header + "".join(kept), newline=""))


def check_resumable(run):
    """Raises a UsageError, before anything is rewritten, if ``run`` (a ``Run``) would resume from a damaged checkpoint."""
    for checkpoints in run.all_checkpoints():
        state = read_state(checkpoints)
        if not state:
            continue
        latest = checkpoints / state["checkpoint"]
        if files.is_complete_archive(latest):
            continue
        # Each intact checkpoint with the state that resumes from it: the epoch it holds.
        candidates = [(epoch_checkpoint(state["epoch"] - 1), state["epoch"] - 1),
                      (BEST_CHECKPOINT, state.get("best_epoch"))]
        intact = [(name, epoch) for name, epoch in candidates
                  if epoch and files.is_complete_archive(checkpoints / name)]
        if intact:
            name, epoch = intact[0]
            resumed = {**state, "epoch": epoch, "checkpoint": name}
            advice = (f"{' and '.join(n for n, _ in intact)} {'is' if len(intact) == 1 else 'are'} intact: to resume "
                      f"from {name} (epoch {epoch}), write {json.dumps(resumed)} into {checkpoints / CHECKPOINT_STATE}")
        else:
            advice = "no other checkpoint is intact: use a new --workdir"
        raise errors.UsageError(
            f"checkpoint {latest} is truncated or corrupt (not a complete .keras archive); nothing was changed. {advice}"
        )


class ProgressLines(keras.callbacks.Callback):
    """A line every ``every_seconds`` during an epoch, for output that is not a terminal.

    Keras's ``verbose=2`` prints once per epoch, so a log file or CI job shows
    nothing for the whole of a long epoch.
    """

    def __init__(self, every_seconds=30.0, clock=time.monotonic):
        super().__init__()
        self.every_seconds = every_seconds
        self.clock = clock

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = self.last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if now - self.last < self.every_seconds:
            return
        self.last = now
        steps = self.params.get("steps") or "?"
        loss = (logs or {}).get("loss")
        shown = f", loss {float(loss):.4f}" if loss is not None else ""
        print(f"  epoch {self.epoch + 1} step {batch + 1}/{steps}{shown}, {now - self.started:.0f} s", flush=True)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``train_seconds`` to each epoch's logs: the epoch's training steps, validation excluded.

    Placed before the CSVLogger, it puts the column into ``log.csv``, from
    which throughput (training examples / train_seconds) can be read.
    """

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.clock = clock

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.seconds = self.clock(), None

    def on_test_begin(self, logs=None):
        if self.seconds is None:  # the first evaluation of an epoch ends its training steps
            self.seconds = self.clock() - self.started

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["train_seconds"] = self.seconds if self.seconds is not None else self.clock() - self.started


class PreciseBN(keras.callbacks.Callback):
    """Before each epoch's validation, re-estimates every depth's BN statistics on ``num_batches`` training batches.

    The moving averages a DDNN keeps lag its weights far more than a plain
    net's (docs/design.md, "Precise BN"): re-estimated with the weights as they
    are, the statistics make inference match training, and the checkpoint
    chosen on validation (``best.keras``) and ``model.keras`` carry them.
    """

    def __init__(self, train_data, num_batches):
        super().__init__()
        self.train_data, self.num_batches = train_data, num_batches

    def on_epoch_begin(self, epoch, logs=None):
        self.done = False

    def on_test_begin(self, logs=None):
        if not self.done:  # the first evaluation of an epoch: its training steps are over
            recalibrate_bn(self.model, self.train_data, num_batches=self.num_batches)
            self.done = True


class LossBecameNaN(RuntimeError):
    """Raised by ``StopOnNaN``: the loss became NaN (or infinite) at ``batch`` of ``epoch`` (both counted from 1)."""

    def __init__(self, epoch, batch, loss):
        super().__init__(f"the loss became {loss} at batch {batch} of epoch {epoch}")
        self.epoch, self.batch, self.loss = epoch, batch, loss


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss by raising ``LossBecameNaN``.

    Not Keras's TerminateOnNaN: it sets ``stop_training``, after which Keras
    still validates the broken epoch and calls every ``on_epoch_end``, so
    ``EpochCheckpoint`` would save the NaN weights as a completed epoch to
    resume from. Raising skips all of that: the checkpoints, ``state.json``
    and ``log.csv`` keep the last complete epoch.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise LossBecameNaN(self.epoch + 1, batch + 1, "NaN" if math.isnan(float(loss)) else "infinite")
