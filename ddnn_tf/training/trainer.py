"""Training runs: a DDNN (or each depth alone) fitted from a config, resumable exactly.

A run's workdir holds:
    run.json                 the config, the data's statistics, labels and source
    model.keras              the trained model (depth_N/model.keras in independent mode)
    checkpoints/epoch_N.keras, best.keras, state.json
    log.csv, tensorboard/
Training again in the same workdir after an interruption resumes from the
last completed epoch, with the batches an uninterrupted run would have
seen, and stops at the configured epoch count; one training at a time holds
a workdir, and it must be given the config the run holds
(``check_same_config``).
"""

import json
import re
import shutil
import sys
from pathlib import Path

import keras
import ml_collections
import numpy as np
import tensorflow as tf

import ddnn_tf
from ddnn_tf import config as run_config, errors, files
from ddnn_tf.data import pipeline
from ddnn_tf.models import backbones, calibration
from ddnn_tf.models.ddnn import DDNN
from ddnn_tf.run import Run
from ddnn_tf.training import distributed
from ddnn_tf.training.callbacks import (EpochCheckpoint, EpochTimer, LossBecameNaN, PreciseBN, ProgressLines,
                                        StopOnNaN, check_resumable, read_state, trim_log)


def build_model(config, info, steps_per_epoch=1):
    """The DDNN a config describes, on the pixels ``info`` (a ``DataInfo``) describes; ``joint`` mode does not distil."""
    backbone = backbones.build(config.model.to_dict(), info.num_classes, info.image_shape)
    return DDNN(backbone, run_config.objective(config, steps_per_epoch), pixel_mean=info.mean, pixel_std=info.std)


def learning_rate_schedule(config, steps_per_epoch):
    """Linear warm-up, then cosine decay to zero at the run's last step."""
    total = max(1, int(config.epochs * steps_per_epoch))
    warmup = int(config.optimizer.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.optimizer.learning_rate,
        decay_steps=total - warmup,
        warmup_target=config.optimizer.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(config, steps_per_epoch):
    """SGD (momentum) or AdamW with weight decay, on ``learning_rate_schedule``."""
    schedule = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer.name == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=config.optimizer.weight_decay)
    return keras.optimizers.SGD(
        schedule,
        momentum=config.optimizer.momentum,
        weight_decay=config.optimizer.weight_decay or None,
    )


def fit_one(make_model, config, run, training_from, validation_data, strategy, depth=None, write_to=None,
            source=None, note=lambda key, entry: None):
    """Fits one model of ``run`` (a ``Run``; ``depth`` names an independent run's), resuming from its last epoch.

    ``training_from(epoch)`` gives the training batches of the epochs from
    ``epoch`` to the last (``pipeline.load``'s ``epochs``): each epoch's
    order is a function of (seed, epoch), so a resumed run trains on the
    batches an uninterrupted one would have. ``write_to`` (default ``run``)
    receives the files written: a non-chief worker resumes from the chief's
    checkpoints but writes into a ``Run`` of its own. ``source`` (a ``Run``)
    gives a new run its first weights. ``note(key, entry)`` receives what
    ``run.json`` records of this model: ``init_from`` (the file it started
    from, with its sha256) and ``final_bn`` (``settle_bn_statistics``).
    """
    state = read_state(run.checkpoints(depth))
    write_to = write_to or run
    write_to.checkpoints(depth).mkdir(parents=True, exist_ok=True)
    initial_epoch = state["epoch"] if state else 0
    train_data = training_from(initial_epoch)
    steps_per_epoch = int(train_data.cardinality()) // max(1, config.epochs - initial_epoch)
    with strategy.scope():
        if state:
            model = run.model(run.checkpoints(depth) / state["checkpoint"])
        else:
            model = make_model()
            if source:
                model.set_weights(source.model(source.model_file(depth)).get_weights())
            model.compile(optimizer=make_optimizer(config, steps_per_epoch))
    if source and not state:
        started = source.model_file(depth)
        note("init_from", {"run": str(source.workdir.resolve()), "model": str(started.relative_to(source.workdir)),
                           "sha256": files.sha256(started)})
    trim_log(write_to.log_file(depth), initial_epoch)
    callbacks = [
        StopOnNaN(),
        EpochTimer(),
        *([PreciseBN(training_from(0), config.precise_bn_batches)] if config.precise_bn_batches else []),
        # The row before the checkpoint: every saved epoch has its row, and trim_log drops a row of an unsaved one.
        keras.callbacks.CSVLogger(str(write_to.log_file(depth)), append=True),
        EpochCheckpoint(write_to.checkpoints(depth), monitor=f"val_acc_{model.full_depth}"),
        keras.callbacks.TensorBoard(str(write_to.tensorboard_dir(depth))),
    ]
    if not sys.stdout.isatty():
        callbacks.append(ProgressLines())
    if initial_epoch < config.epochs:
        print(f"Training {model.arch} depths {model.depths} in {write_to.part(depth)}, "
              f"epochs {initial_epoch + 1}-{config.epochs}")
        try:
            model.fit(
                train_data,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                # One stream holds every remaining epoch: Keras keeps reading it across epochs.
                steps_per_epoch=steps_per_epoch,
                validation_data=validation_data,
                callbacks=callbacks,
                shuffle=False,  # the dataset orders each epoch itself, from (seed, epoch)
                verbose=1 if sys.stdout.isatty() else 2,
            )
        except LossBecameNaN as diverged:
            held = f"epoch {diverged.epoch - 1}" if diverged.epoch > 1 else "no epoch"
            # A workdir holding a finished epoch, of any depth, resumes only its config; one holding none starts over.
            where = "in another --workdir" if has_trained(run) else "and train again"
            raise errors.CommandFailed(
                f"{diverged}; that epoch was not saved ({run.checkpoints(depth)} holds {held}). "
                f"Lower --config.optimizer.learning_rate or use float32, {where}"
            ) from None
    settled = settle_bn_statistics(model, config, steps_per_epoch, lambda: training_from(0))
    saved_as = str(write_to.model_file(depth).relative_to(write_to.workdir))
    if settled["reestimated_on_images"]:
        print(f"Re-estimated the BN statistics of {saved_as} on {settled['reestimated_on_images']} training images: "
              f"{settled['statistics_lag']:.0%} of the moving averages predated the final weights (a short run, or "
              "one ending at a high learning rate)")
    note("final_bn", settled)
    files.save_model(model, write_to.model_file(depth))
    return model


