"""Training runs: a DDNN (or each depth alone) fitted from a config, resumable.

A run's workdir holds:
    run.json                 the config, the data's normalisation and labels
    model.keras              the trained model (depth_N/model.keras in independent mode)
    checkpoints/epoch_N.keras, best.keras, state.json
    log.csv, tensorboard/
Training again in the same workdir after an interruption resumes from the
last completed epoch and stops at the configured epoch count.
"""

import json
import math
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

import ddnn_tf
from ddnn_tf import errors, files
from ddnn_tf.data import pipeline
from ddnn_tf.models import architectures, ddnn
from ddnn_tf.models.calibration import recalibrate_bn

MODES = ("ekd", "joint", "independent")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def _check_choice(what, value, choices):
    if value not in choices:
        raise errors.UsageError(f"unknown {what} {value!r}; valid choices: {', '.join(choices)}")


def make_strategy(config):
    """The ``tf.distribute`` strategy a config names; call before any TensorFlow op runs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu) or []
    if config.cpu_replicas > 0 and len(configured) != config.cpu_replicas:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(config.cpu_replicas)]
            )
        except RuntimeError:
            raise errors.UsageError("cpu_replicas can only be set before TensorFlow has started") from None
    if config.strategy == "mirrored":
        if tf.config.list_physical_devices("GPU") or config.cpu_replicas == 0:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(config.cpu_replicas)])
    if config.strategy == "multi_worker":  # cluster and task from TF_CONFIG
        wait_for_peers(json.loads(os.environ["TF_CONFIG"]), config.cluster_timeout_s)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def distillation_steps(config, steps_per_epoch):
    """``(warm-up steps, ramp steps)`` of the distillation schedule, from the config's fractions."""
    total = config.epochs * steps_per_epoch
    start = int(round(config.ekd.distill_start * total))
    full = max(start, int(round(config.ekd.distill_full * total)))
    return start, full - start


def wait_for_peers(tf_config, timeout_s):
    """Returns once every task of the cluster has reached every other one, or raises a UsageError.

    MultiWorkerMirroredStrategy waits for its peers with no limit, holding the
    interpreter and ignoring SIGTERM: a missing or unreachable worker would
    hang the others for good. So each worker first listens on its own port
    (which the strategy's server takes over right after), connects to every
    other one and tells it its address, for at most ``timeout_s`` seconds. A
    worker keeps listening until every peer has also reached it: one that
    left as soon as it had reached the others could close its port before a
    slower peer got through, and that peer would wait for nothing.
    """
    task = tf_config["task"]
    members = [(job, index, address) for job, addresses in tf_config["cluster"].items()
               for index, address in enumerate(addresses)]
    own = next(address for job, index, address in members if (job, index) == (task["type"], int(task["index"])))
    unreached = [address for _, _, address in members if address != own]
    unheard = set(unreached)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("", int(own.rsplit(":", 1)[1])))
        except OSError as error:
            raise errors.UsageError(f"cannot listen on this worker's address {own} from TF_CONFIG: {error.strerror}") from None
        listener.listen(len(members))
        listener.settimeout(0.2)
        deadline = time.monotonic() + timeout_s
        while unreached or unheard:
            unreached = [address for address in unreached if not _announce(address, own)]
            unheard.discard(_hear(listener))
            if (unreached or unheard) and time.monotonic() > deadline:
                missing = sorted(set(unreached) | unheard)
                raise errors.UsageError(
                    f"the cluster did not come up within cluster_timeout_s={timeout_s:g} s: no answer from "
                    f"{', '.join(missing)}; start every worker of TF_CONFIG and check that each can reach the others"
                )


