"""Every key a run's config has, with its default; ``configs/*.py`` change what differs.

Override any key on the command line: ``--config.ekd.temperature=3``.
"""

import importlib.util
import json
from pathlib import Path

import ml_collections

from ddnn_tf import errors

DEFAULT = "mnist_resnet34"  # the run make demo trains
MODES = ("ekd", "joint", "independent")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
OPTIMIZERS = ("sgd", "adamw")


def shipped():
    """``{name: path}`` of the configs installed with the package (the checkout's ``configs/``)."""
    spec = importlib.util.find_spec("ddnn_tf.configs")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return {path.stem: path for path in sorted(folder.glob("*.py")) if path.stem != "__init__"}


def resolve(value):
    """The config file ``value`` names: a path to a file, or the name of a shipped config."""
    if Path(value).is_file():
        return Path(value)
    configs = shipped()
    name = Path(value).stem if Path(value).suffix == ".py" and Path(value).parent == Path(".") else value
    if name in configs:
        return configs[name]
    raise errors.UsageError(
        f"no config file {value} and no shipped config of that name; shipped configs: {', '.join(configs)}"
    )


def base_config():
    config = ml_collections.ConfigDict()
    # joint (cross-entropy of every depth) | ekd (plus distillation, the ekd.* keys) | independent (each depth
    # alone). joint is the default: the best one-model recipe on validation in the
    # CIFAR-10 and MNIST studies (docs/results.md, sections 1 and 2).
    config.mode = "joint"
    config.seed = 0
    config.epochs = 1
    config.strategy = "default"  # default | mirrored | multi_worker (reads TF_CONFIG) | tpu
    config.cpu_replicas = 0  # > 0: split the CPU into this many logical devices (mirrored on CPU)
    config.tpu = ""  # tpu: the TPU name or address ("" for the local one)
    config.cluster_timeout_s = 300.0  # multi_worker: how long to wait for every worker to come up
    config.precision = "float32"  # float32 | mixed_float16 | mixed_bfloat16

    config.data = ml_collections.ConfigDict()
    # mnist | cifar10 | fashion_mnist | folder | a tensorflow-datasets name (cifar100, imagenet2012, ...)
    config.data.name = "mnist"
    config.data.batch_size = 128  # global, over all replicas
    config.data.train_examples = 0  # 0 for the whole split
    config.data.eval_split = "test"  # scored once, when the run is finished
    config.data.eval_examples = 0  # of eval_split, when the run is scored; 0 for all
    config.data.validation_examples = 0  # of the validation set, every epoch; 0 for all
    # Checkpoints and hyperparameters are chosen on validation data, never on
    # eval_split: mnist's validation split, a dataset's own validation split,
    # or else this fraction of the training images, held out.
    config.data.validation_fraction = 0.05
    config.data.augment = "auto"  # auto (cifar up to 64 pixels, else imagenet) | cifar | imagenet | none
    config.data.image_size = 0  # 0 keeps the native size
    # name=cifar10 without tensorflow-datasets' copy: cifar-10-python.tar.gz, or a
    # tarball of train/<class>/*.jpg and test/<class>/*.jpg
    config.data.archive = ""
    # name=folder: one sub-folder of images per class; name=fashion_mnist: the
    # IDX files ("" for Debian's /usr/share/datasets/fashion-mnist)
    config.data.directory = ""
    config.data.eval_fraction = 0.1  # name=folder: images held out for evaluation
    config.data.data_dir = ""  # tensorflow-datasets data_dir ("" for its default)
    config.data.manual_dir = ""  # imagenet2012: where ILSVRC2012_img_{train,val}.tar are

    # A backbone family's constructor options (ddnn_tf.models.backbones) and its family name.
    config.model = ml_collections.ConfigDict()
    config.model.family = "resnet"  # a name in ddnn_tf.models.backbones.FAMILIES
    config.model.arch = "resnet56"
    config.model.depths = ()  # () for every standard depth nested in the arch
    config.model.stem = "auto"  # auto | imagenet | cifar
    # path | private | shared: see docs/design.md. path: within noise of private on the
    # EKD study's validation digits (every depth) and within 2 % of shared BN's step.
    config.model.bn = "path"
    config.model.width = 1.0  # channel multiplier of every stage
    config.model.zero_init_residual = False  # last BN scale of every residual branch starts at 0
    config.model.bn_momentum = 0.9  # 0.99 leaves a short run's BN statistics unconverged
    # shared (one classifier, the paper's form) | private (one per depth: a sub-net's
    # losses never move the full net's head); docs/design.md
    config.model.heads = "shared"

    # mode=ekd: the paper's form, as the EKD study ran it (its paper_warmup arm).
    config.ekd = ml_collections.ConfigDict()
    config.ekd.temperature = 2.0
    config.ekd.kd_weight = 1.0
    # Zagoruyko & Komodakis' beta = 1000 (their loss is beta / 2 times the same
    # mean of squared differences); at 50 the term's gradient is 3 % of CE's.
    config.ekd.at_weight = 500.0
    config.ekd.teacher = "full"  # full | ensemble
    config.ekd.detach_teacher = True
    config.ekd.attention = "squared_mean"  # squared_mean (Zagoruyko & Komodakis) | zscored_sum
    config.ekd.attention_stages = "all"  # all | last
    # Distillation warm-up, as fractions of training: no KL or attention term
    # before distill_start, then a linear ramp to full weight at distill_full.
    # A randomly initialised full net is no teacher: from step 0 the MNIST pilot
    # lost 0.89 / 0.43 / 0.28 points at ResNet-8 / 14 / 20 (docs/results.md, section 2).
    config.ekd.distill_start = 0.3
    config.ekd.distill_full = 0.5
    config.ekd.label_smoothing = 0.0
    # Sub-nets' cross-entropy weight: 0 with kd_weight 1 is in-place distillation
    # (US-Nets, BigNAS): only the full net sees the labels.
    config.ekd.subnet_label_weight = 1.0
    # Fraction of training in which the full net learns alone (once-for-all's
    # progressive shrinking); the sub-nets join after it. Any mode.
    config.ekd.subnets_start = 0.0

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # sgd | adamw
    config.optimizer.learning_rate = 0.1  # peak, for the global batch
    config.optimizer.momentum = 0.9  # sgd only
    config.optimizer.weight_decay = 5e-4
    config.optimizer.warmup_epochs = 0.0  # linear warm-up, then cosine decay to zero

    # Before each epoch's validation, every depth's BN statistics re-estimated on
    # this many training batches (0: off), so model.keras and best.keras carry them.
    # Off, a run whose moving averages end stale (a short run, one ending at a high
    # rate) still has model.keras's statistics re-estimated once, on 20 batches.
    config.precise_bn_batches = 0
    config.bn_recalibration_batches = 20  # evaluation also reports accuracy after re-estimating BN
    return config


