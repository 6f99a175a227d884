"""The edge-board path: the LiteRT runtime, the benchmark and the report merger without TensorFlow or Keras."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, assert_matches_schema

TINY_FILE = REPO / "tests" / "data" / "resnet8_width025_int8.tflite"  # an untrained ResNet-8 at width 0.25, int8
# Run a module as `python -m` would, with TensorFlow and Keras made unimportable.
WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None
sys.modules["keras"] = None
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _run(*args):
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})


def test_benchmark_and_merge_reports_run_without_tensorflow(tmp_path):
    result = _run("ddnn_tf.benchmark", TINY_FILE, "--threads=1,2", "--runs=20", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert_matches_schema("benchmark", report)
    rows = report["results"]
    assert [row["threads"] for row in rows] == [1, 2]
    assert all(0 < row["median_ms"] <= row["p99_ms"] and row["io_ms"] >= 0 for row in rows)
    result = _run("ddnn_tf.merge_reports", tmp_path / "benchmark.json", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "merged.json").is_file() and "resnet8_width025_int8" in result.stdout


# A flag each command's --help must list: its own, not absl's.
OWN_FLAGS = {"train": ("--config", "--workdir"), "evaluate": ("--workdir", "--latency_runs"),
             "export_tflite": ("--depth", "--quantize"), "benchmark": ("--threads", "--budget_ms"),
             "merge_reports": ("--out",), "launch_local": ("--workers",),
             "serve_benchmark": ("--host", "--port", "--litert_dir")}


def test_every_command_prints_its_own_flags_for_help_without_tensorflow():
    for module, own in OWN_FLAGS.items():
        result = _run(f"ddnn_tf.{module}", "--help")
        assert result.returncode == 0 and "Traceback" not in result.stderr, (module, result.stderr)
        assert all(flag in result.stdout for flag in own), (module, result.stdout)
    # The console script too: absl alone would list no flags and exit with status 1.
    result = subprocess.run([Path(sys.executable).parent / "ddnn-train", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "--config" in result.stdout and "--workdir" in result.stdout, result.stdout


def test_console_scripts_are_the_python_m_commands():
    scripts = {ep.name: ep for ep in importlib.metadata.distribution("ddnn_tf").entry_points
               if ep.group == "console_scripts"}
    assert {name: ep.value for name, ep in scripts.items()} == {
        "ddnn-train": "ddnn_tf.train:command", "ddnn-evaluate": "ddnn_tf.evaluate:command",
        "ddnn-export": "ddnn_tf.export_tflite:command", "ddnn-benchmark": "ddnn_tf.benchmark:command",
        "ddnn-merge-reports": "ddnn_tf.merge_reports:command",
        "ddnn-serve-benchmark": "ddnn_tf.serve_benchmark:command"}
    result = subprocess.run([Path(sys.executable).parent / "ddnn-merge-reports"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: pass one or more benchmark reports")


def test_importing_the_package_loads_neither_tensorflow_nor_keras():
    code = "import sys, ddnn_tf, ddnn_tf.runtime, ddnn_tf.runtime.timing; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_saved_ddnn_loads_with_plain_keras_after_import_ddnn_tf(tmp_path):
    saved = tmp_path / "tiny.keras"
    make = f"import ddnn_tf; ddnn_tf.build_ddnn('resnet8', 10, (32, 32, 3), width=0.25).save({str(saved)!r})"
    assert subprocess.run([sys.executable, "-c", make], cwd=REPO, timeout=300).returncode == 0
    for imports in ("import ddnn_tf, keras", "import keras, ddnn_tf"):  # either order registers the models
        code = f"{imports}; print(type(keras.models.load_model({str(saved)!r})).__name__)"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "DDNN"