def _announce(address, own):
    """Connects to a peer's address and sends it ours; False if the peer is not listening yet."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1) as connection:
            connection.sendall(own.encode() + b"\n")
        return True
    except OSError:
        return False


def _hear(listener):
    """The address a peer announced on ``listener``, or None if none came within its timeout."""
    try:
        connection, _ = listener.accept()
    except OSError:  # socket.timeout included
        return None
    with connection:
        connection.settimeout(1)
        try:
            return connection.recv(256).decode(errors="replace").strip()
        except OSError:
            return None


def build_model(config, num_classes, image_shape, steps_per_epoch=1):
    """The DDNN a config describes; ``joint`` mode switches distillation off."""
    distill = config.mode == "ekd"
    warmup_steps, ramp_steps = distillation_steps(config, steps_per_epoch)
    try:
        return ddnn_tf.build_ddnn(
            config.model.arch,
            num_classes,
            image_shape,
            depths=tuple(config.model.depths) or None,
            stem=config.model.stem,
            bn=config.model.bn,
            width=config.model.width,
            zero_init_residual=config.model.zero_init_residual,
            temperature=config.ekd.temperature,
            kd_weight=config.ekd.kd_weight if distill else 0.0,
            at_weight=config.ekd.at_weight if distill else 0.0,
            teacher=config.ekd.teacher,
            detach_teacher=config.ekd.detach_teacher,
            attention=config.ekd.attention,
            attention_stages=config.ekd.attention_stages,
            distill_warmup_steps=warmup_steps,
            distill_ramp_steps=ramp_steps,
            label_smoothing=config.ekd.label_smoothing,
            subnet_label_weight=config.ekd.subnet_label_weight,
            subnet_start_steps=int(round(config.ekd.subnets_start * config.epochs * steps_per_epoch)),
        )
    except ValueError as error:
        raise errors.UsageError(str(error)) from None


OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(config, steps_per_epoch):
    """SGD (momentum) or AdamW with weight decay; linear warm-up, then cosine decay to zero."""
    total = max(1, int(config.epochs * steps_per_epoch))
    warmup = int(config.optimizer.warmup_epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.optimizer.learning_rate,
        decay_steps=total - warmup,
        warmup_target=config.optimizer.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    if config.optimizer.name == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=config.optimizer.weight_decay)
    return keras.optimizers.SGD(
        schedule,
        momentum=config.optimizer.momentum,
        weight_decay=config.optimizer.weight_decay or None,
    )


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
        files.save_model(self.model, self.directory / f"epoch_{epoch + 1}.keras")
        score = (logs or {}).get(self.monitor, -math.inf)
        if score > self.best:
            self.best, self.best_epoch = score, epoch + 1
            files.save_model(self.model, self.directory / "best.keras")
        files.write_json(self.directory / "state.json", {
            "epoch": epoch + 1, "checkpoint": f"epoch_{epoch + 1}.keras", "best": self.best,
            "best_epoch": self.best_epoch, "monitor": self.monitor,
        })
        (self.directory / f"epoch_{epoch + 1 - self.keep}.keras").unlink(missing_ok=True)


def read_state(checkpoint_dir):
    path = Path(checkpoint_dir) / "state.json"
    return files.read_json(path, "checkpoint state") if path.exists() else None


def check_resumable(workdir):
    """Raises a UsageError, before anything is rewritten, if a run would resume from a damaged checkpoint."""
    for checkpoints in sorted(Path(workdir).glob("**/checkpoints")):
        state = read_state(checkpoints)
        if not state:
            continue
        latest = checkpoints / state["checkpoint"]
        if files.is_complete_archive(latest):
            continue
        # Each intact checkpoint with the state that resumes from it: the epoch it holds.
        candidates = [(f"epoch_{state['epoch'] - 1}.keras", state["epoch"] - 1),
                      ("best.keras", state.get("best_epoch"))]
        intact = [(name, epoch) for name, epoch in candidates
                  if epoch and files.is_complete_archive(checkpoints / name)]
        if intact:
            name, epoch = intact[0]
            resumed = {**state, "epoch": epoch, "checkpoint": name}
            advice = (f"{' and '.join(n for n, _ in intact)} {'is' if len(intact) == 1 else 'are'} intact: to resume "
                      f"from {name} (epoch {epoch}), write {json.dumps(resumed)} into {checkpoints / 'state.json'}")
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


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN, remembering where it stopped so the CLI can say so."""

    stopped_at = None

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        if self.model.stop_training and self.stopped_at is None:
            self.stopped_at = batch