def mnist_config(arch, batch_size):
    """The offline real MNIST (first 10,000 training digits, no augmentation) with AdamW 0.002.

    A few hundred steps: AdamW gets further than SGD there (94 % against 92 %,
    docs/design.md).
    """
    config = base_config()
    config.data.name = "mnist"
    config.data.batch_size = batch_size
    config.data.train_examples = 10_000
    config.data.augment = "none"  # digits are not flipped or shifted
    config.model.arch = arch
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 0.002
    config.optimizer.weight_decay = 1e-4
    config.optimizer.warmup_epochs = 0.1
    return config


def cifar_config(name, arch, epochs):
    """CIFAR-10 or -100 at 32x32: 4-pixel crop and flip, SGD 0.1 with a one-epoch warm-up.

    The warm-up is needed because the summed depth losses give the shared early
    layers several times a single net's gradient (docs/design.md).
    """
    config = base_config()
    config.data.name = name
    config.data.batch_size = 128
    config.data.eval_split = "test"
    config.data.augment = "cifar"
    config.model.arch = arch
    config.model.stem = "cifar"
    config.epochs = epochs
    config.optimizer.learning_rate = 0.1
    config.optimizer.weight_decay = 5e-4
    config.optimizer.warmup_epochs = 1.0
    return config


def imagenet_config(arch):
    """ImageNet (ILSVRC 2012) at 224x224 with the ImageNet stem: the paper's large-scale setting.

    tensorflow-datasets builds imagenet2012 from ILSVRC2012_img_train.tar and
    ILSVRC2012_img_val.tar placed in ``data.manual_dir``.
    """
    config = base_config()
    config.data.name = "imagenet2012"
    config.data.batch_size = 256
    config.data.eval_split = "validation"
    config.data.image_size = 224
    config.data.augment = "imagenet"
    config.model.arch = arch
    config.model.stem = "imagenet"
    config.epochs = 90
    config.strategy = "mirrored"
    config.precision = "mixed_float16"
    config.optimizer.learning_rate = 0.1  # for batch 256; scale linearly with the batch
    config.optimizer.weight_decay = 1e-4
    config.optimizer.warmup_epochs = 5.0
    config.ekd.label_smoothing = 0.1
    return config


