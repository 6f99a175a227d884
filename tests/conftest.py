"""Shared fixtures and helpers. Few processes: importing TensorFlow costs seconds in each (make test runs two)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPUs, so that MirroredStrategy has two replicas; this must run
# before TensorFlow initialises its devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

import fcntl  # noqa: E402
import importlib.util  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import ddnn_tf  # noqa: E402
from ddnn_tf.config import base_config  # noqa: E402
from ddnn_tf.config import load as load_config

REPO = Path(__file__).resolve().parents[1]
MNIST_CONFIG = REPO / "configs" / "mnist_resnet56.py"
MOBILE = REPO / "mobile"
MOBILE_TESTDATA = MOBILE / "testdata"  # the files mobile/core's tests and the Python tests share
TINY_TFLITE = REPO / "tests" / "testdata" / "resnet8_width025_int8.tflite"  # an untrained ResNet-8 at width 0.25, int8
SHARED_CIFAR10 = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"  # beside the checkout, where it is
# A training run small enough for tests: ResNet-32 holding ResNet-20. Its evaluation scores each
# depth once (no second scoring after re-estimating BN: tests/training/test_evaluation.py asks for one).
TINY_RUN_OVERRIDES = {"model.arch": "resnet32", "data.train_examples": 1024, "data.eval_examples": 500,
                      "data.validation_examples": 500, "bn_recalibration_batches": 0}

# A DDNN small enough to train in seconds: ResNet-20 holding depths 8 and 14.
TINY_ARCH = "resnet20"
TINY_DEPTHS = {8: (1, 1, 1), 14: (2, 2, 2)}


def build_tiny(**options):
    return ddnn_tf.build_ddnn(TINY_ARCH, 10, (32, 32, 3), depths=TINY_DEPTHS, **options)


# The loss weights of a DDNN whose distillation terms are large enough to see.
DISTILLING = {"kd_weight": 1.0, "at_weight": 50.0}


def compile_tiny(model):
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model


def train_digits(batch_size=64):
    """1,536 real training digits."""
    return ddnn_tf.data.mnist("train", batch_size=batch_size, num_examples=1536)


def trainable_parameters(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def variables_of_blocks_beyond(model, counts):
    """Variables of the blocks a sub-net with ``counts`` skips."""
    skipped = tuple(
        f"stage{stage + 1}_block{block + 1}_"
        for stage, (kept, full) in enumerate(zip(counts, model.backbone.block_counts[model.full_depth]))
        for block in range(kept, full)
    )
    return [v for v in model.trainable_variables if v.path.split("/")[-2].startswith(skipped)]


def data_config(**changes):
    """The default data config with batch size 8 and ``changes``."""
    data = base_config().data
    data.update({"batch_size": 8, **changes})
    return data


def load_script(name, folder=MOBILE):
    """``<folder>/<name>.py``, a script rather than a module of the package (``mobile/`` unless told)."""
    spec = importlib.util.spec_from_file_location(name, Path(folder) / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ekd_terms(model, outputs, labels):
    """Every term of the model's objective on ``outputs`` (``run_depths``), with no schedule."""
    return model.objective.terms(outputs, labels, model.full_depth, model.num_classes)


@pytest.fixture(scope="session")
def mnist_batch():
    """One fixed batch of 32 real test digits."""
    return next(iter(ddnn_tf.data.mnist("test", batch_size=32)))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if "end_to_end" in item.path.parts:
            item.add_marker(pytest.mark.slow)
        # make test spreads tests one by one over its workers (--dist loadgroup), but a module- or
        # class-scoped fixture is built once per worker: the tests that share one stay together.
        if any(defs[-1].scope in ("module", "class") for defs in item._fixtureinfo.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.path.name))


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)


def tiny_run_config(**changes):
    """The MNIST config with TINY_RUN_OVERRIDES and ``changes`` ("data.batch_size": 64, ...)."""
    return load_config(MNIST_CONFIG, {**TINY_RUN_OVERRIDES, **changes})


@pytest.fixture
def own_data_cache(tmp_path, monkeypatch):
    """A cache of decoded arrays private to the test."""
    monkeypatch.setenv("DDNN_TF_CACHE", str(tmp_path / "cache"))


def built_once(tmp_path_factory, name, build):
    """The folder ``name`` that ``build(folder)`` fills, built once per test session.

    Under pytest-xdist every worker is its own process with its own session
    fixtures; the folder then lives beside the workers' temporary roots and a
    lock lets the first worker build it while the others wait for it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker whose build failed left behind
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _train_tiny(workdir, **changes):
    result = run_cli("ddnn_tf.train", *tiny_run_flags(**changes), f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    return result


# What ekd_run trains beyond TINY_RUN_OVERRIDES: a command resuming it passes them too.
EKD_RUN_CHANGES = {"model.heads": "private"}


@pytest.fixture(scope="session")
def ekd_run(tmp_path_factory):
    """A workdir holding a finished tiny EKD run on real MNIST, trained through the CLI.

    It trains a classifier per depth (``model.heads=private``), so that export, QAT and the
    benchmark run on private heads end to end; the joint and independent runs keep the default,
    one shared head.
    """
    return built_once(tmp_path_factory, "ekd_run", lambda workdir: _train_tiny(workdir, **EKD_RUN_CHANGES))


# How ekd_export exports ekd_run: small, and every file kept.
EKD_EXPORT_FLAGS = ("--depth=all", "--eval_examples=100", "--calibration_steps=16", "--max_drop=100")


@pytest.fixture(scope="session")
def ekd_export(tmp_path_factory, ekd_run):
    """ekd_run's depths 20 and 32 as int8 files, exported once per session by the export command."""
    def build(out):
        result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", f"--out={out}", *EKD_EXPORT_FLAGS)
        assert result.returncode == 0, result.stderr

    return built_once(tmp_path_factory, "ekd_export", build)


@pytest.fixture(scope="session")
def mode_runs(tmp_path_factory, ekd_run):
    """One tiny run per mode, in the folders ekd, joint and independent."""
    def build(root):
        (root / "ekd").symlink_to(ekd_run)
        for mode in ("joint", "independent"):
            result = _train_tiny(root / mode, mode=mode)
            assert "top1" in result.stdout, "training ends with the evaluation table"
            scored = "  scored depths 20, 32, " if mode == "joint" else "  scored depth 32, "
            assert scored in result.stdout, "evaluation says what it did when output is no terminal"

    return built_once(tmp_path_factory, "mode_runs", build)


def tiny_run_flags(**changes):
    """Command-line flags for the MNIST config with TINY_RUN_OVERRIDES and ``changes``."""
    overrides = {**TINY_RUN_OVERRIDES, **changes}
    return ["--config", str(MNIST_CONFIG), *(f"--config.{key}={value}" for key, value in overrides.items())]


def file_tree(root):
    """Every path under ``root`` with its size (-1 for a folder): equal trees mean nothing was added, removed or resized."""
    return sorted((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*"))


def run_cli(module, *args, timeout=600, env=None, cwd=REPO):
    """Runs ``python -m module args`` (from the repository unless ``cwd``), capturing its output;
    ``env`` adds variables."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd
    )


def assert_matches_schema(name, document):
    """Checks ``document`` against ``docs/schemas/<name>.schema.json``, the one definition of that file's format."""
    import json

    import jsonschema

    schema = json.loads((REPO / "docs" / "schemas" / f"{name}.schema.json").read_text())
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in jsonschema.Draft202012Validator(schema).iter_errors(document)]
    assert not problems, f"not a valid {name}: " + "; ".join(problems[:5])


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]
