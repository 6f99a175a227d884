"""TensorFlow's native start-up chatter stays out of the terminal; real errors do not."""

import subprocess
import sys

import pytest
from conftest import REPO

from ddnn_tf import startup

SEEN_ON_A_CPU_MACHINE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796151582.421071    9539 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796151582.421396    9539 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    "E0000 00:00:1796151589.964003    9545 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
]
REAL = [
    "E0000 00:00:1796151589.964003    9545 op_kernel.cc:1830] OP_REQUIRES failed: out of memory",
    "Traceback (most recent call last):",
    "error: data.batch_size must be at least 1, got 0",
]


@pytest.mark.parametrize("line", SEEN_ON_A_CPU_MACHINE)
def test_start_up_chatter_is_noise(line):
    assert startup.is_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_real_errors_are_kept(line):
    assert not startup.is_noise(line)


def test_importing_the_package_prints_no_native_chatter(tmp_path):
    # No TF_CPP_MIN_LOG_LEVEL: what a user who never heard of it sees. A home of its own: Keras and
    # matplotlib write their caches there.
    code = "import ddnn_tf, tensorflow as tf, sys; tf.constant(1.0) + 1; print('error: kept', file=sys.stderr)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == ["error: kept"], result.stderr


def test_conversion_prints_only_what_matters(capfd):
    import numpy as np

    import ddnn_tf
    from ddnn_tf.export import convert

    model = ddnn_tf.build_ddnn("resnet8", 10, (32, 32, 3), width=0.25, pixel_mean=[0.5] * 3, pixel_std=[0.25] * 3)
    capfd.readouterr()
    convert.convert_depth(model, 8, "int8", np.zeros((4, 32, 32, 3), np.uint8))
    captured = capfd.readouterr()
    assert captured.out == ""
    assert [line for line in captured.err.splitlines() if line.strip()] == [], captured.err
