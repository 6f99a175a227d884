"""The package as pip installs it: a wheel, its console scripts, run from a folder outside the checkout.

The wheel is built without a build environment and installed with
``--no-deps`` into a folder that comes first on ``PYTHONPATH``; the suite's
own environment supplies TensorFlow and the rest, so nothing is downloaded.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

TINY = ["--config.epochs=1", "--config.data.train_examples=256", "--config.data.validation_examples=256",
        "--config.data.eval_examples=256"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(site folder, working folder)``: the wheel installed into the one, commands run from the other."""
    root = tmp_path_factory.mktemp("installed")
    # Built from a copy of the tracked files: an in-tree build would leave build/ and *.egg-info in the checkout.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0")[:-1]:
        (root / "source" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / "source" / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", root / "wheel",
         root / "source"], capture_output=True, text=True, timeout=600, cwd=root,
    )
    assert build.returncode == 0, build.stderr
    wheel, = (root / "wheel").glob("ddnn_tf-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", root / "site", wheel],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    (root / "work").mkdir()
    return root / "site", root / "work"


def _run(installed, script, *args):
    site, work = installed
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, site / "bin" / script, *map(str, args)] if script else [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, timeout=900)


def test_the_installed_commands_train_export_and_benchmark_from_any_folder(installed):
    site, work = installed
    located = _run(installed, None, "-c", "import ddnn_tf, sys; print(ddnn_tf.__file__); "
                                          "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    assert located.returncode == 0, located.stderr
    assert located.stdout.splitlines() == [str(site / "ddnn_tf" / "__init__.py"), "[]"], "the wheel, loading no TF"
    page = sorted(p.name for p in (site / "ddnn_tf" / "runtime" / "page").iterdir())
    assert page == ["benchmark.js", "index.html", "package.json"], "the browser benchmark's page ships in the wheel"

    trained = _run(installed, "ddnn-train", *TINY, "--workdir", "run")  # no --config: the shipped default
    assert trained.returncode == 0, trained.stderr
    run = json.loads((work / "run" / "run.json").read_text())
    assert run["config"]["model"]["arch"] == "resnet34" and "top1" in trained.stdout

    # A 4-step model's int8 file can lose a few of 200 images: the gate is tests/export's, the plumbing is here.
    exported = _run(installed, "ddnn-export", "--depth", "18", "--workdir", "run", "--eval_examples", "200",
                    "--calibration_steps", "50", "--max_drop", "10")
    assert exported.returncode == 0, exported.stderr
    file = work / "run" / "export" / "resnet34_depth18_int8.tflite"
    assert file.is_file()

    timed = _run(installed, "ddnn-benchmark", file, "--runs", "10", "--threads", "1")
    assert timed.returncode == 0, timed.stderr
    assert json.loads((file.parent / "benchmark.json").read_text())["results"][0]["median_ms"] > 0


def test_the_installed_train_command_takes_every_shipped_config_by_name(installed):
    site, _ = installed
    names = sorted(path.stem for path in (site / "ddnn_tf" / "configs").glob("*.py") if path.stem != "__init__")
    assert names == sorted(path.stem for path in (REPO / "configs").glob("*.py") if path.stem != "__init__")
    listed = _run(installed, "ddnn-train", "--help")
    assert listed.returncode == 0 and all(name in listed.stdout for name in names), listed.stdout
    for name in names:
        # epochs=0 is refused after the named config has loaded and every other key checked.
        result = _run(installed, "ddnn-train", "--config", name, "--config.epochs=0", "--workdir", "never")
        assert result.returncode == 2 and "epochs must be at least 1, got 0" in result.stderr, (name, result.stderr)
    unknown = _run(installed, "ddnn-train", "--config", "mnist_resnet35")
    assert unknown.returncode == 2 and "shipped configs: cifar100_resnet34, cifar10_mobilenetv2, cifar10_resnet20" in unknown.stderr
    assert not (installed[1] / "never").exists()
