"""Shared fixtures. One pytest process: importing TensorFlow costs seconds."""

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

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import ddnn_tf  # noqa: E402
from ddnn_tf.config import load as load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MNIST_CONFIG = REPO / "configs" / "mnist_resnet56.py"
# A training run small enough for tests: ResNet-32 holding ResNet-20.
TINY_RUN_OVERRIDES = {"model.arch": "resnet32", "data.train_examples": 1024, "data.eval_examples": 500,
                      "data.validation_examples": 500}

# A DDNN small enough to train in seconds: ResNet-20 holding depths 8 and 14.
TINY_ARCH = "resnet20"
TINY_DEPTHS = {8: (1, 1, 1), 14: (2, 2, 2)}


def build_tiny(**options):
    return ddnn_tf.build_ddnn(TINY_ARCH, 10, (32, 32, 3), depths=TINY_DEPTHS, **options)


def ekd_terms(model, outputs, labels):
    """Every term of the model's objective on ``outputs`` (``run_depths``), with no schedule."""
    return model.objective.terms(outputs, labels, model.full_depth, model.num_classes)


@pytest.fixture(scope="session")
def mnist_batch():
    """One fixed batch of 32 real test digits."""
    return next(iter(ddnn_tf.data.mnist("test", batch_size=32)))


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)


def tiny_run_config(**changes):
    """The MNIST config with TINY_RUN_OVERRIDES and ``changes`` ("data.batch_size": 64, ...)."""
    return load_config(MNIST_CONFIG, {**TINY_RUN_OVERRIDES, **changes})


@pytest.fixture(scope="session")
def ekd_run(tmp_path_factory):
    """A workdir holding a finished tiny EKD run on real MNIST, trained through the CLI."""
    workdir = tmp_path_factory.mktemp("ekd_run")
    result = run_cli("ddnn_tf.train", *tiny_run_flags(), f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr
    return workdir


def tiny_run_flags(**changes):
    """Command-line flags for the MNIST config with TINY_RUN_OVERRIDES and ``changes``."""
    overrides = {**TINY_RUN_OVERRIDES, **changes}
    return ["--config", str(MNIST_CONFIG), *(f"--config.{key}={value}" for key, value in overrides.items())]


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