def settle_bn_statistics(model, config, steps_per_epoch, train_data, num_batches=20):
    """Re-estimates ``model``'s BN statistics if the run's moving averages were left stale; returns what it did.

    The share of the statistics that predates the final weights is
    ``calibration.statistics_lag`` of the run's learning rates and the BN
    momentum. Past ``calibration.STALE_LIMIT`` the saved model would score
    far below what it trained to (docs/design.md, "Precise BN"), so its
    statistics are re-estimated on ``num_batches`` of ``train_data()`` (built
    only then), unless ``precise_bn_batches`` already did that before the last
    validation.
    """
    momentum = model.backbone.bn_momentum
    total = max(1, int(config.epochs * steps_per_epoch))
    window = min(total, int(np.ceil(np.log(1e-4) / np.log(momentum))))  # older steps weigh under 1e-4 together
    schedule = learning_rate_schedule(config, steps_per_epoch)
    rates = [float(schedule(step)) / config.optimizer.learning_rate for step in range(total - window, total)]
    lag = round(calibration.statistics_lag(rates, momentum), 5)
    needed = lag > calibration.STALE_LIMIT and not config.precise_bn_batches
    images = calibration.recalibrate_bn(model, train_data(), num_batches=num_batches) if needed else 0
    return {"statistics_lag": lag, "reestimated_on_images": images}


# The keys a resumed run may change: where the TPU is, how long to wait for a cluster, and how much
# evaluation scores once training ends. None of them changes the weights, the batches, or the images
# held out for validation; every other key does (data paths too: they may name other images).
CHANGEABLE_ON_RESUME = frozenset({"tpu", "cluster_timeout_s", "data.eval_examples", "bn_recalibration_batches"})


def check_same_config(run, config):
    """Raises a UsageError, before anything is rewritten, unless ``config`` is the one ``run`` (a ``Run``) trains.

    A resumed run takes its model, optimizer and objective from the
    checkpoint, so most changed keys would go unused while ``run.json``
    claimed them, and others would change the run midway: another seed holds
    out images that earlier epochs trained on, more epochs find the restored
    learning-rate schedule already at zero.
    """
    held = (run.config["mode"], run.config["model"]["arch"])
    if held != (config.mode, config.model.arch):
        resume = f"--config.mode={held[0]} resumes it, or " if held[1] == config.model.arch else ""
        raise errors.UsageError(
            f"{run.workdir} holds a run of {held[0]} {held[1]}, not {config.mode} {config.model.arch}; "
            f"{resume}use another --workdir"
        )
    differences = _differences(run, config, lambda key: key not in CHANGEABLE_ON_RESUME)
    if differences:
        raise errors.UsageError(
            f"{run.workdir} holds a run of another config ({differences}); to resume it use the same config, "
            f"or use another --workdir (to train on from its weights with this config: --init_from {run.workdir})"
        )