def fit_one(make_model, config, directory, training_from, validation_data, strategy, write_to=None):
    """Fits one model in ``directory``, resuming from its last completed epoch.

    ``training_from(epoch)`` gives the training batches of the epochs from
    ``epoch`` to the last (``pipeline.load``'s ``epochs``): each epoch's
    order is a function of (seed, epoch), so a resumed run trains on the
    batches an uninterrupted one would have. ``write_to`` (default
    ``directory``) receives the files written: a non-chief worker resumes
    from the chief's checkpoints but writes elsewhere.
    """
    checkpoints = Path(directory) / "checkpoints"
    state = read_state(checkpoints)
    directory = Path(write_to or directory)
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    initial_epoch = state["epoch"] if state else 0
    train_data = training_from(initial_epoch)
    steps_per_epoch = int(train_data.cardinality()) // max(1, config.epochs - initial_epoch)
    with strategy.scope():
        if state:
            model = files.load_model(checkpoints / state["checkpoint"])
        else:
            model = make_model()
            model.compile(optimizer=make_optimizer(config, steps_per_epoch))
    stop_on_nan = StopOnNaN()
    callbacks = [
        stop_on_nan,
        EpochTimer(),
        *([PreciseBN(training_from(0), config.precise_bn_batches)] if config.precise_bn_batches else []),
        EpochCheckpoint(directory / "checkpoints", monitor=f"val_acc_{model.full_depth}"),
        keras.callbacks.CSVLogger(str(Path(directory) / "log.csv"), append=True),
        keras.callbacks.TensorBoard(str(Path(directory) / "tensorboard")),
    ]
    if not sys.stdout.isatty():
        callbacks.append(ProgressLines())
    if initial_epoch < config.epochs:
        print(f"Training {model.arch} depths {model.depths} in {directory}, epochs {initial_epoch + 1}-{config.epochs}")
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
    if stop_on_nan.stopped_at is not None:
        raise errors.CommandFailed(
            f"the loss became NaN at batch {stop_on_nan.stopped_at}; nothing more was saved. "
            "Lower --config.optimizer.learning_rate or use float32."
        )
    files.save_model(model, Path(directory) / "model.keras")
    return model


def _check_range(key, value, low, high=math.inf, low_inclusive=True):
    above = value >= low if low_inclusive else value > low
    if not (above and value <= high):
        bound = f"{'at least' if low_inclusive else 'above'} {low}" + ("" if high == math.inf else f" and at most {high}")
        raise errors.UsageError(f"{key} must be {bound}, got {value}")


TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