def stored_data_config(data):
    """The ``data`` section of a stored run config, completed with today's defaults.

    Runs written by an older ddnn_tf lack the keys added since; their defaults
    keep such runs loadable.
    """
    config = base_config().data
    config.update(data)
    return config


def load(path, overrides=None):
    """The config a ``configs/*.py`` file's ``get_config()`` returns, with ``overrides`` applied.

    ``overrides`` maps dotted keys to values, as ``--config.key=value`` does on
    the command line: ``load("configs/mnist_resnet56.py", {"ekd.kd_weight": 0.0})``.
    A key the config does not have raises an error instead of being added.
    """
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.lock()
    config.update_from_flattened_dict(dict(overrides or {}))
    config.unlock()
    return config


def check(config):
    """Raises a UsageError for the first bad value of a run's config, before anything is written.

    The model's and the objective's values are checked by their own classes'
    checks (the backbone family's ``check_options``, ``Objective``), named by their keys.
    """
    import os

    from ddnn_tf.data import pipeline
    from ddnn_tf.models import backbones

    errors.check_choice("mode", config.mode, MODES)
    errors.check_choice("strategy", config.strategy, STRATEGIES)
    errors.check_choice("precision", config.precision, PRECISIONS)
    errors.check_choice("optimizer", config.optimizer.name, OPTIMIZERS)
    errors.check_range("seed", config.seed, 0, 2**32 - 1)  # numpy's and Keras' seeds
    errors.check_range("epochs", config.epochs, 1)
    errors.check_range("data.batch_size", config.data.batch_size, 1)
    with errors.under("model."):
        backbones.check(config.model.to_dict())
    for key in ("distill_start", "distill_full", "subnets_start"):
        errors.check_range(f"ekd.{key}", config.ekd[key], 0, 1)
    with errors.under("ekd."):
        objective(config, steps_per_epoch=1)
    errors.check_range("optimizer.learning_rate", config.optimizer.learning_rate, 0, low_inclusive=False)
    errors.check_range("optimizer.momentum", config.optimizer.momentum, 0, 1)
    errors.check_range("optimizer.weight_decay", config.optimizer.weight_decay, 0)
    if not 0 <= config.optimizer.warmup_epochs < config.epochs:
        raise errors.UsageError(
            f"optimizer.warmup_epochs must be at least 0 and below epochs ({config.epochs}), so that the learning "
            f"rate has steps left to decay over; got {config.optimizer.warmup_epochs}"
        )
    errors.check_range("precise_bn_batches", config.precise_bn_batches, 0)
    errors.check_range("bn_recalibration_batches", config.bn_recalibration_batches, 0)
    errors.check_range("cpu_replicas", config.cpu_replicas, 0)
    errors.check_range("cluster_timeout_s", config.cluster_timeout_s, 0, low_inclusive=False)
    if config.strategy == "multi_worker":
        check_cluster(os.environ.get("TF_CONFIG"))
    pipeline.check(config.data)


def objective(config, steps_per_epoch):
    """The ``ddnn_tf.distill.Objective`` a config trains with; its schedules turn fractions of training into steps.

    ``mode=joint`` (and ``independent``) switch distillation off: cross-entropy of every depth alone.
    """
    from ddnn_tf.distill.objective import Objective

    total = config.epochs * steps_per_epoch
    start = int(round(config.ekd.distill_start * total))
    full = max(start, int(round(config.ekd.distill_full * total)))
    recipe = Objective(
        teacher=config.ekd.teacher,
        detach_teacher=config.ekd.detach_teacher,
        temperature=config.ekd.temperature,
        kd_weight=config.ekd.kd_weight,
        at_weight=config.ekd.at_weight,
        attention=config.ekd.attention,
        attention_stages=config.ekd.attention_stages,
        distill_warmup_steps=start,
        distill_ramp_steps=full - start,
        label_smoothing=config.ekd.label_smoothing,
        subnet_label_weight=config.ekd.subnet_label_weight,
        subnet_start_steps=int(round(config.ekd.subnets_start * total)),
    )
    if config.mode == "ekd":
        return recipe
    return Objective.from_config({**recipe.get_config(), "kd_weight": 0.0, "at_weight": 0.0})


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