# Paths to the data: one folder has many names, so they are compared resolved. What a folder, a CIFAR-10
# archive or Fashion-MNIST's files hold is compared by checksum once loaded (``pipeline.check_same_held_out``),
# so that two of one name are told apart.
DATA_PATH_KEYS = frozenset({"data.archive", "data.directory", "data.data_dir", "data.manual_dir"})


def _same(key, stored, wanted):
    if key in DATA_PATH_KEYS and stored and wanted:
        return Path(stored).expanduser().resolve() == Path(wanted).expanduser().resolve()
    return stored == wanted


def _differences(run, config, compared):
    """``"key: stored in its run.json, wanted in this command; ..."`` for the keys ``compared(key)`` accepts, or ""."""
    # A run written before a key existed trained with its default (a key of the family this config builds).
    wanted = _leaves(config.to_dict())
    defaults = _leaves(run_config.base_config().to_dict())
    stored = {**{key: value for key, value in defaults.items() if key in wanted}, **_leaves(run.config)}
    changed = sorted(key for key in stored.keys() | wanted.keys()
                     if compared(key) and not _same(key, stored.get(key), wanted.get(key)))
    return "; ".join(f"{key}: {json.dumps(stored.get(key))} in its run.json, {json.dumps(wanted.get(key))} in this "
                     "command" for key in changed)


def check_init_from(run, config, init_from, resuming):
    """The ``Run`` whose weights a new run in ``run`` starts from, or a UsageError saying why it cannot.

    Its model must be the one ``config`` builds (every ``model.`` key, and
    one DDNN or one model per depth alike); its data, mode and schedule may
    differ. A run that already started resumes from its checkpoints, and
    only with the source it recorded.
    """
    source = Run(init_from)
    source.record  # a UsageError without a run.json
    if source.workdir.resolve() == run.workdir.resolve():
        raise errors.UsageError(f"--init_from names the run's own workdir {run.workdir}; to resume it leave "
                                "--init_from out")
    if resuming:
        recorded = {entry["run"] for entry in run.record.get("init_from", {}).values()}
        if recorded != {str(source.workdir.resolve())}:
            began = f"from {', '.join(sorted(recorded))}" if recorded else "from scratch"
            raise errors.UsageError(f"{run.workdir} holds a run that began {began}, not from {init_from}; "
                                    "to resume it leave --init_from out")
        return source
    differences = _differences(source, config, lambda key: key.startswith("model."))
    if differences:
        raise errors.UsageError(f"--init_from {init_from} holds another model ({differences}); its weights fit only "
                                "the model it trained")
    if (source.config["mode"] == "independent") != (config.mode == "independent"):
        held = "one model per depth" if source.config["mode"] == "independent" else "one DDNN"
        raise errors.UsageError(f"--init_from {init_from} holds {held} (mode {source.config['mode']}), which mode "
                                f"{config.mode} cannot start from")
    return source


def _leaves(config_dict):
    """``{"data.batch_size": 64, ...}``: a nested config dict's values as run.json holds them (tuples as lists)."""
    def walk(tree, prefix):
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield prefix + key, value

    return dict(walk(json.loads(json.dumps(config_dict)), ""))


def has_trained(run):
    """Whether ``run`` (a ``Run``) holds at least one finished epoch to resume from."""
    return any(read_state(checkpoints) for checkpoints in run.all_checkpoints())


