"""The commands as a user runs them: export then benchmark, bad input, help, without TensorFlow."""

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY_TFLITE, assert_matches_schema, error_lines, run_cli

from ddnn_tf.runtime import timing

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


# A flag each command's --help must list: its own, not absl's.
OWN_FLAGS = {"train": ("--config", "--workdir"), "evaluate": ("--workdir", "--latency_runs"),
             "export_tflite": ("--depth", "--quantize"), "cascade": ("--max_drop", "--budget_macs"), "benchmark": ("--threads", "--budget_ms"),
             "merge_reports": ("--out",), "launch_local": ("--workers",),
             "serve_benchmark": ("--host", "--port", "--litert_dir")}


def test_export_cli_then_benchmark_cli(ekd_export, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(ekd_export, out)
    files = sorted(out.glob("*.tflite"))
    assert [f.name for f in files] == ["resnet32_depth20_int8.tflite", "resnet32_depth32_int8.tflite"]
    result = run_cli("ddnn_tf.benchmark", *files, "--threads=1,2", "--runs=5", "--budget_ms=1000", "--accuracy",
                     "--eval_examples=50")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "benchmark.json").read_text())
    assert_matches_schema("benchmark", report)
    assert report["schema"] == timing.SCHEMA and report["device"]["kind"] == "host"
    assert [(r["depth"], r["threads"]) for r in report["results"]] == [(20, 1), (20, 2), (32, 1), (32, 2)]
    for r in report["results"]:
        assert 0 < r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["init_ms"] > 0 and 0 <= r["accuracy"] <= 1
    assert report["budget"][0]["depth"] == 32, "a generous budget fits the deepest depth"
    assert "deepest depth 32" in result.stdout
    assert (out / "accuracy_vs_latency.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--depth=18"], "depth '18' is not in resnet32 checkpoint; valid choices: 20, 32, all"),
        (["--quantize=int4"], "unknown quantize mode 'int4'; valid choices: int8, float16, dynamic, float32"),
        (["--checkpoint=/nonexistent/model.keras"], "checkpoint /nonexistent/model.keras does not exist"),
        (["--out=/proc/ddnn_out"], "cannot write to the output directory /proc/ddnn_out"),
        (["--calibration_steps=0"], "--calibration_steps must be at least 1 for int8, got 0"),
        (["--depth=20,20", "--bundle"],
         "depth 20 is listed twice in --depth 20,20; list each depth once (valid choices: 20, 32, all)"),
    ],
)
def test_export_bad_input_is_one_line_and_exit_status_2(ekd_run, tmp_path, args, message):
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", f"--out={tmp_path}/out", "--depth=20", *args)
    assert result.returncode == 2, result.stderr
    assert len(error_lines(result)) == 1 and message in error_lines(result)[0], result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_export_refuses_a_corrupt_checkpoint(ekd_run, tmp_path):
    corrupt = tmp_path / "model.keras"
    corrupt.write_bytes((ekd_run / "model.keras").read_bytes()[:5000])
    result = run_cli("ddnn_tf.export_tflite", f"--workdir={ekd_run}", f"--checkpoint={corrupt}", f"--out={tmp_path}/o")
    assert result.returncode == 2
    assert f"checkpoint {corrupt} is truncated or corrupt: not a complete .keras archive" in error_lines(result)[0]
    assert not (tmp_path / "o").exists(), "nothing is created for a bad checkpoint"


def test_benchmark_bad_input(tmp_path):
    result = run_cli("ddnn_tf.benchmark", tmp_path / "missing.tflite")
    assert result.returncode == 2 and "missing.tflite does not exist" in error_lines(result)[0]
    result = run_cli("ddnn_tf.benchmark", tmp_path)
    assert result.returncode == 2 and error_lines(result) == [
        f"error: {tmp_path} is a directory; pass the .tflite files in it, e.g. {tmp_path}/*.tflite"]
    # A killed export can leave a new .tflite beside the old .json, whose output scale would decode it wrongly.
    mixed = tmp_path / "mixed.tflite"
    mixed.write_bytes(TINY_TFLITE.read_bytes())
    mixed.with_suffix(".json").write_text(json.dumps({"depth": 8, "sha256": hashlib.sha256(b"older").hexdigest()}))
    result = run_cli("ddnn_tf.benchmark", mixed, "--runs=1", f"--out={tmp_path / 'out'}")
    assert result.returncode == 2 and error_lines(result) == [
        f"error: metadata {mixed.with_suffix('.json')} describes another file than mixed.tflite (its sha256 differs): "
        "an export was interrupted or the files were mixed; export them again"], result.stderr
    mixed.with_suffix(".json").write_text(json.dumps({"depth": 8, "sha256": hashlib.sha256(mixed.read_bytes()).hexdigest()}))
    result = run_cli("ddnn_tf.benchmark", mixed, "--runs=1", "--threads=1", f"--out={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer")
    result = run_cli("ddnn_tf.benchmark", junk)
    assert result.returncode == 2 and "is not a valid TFLite file" in error_lines(result)[0]


@pytest.mark.parametrize("flag,message", [
    ("--warmup=-3", "--warmup must be 0 or more untimed runs, got -3"),
    ("--budget_ms=-1", "--budget_ms must be a positive, finite number of milliseconds, got -1.0"),
    ("--budget_ms=0", "--budget_ms must be a positive, finite number of milliseconds, got 0.0"),
    ("--budget_ms=inf", "--budget_ms must be a positive, finite number of milliseconds, got inf"),
    ("--runs=0", "--runs must be at least 1, got 0"),
    ("--threads=1,0", "--threads takes thread counts of 1 or more, got 1,0"),
    ("--threads=", "--threads takes thread counts of 1 or more, got none"),
    ("--threads=two", "--threads takes whole numbers, got two"),
    ("--eval_examples=0", "--eval_examples must be at least 1, got 0"),
])
def test_benchmark_refuses_a_number_its_report_s_schema_would_refuse(tmp_path, flag, message):
    result = run_cli("ddnn_tf.benchmark", TINY_TFLITE, flag, f"--out={tmp_path}")
    assert result.returncode == 2 and error_lines(result) == [f"error: {message}"], result.stderr
    assert not list(tmp_path.iterdir()), "no report"


def test_benchmark_and_merge_reports_run_without_tensorflow(tmp_path):
    result = _run("ddnn_tf.benchmark", TINY_TFLITE, "--threads=1,2", "--runs=20", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert_matches_schema("benchmark", report)
    rows = report["results"]
    assert [row["threads"] for row in rows] == [1, 2]
    assert all(0 < row["median_ms"] <= row["p99_ms"] and row["io_ms"] >= 0 for row in rows)
    result = _run("ddnn_tf.merge_reports", tmp_path / "benchmark.json", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "merged.json").is_file() and "resnet8_width025_int8" in result.stdout


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
        "ddnn-export": "ddnn_tf.export_tflite:command", "ddnn-cascade": "ddnn_tf.cascade:command",
        "ddnn-benchmark": "ddnn_tf.benchmark:command",
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