def check_cluster(tf_config):
    """Raises a UsageError unless ``tf_config`` (the TF_CONFIG text) names a cluster and this task's place in it."""
    if not tf_config:
        raise errors.UsageError(f"strategy=multi_worker reads the cluster from TF_CONFIG, which is not set; e.g. {TF_CONFIG_EXAMPLE}")
    try:
        parsed = json.loads(tf_config)
        members = parsed["cluster"][parsed["task"]["type"]]
        index = int(parsed["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise errors.UsageError(f"TF_CONFIG is malformed ({type(error).__name__}: {error}); expected e.g. {TF_CONFIG_EXAMPLE}") from None
    if not 0 <= index < len(members):
        raise errors.UsageError(
            f"TF_CONFIG task index {index} is out of range: the cluster has {len(members)} "
            f"{parsed['task']['type']} entries, so valid indices are 0 to {len(members) - 1}"
        )


def check_config(config):
    """Raises a UsageError for the first bad value, before anything is written."""
    _check_choice("mode", config.mode, MODES)
    _check_choice("strategy", config.strategy, STRATEGIES)
    _check_choice("precision", config.precision, PRECISIONS)
    _check_choice("optimizer", config.optimizer.name, OPTIMIZERS)
    _check_choice("model.stem", config.model.stem, ddnn.STEMS)
    _check_choice("model.bn", config.model.bn, ddnn.BN_MODES)
    _check_choice("ekd.teacher", config.ekd.teacher, ddnn.TEACHERS)
    _check_choice("ekd.attention", config.ekd.attention, ddnn.ATTENTION_MAPS)
    _check_choice("ekd.attention_stages", config.ekd.attention_stages, ddnn.ATTENTION_STAGES)
    _check_range("epochs", config.epochs, 1)
    _check_range("data.batch_size", config.data.batch_size, 1)
    _check_range("model.width", config.model.width, 0, low_inclusive=False)
    _check_range("ekd.temperature", config.ekd.temperature, 0, low_inclusive=False)
    _check_range("ekd.kd_weight", config.ekd.kd_weight, 0)
    _check_range("ekd.at_weight", config.ekd.at_weight, 0)
    _check_range("ekd.label_smoothing", config.ekd.label_smoothing, 0, 1)
    _check_range("optimizer.learning_rate", config.optimizer.learning_rate, 0, low_inclusive=False)
    _check_range("optimizer.weight_decay", config.optimizer.weight_decay, 0)
    if not 0 <= config.optimizer.warmup_epochs < config.epochs:
        raise errors.UsageError(
            f"optimizer.warmup_epochs must be at least 0 and below epochs ({config.epochs}), so that the learning "
            f"rate has steps left to decay over; got {config.optimizer.warmup_epochs}"
        )
    _check_range("precise_bn_batches", config.precise_bn_batches, 0)
    if config.precise_bn_batches and config.model.bn == "shared":
        raise errors.UsageError(
            "precise_bn_batches re-estimates each depth's own BN statistics, which bn=shared does not have: "
            "use bn=path or private, or set precise_bn_batches=0"
        )
    _check_range("cpu_replicas", config.cpu_replicas, 0)
    _check_range("cluster_timeout_s", config.cluster_timeout_s, 0, low_inclusive=False)
    if config.strategy == "multi_worker":
        check_cluster(os.environ.get("TF_CONFIG"))
    pipeline.check(config.data)
    _check_range("ekd.subnet_label_weight", config.ekd.subnet_label_weight, 0)
    if not 0 <= config.ekd.subnets_start < 1:
        raise errors.UsageError(f"ekd.subnets_start is a fraction of training from 0 to below 1, got {config.ekd.subnets_start}")
    if not 0 <= config.ekd.distill_start <= 1 or not 0 <= config.ekd.distill_full <= 1:
        raise errors.UsageError(
            f"ekd.distill_start and ekd.distill_full are fractions of training from 0 to 1, got "
            f"{config.ekd.distill_start} and {config.ekd.distill_full}"
        )
    if not 0 < config.data.validation_fraction < 1:
        raise errors.UsageError(f"data.validation_fraction must be between 0 and 1, got {config.data.validation_fraction}")
    try:
        architectures.resolve_depths(config.model.arch, tuple(config.model.depths) or None)
    except ValueError as error:
        raise errors.UsageError(str(error)) from None


def is_chief(strategy):
    """Whether this process writes the run's files: always, but for the non-chief workers of a cluster.

    The chief is the task of type "chief", or worker 0 when the cluster names none.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def train(config, workdir):
    """Trains as ``config`` says in ``workdir``; returns whether this process wrote the run (see ``is_chief``).

    In a cluster every worker trains, but only the chief writes ``workdir``;
    the others write to a temporary folder inside it, removed at the end
    (Keras's multi-worker convention).
    """
    check_config(config)
    workdir = Path(workdir)
    run_file = workdir / "run.json"
    if run_file.exists():
        previous = files.read_json(run_file, "run record")["config"]
        held = (previous["mode"], previous["model"]["arch"])
        if held != (config.mode, config.model.arch):
            raise errors.UsageError(
                f"{workdir} holds a run of {held[0]} {held[1]}, not {config.mode} {config.model.arch}; "
                "use another --workdir"
            )
    check_resumable(workdir)
    strategy = make_strategy(config)
    workdir = files.writable_dir(workdir, "workdir")
    if is_chief(strategy):
        with files.exclusive(workdir, "training"):  # one training per workdir
            _train_in(config, workdir, workdir, strategy)
        return True
    scratch = workdir / f".worker_{strategy.cluster_resolver.task_id}_tmp"
    try:
        _train_in(config, workdir, scratch, strategy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return False


def _train_in(config, workdir, write_to, strategy):
    """Trains from ``workdir``'s state, writing every file into ``write_to``."""
    write_to.mkdir(parents=True, exist_ok=True)
    run_file = write_to / "run.json"
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_dtype_policy(config.precision)
    # Checkpoints are chosen on validation data; the eval split is scored by ``evaluate``.
    first_epoch, validation_data, info = pipeline.load(config.data, seed=config.seed, role="validation")
    batches_per_epoch = int(first_epoch.cardinality())
    files.write_json(
        run_file,
        {"config": config.to_dict(), "data": info.to_json(), "ddnn_tf": ddnn_tf.__version__, "tensorflow": tf.__version__},
    )

    def training_from(epoch):
        return pipeline.load(config.data, seed=config.seed, role="validation", epochs=(epoch, config.epochs))[0]

    def make_ddnn():
        return build_model(config, info.num_classes, info.image_shape, batches_per_epoch)

    if config.mode != "independent":
        fit_one(make_ddnn, config, workdir, training_from, validation_data, strategy, write_to)
        return
    # The paper's baseline: each depth trained alone, as a plain ResNet, with the same budget.
    for depth in make_ddnn().depths:
        if not isinstance(depth, int):
            raise errors.UsageError(f"independent mode trains standard depths only, not {depth!r}")
        alone = config.copy_and_resolve_references()
        alone.model.arch, alone.model.depths = f"resnet{depth}", (depth,)
        fit_one(
            lambda alone=alone: build_model(alone, info.num_classes, info.image_shape, batches_per_epoch),
            config,
            workdir / f"depth_{depth}",
            training_from,
            validation_data,
            strategy,
            write_to / f"depth_{depth}",
        )