def train(config, workdir, init_from=None):
    """Trains as ``config`` says in ``workdir``; returns whether this process wrote the run (``distributed.is_chief``).

    ``init_from`` names a finished run whose trained weights the new run
    starts from (``check_init_from``), with a new optimizer and ``config``'s
    own schedule: how a run trains longer. In a cluster every worker trains,
    but only the chief writes ``workdir``; the others write to a temporary
    folder inside it, removed at the end (Keras's multi-worker convention).
    """
    run_config.check(config)
    run = Run(workdir)
    resuming = has_trained(run)
    if resuming:  # with nothing trained yet, a new config simply starts over
        check_same_config(run, config)
    source = check_init_from(run, config, init_from, resuming) if init_from else None
    if resuming and not source and "init_from" in run.record:
        source = Run(next(iter(run.record["init_from"].values()))["run"])  # for a depth not started yet
    check_resumable(run)
    strategy = distributed.make_strategy(config)
    files.writable_dir(run.workdir, "workdir")
    if distributed.is_chief(strategy):
        with files.exclusive(run.workdir, "training"):  # one training per workdir
            _train_in(config, run, run, strategy, resuming, source)
        return True
    scratch = Run(run.workdir / f".worker_{strategy.cluster_resolver.task_id}_tmp")
    try:
        _train_in(config, run, scratch, strategy, resuming, source)
    finally:
        shutil.rmtree(scratch.workdir, ignore_errors=True)
    return False


# CPU flags (x86's /proc/cpuinfo "flags", Arm's "Features") that compute bfloat16 natively.
NATIVE_BFLOAT16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


def emulated_bfloat16_note(precision, cpuinfo=Path("/proc/cpuinfo")):
    """One line for a mixed_bfloat16 run on a CPU whose instructions lack bfloat16, else None.

    Without a GPU, such a CPU emulates every bfloat16 op: CIFAR-10's ResNet-20
    trained 4.6 times slower than in float32 on an AVX2 CPU (docs/results.md,
    section 1b). Where ``cpuinfo`` cannot be read (not Linux) nothing is claimed.
    """
    if precision != "mixed_bfloat16" or tf.config.list_physical_devices("GPU"):
        return None
    try:
        flags = re.search(r"^(?:flags|Features)\s*:(.*)$", cpuinfo.read_text(), re.M)
    except OSError:
        return None
    if flags is None or NATIVE_BFLOAT16_FLAGS & set(flags.group(1).split()):
        return None
    return ("note: this CPU has no bfloat16 instructions (AVX512_BF16, AMX or Arm BF16), so mixed_bfloat16 is "
            "emulated and trains several times slower than --config.precision=float32")


def _train_in(config, run, write_to, strategy, resuming, source):
    """Trains from ``run``'s state, writing every file into ``write_to`` (a ``Run``); ``resuming``: ``has_trained``;
    ``source``: the ``Run`` whose weights a new run starts from, or None."""
    write_to.workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_dtype_policy(config.precision)
    note = emulated_bfloat16_note(config.precision)
    if note:
        print(note, flush=True)
    # Checkpoints are chosen on validation data; the eval split is scored by ``evaluate``.
    first_epoch, validation_data, info = pipeline.load(config.data, seed=config.seed, role="validation")
    if resuming:  # the same config may still read other files than the run trained on
        pipeline.check_same_held_out(config.data, run.data.get("source") or {}, info.source)
    batches_per_epoch = int(first_epoch.cardinality())
    started_from = run.record.get("init_from", {}) if resuming else {}  # what the first start recorded
    write_to.write_record(config, info, {"ddnn_tf": ddnn_tf.__version__, "tensorflow": tf.__version__})
    for name, entry in started_from.items():
        write_to.add_to_record("init_from", name, entry)

    def training_from(epoch):
        return pipeline.load(config.data, seed=config.seed, role="validation", epochs=(epoch, config.epochs))[0]

    def make_ddnn():
        return build_model(config, info, batches_per_epoch)

    def note_of(depth):
        """Records an entry of the model of ``depth`` (None: the DDNN) in ``run.json``, under its file's name."""
        name = str(write_to.model_file(depth).relative_to(write_to.workdir))
        return lambda key, entry: write_to.add_to_record(key, name, entry)

    if config.mode != "independent":
        fit_one(make_ddnn, config, run, training_from, validation_data, strategy, write_to=write_to, source=source,
                note=note_of(None))
        return
    # The paper's baseline: each depth trained alone, as its family's plain network, with the same budget.
    backbone = make_ddnn().backbone
    for depth in backbone.depths:
        with errors.under("model."):
            standalone = backbone.standalone_config(depth)
        alone = config.copy_and_resolve_references()
        alone.model = ml_collections.ConfigDict({"family": backbone.family, **standalone})
        fit_one(lambda alone=alone: build_model(alone, info, batches_per_epoch), config, run, training_from,
                validation_data, strategy, depth=depth, write_to=write_to, source=source, note=note_of(depth))
