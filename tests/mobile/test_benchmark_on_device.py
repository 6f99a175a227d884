"""benchmark_on_device: parsing benchmark_model's output, a fake adb end to end."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import MOBILE, MOBILE_TESTDATA, REPO, assert_matches_schema, load_script

from ddnn_tf.runtime import report as report_format

parse_benchmark_model = load_script("parse_benchmark_model")


def _host_result_keys():
    text = (REPO / "docs" / "benchmark_schema.md").read_text()
    block = text[text.index('"results": ['):text.index('"budget"')]
    return re.findall(r'^\s+"(\w+)":', block, re.MULTILINE)


def _fake_adb(tmp_path):
    """An adb stand-in that answers as one phone and prints a sample benchmark_model output."""
    adb = tmp_path / "adb"
    adb.write_text(r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_ADB_LOG"
[[ "$1" == "-s" ]] && shift 2
case "$1" in
    get-state) echo device ;;
    push) cp "$2" "$FAKE_DEVICE/$(basename "$3")" ;;
    shell)
        command="${*:2}"
        case "$command" in
            "getprop ro.product.model") printf 'Fake Phone 9\r\n' ;;
            "getprop ro.product.cpu.abi") echo arm64-v8a ;;
            "getprop ro.build.version.release") echo 15 ;;
            "getprop ro.build.version.sdk") echo 35 ;;
            *"test -x"*) echo ready ;;
            *"benchmark_model --graph"*) cat "$FAKE_OUTPUT" ;;
        esac ;;
    *) exit 1 ;;
esac
""")
    adb.chmod(0o755)
    return adb


def test_parse_benchmark_model_cpu_output():
    parsed = parse_benchmark_model.parse_output((MOBILE_TESTDATA / "benchmark_model_cpu.txt").read_text())
    assert parsed["init_us"] == 3421 and parsed["first_us"] == 8123 and parsed["inference_avg_us"] == 4980.12
    assert parsed["warmup"]["count"] == 5 and parsed["inference"]["count"] == 50
    timed = parsed["inference"]
    assert (timed["first"], timed["curr"], timed["min"], timed["max"], timed["std"]) == (5011, 4975, 4890, 5302, 71)
    assert (parsed["memory_init_mb"], parsed["memory_overall_mb"], parsed["peak_memory_mb"]) == (2.5, 8.1, 14.6211)
    meta = json.loads((MOBILE_TESTDATA / "resnet32_depth20_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_depth20_int8.tflite", "serving_default", 2, meta, 307912)
    assert result == {
        "file": "resnet32_depth20_int8.tflite", "signature": "serving_default", "depth": 20, "quantize": "int8",
        "threads": 2, "init_ms": 3.421, "first_run_ms": 8.123, "warmup_runs": 4, "runs": 50,
        "median_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": 4.9801, "io_ms": None, "process_peak_rss_mb": 14.6211,
        "file_bytes": 307912, "multiply_accumulates": 40551040, "validated_accuracy": 0.09, "accuracy": None, "timings_ms": None,
    }
    assert list(result) == list(_host_result_keys()), "the schema's fields, in its order"


def test_parse_benchmark_model_bundle_on_gpu_with_percentiles():
    parsed = parse_benchmark_model.parse_output((MOBILE_TESTDATA / "benchmark_model_gpu_bundle.txt").read_text())
    assert parsed["inference"]["median"] == 2109 and parsed["inference"]["p95"] == 2480
    assert parsed["peak_memory_mb"] is None
    bundle = json.loads((MOBILE_TESTDATA / "resnet32_bundle_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_bundle_int8.tflite", "depth_32", 1, bundle, 631608)
    assert result["depth"] == 32 and result["median_ms"] == 2.109 and result["mean_ms"] == 2.1406
    assert result["multiply_accumulates"] == bundle["signatures"]["depth_32"]["multiply_accumulates"]
    assert result["p90_ms"] is None and result["process_peak_rss_mb"] is None


def test_parse_benchmark_model_failures_and_equal_timings():
    failure = parse_benchmark_model.BenchmarkOutputError
    with pytest.raises(failure, match="did not finish: ERROR: Failed to apply GPU delegate"):
        parse_benchmark_model.parse_output((MOBILE_TESTDATA / "benchmark_model_gpu_failed.txt").read_text())
    with pytest.raises(failure, match="no 'Inference timings in us' line"):
        parse_benchmark_model.parse_output("")
    same = (MOBILE_TESTDATA / "benchmark_model_cpu.txt").read_text().replace(
        "count=50 first=5011 curr=4975 min=4890 max=5302 avg=4980.12 std=71", "count=50 curr=5000(all same)")
    parsed = parse_benchmark_model.parse_output(same)
    result = parse_benchmark_model.to_result(parsed, "x.tflite", "serving_default", 1, None, 1)
    assert result["median_ms"] == result["p90_ms"] == result["p99_ms"] == 5.0 and result["depth"] is None


def _copy_metadata_for(sample, tflite):
    """A sample .json beside ``tflite``, its sha256 made the file's: the metadata of that file."""
    digest = hashlib.sha256(tflite.read_bytes()).hexdigest()
    text = re.sub(r'"sha256": "[0-9a-f]{64}"', f'"sha256": "{digest}"', sample.read_text())
    tflite.with_suffix(".json").write_text(text)


def test_a_json_written_for_another_file_is_refused(tmp_path):
    """A killed export can leave a new .tflite beside the old .json: its depth and cost would label the wrong file."""
    tflite = tmp_path / "resnet32_depth20_int8.tflite"
    tflite.write_bytes(b"\0" * 100)
    shutil.copy(MOBILE_TESTDATA / "resnet32_depth20_int8.json", tmp_path)  # the sample's sha256 is another file's
    runs = [(MOBILE_TESTDATA / "benchmark_model_cpu.txt", tflite, "serving_default", 1)]
    with pytest.raises(ValueError, match="resnet32_depth20_int8.json describes another file than "
                                         "resnet32_depth20_int8.tflite"):
        parse_benchmark_model.build_report(runs, {"name": "phone", "kind": "android"})
    _copy_metadata_for(MOBILE_TESTDATA / "resnet32_depth20_int8.json", tflite)
    report = parse_benchmark_model.build_report(runs, {"name": "phone", "kind": "android"})
    assert report["results"][0]["depth"] == 20


@pytest.mark.parametrize("text, problem", [('{"depth": ', "unreadable JSON"), ("[1, 2]", "a JSON object")])
def test_a_corrupt_json_beside_the_file_is_one_error_naming_it(tmp_path, capsys, text, problem):
    tflite = tmp_path / "resnet32_depth20_int8.tflite"
    tflite.write_bytes(b"\0" * 100)
    tflite.with_suffix(".json").write_text(text)
    runs = tmp_path / "runs.tsv"
    runs.write_text(f"{MOBILE_TESTDATA / 'benchmark_model_cpu.txt'}\t{tflite}\tserving_default\t1\n")
    out = tmp_path / "benchmark.json"
    assert parse_benchmark_model.main(["--runs", str(runs), "--out", str(out), "--device_name", "phone"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tflite.with_suffix('.json')} is not an export's metadata") and problem in error
    assert error.count("\n") == 1 and not out.exists()


def test_benchmark_on_device_script_end_to_end_with_a_fake_adb(tmp_path):
    script = MOBILE / "benchmark_on_device.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: mobile/benchmark_on_device.sh")
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    for name in ("resnet32_depth20_int8", "resnet32_bundle_int8"):
        (export_dir / f"{name}.tflite").write_bytes(b"\0" * 100)
        _copy_metadata_for(MOBILE_TESTDATA / f"{name}.json", export_dir / f"{name}.tflite")
    files = [str(export_dir / "resnet32_depth20_int8.tflite"), str(export_dir / "resnet32_bundle_int8.tflite")]

    no_adb = subprocess.run([str(script), *files], capture_output=True, text=True,
                            env={**os.environ, "ADB": str(tmp_path / "no-adb")})
    assert no_adb.returncode == 2 and len(no_adb.stderr.splitlines()) == 1
    assert no_adb.stderr.startswith("error: adb not found")

    (tmp_path / "device").mkdir()
    env = {**os.environ, "ADB": str(_fake_adb(tmp_path)), "FAKE_ADB_LOG": str(tmp_path / "adb.log"),
           "FAKE_DEVICE": str(tmp_path / "device"), "FAKE_OUTPUT": str(MOBILE_TESTDATA / "benchmark_model_cpu.txt"),
           "PYTHON": sys.executable}
    out = tmp_path / "phone.json"
    result = subprocess.run([str(script), "--threads", "1,4", "--runs", "50", "--warmup", "4", "--serial", "XYZ",
                             "--out", str(out), *files], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "adb.log").read_text().splitlines()
    assert all(call.startswith("-s XYZ ") for call in calls)
    runs = [call for call in calls if "benchmark_model --graph" in call]
    assert len(runs) == 6, "one file and two bundle signatures, at 1 and 4 threads"
    assert all("--num_runs=50" in run and "--warmup_runs=5" in run and "--use_xnnpack=true" in run for run in runs)
    assert sum("--signature_to_run_for='depth_32'" in run for run in runs) == 2
    pushed = sorted(f"{name}.{suffix}" for name in ("resnet32_depth20_int8", "resnet32_bundle_int8")
                    for suffix in ("tflite", "json"))
    assert sorted(os.listdir(tmp_path / "device")) == pushed
    report = json.loads(out.read_text())
    assert_matches_schema("benchmark", report)
    assert report["device"] == {"name": "Fake Phone 9", "kind": "android", "machine": "arm64-v8a",
                                "system": "Android 15 (API 35)",
                                "runtime": "benchmark_model (TFLite benchmark tool), CPU (XNNPACK)"}
    assert [(r["signature"], r["threads"], r["depth"]) for r in report["results"]] == [
        ("serving_default", 1, 20), ("serving_default", 4, 20), ("depth_20", 1, 20), ("depth_20", 4, 20),
        ("depth_32", 1, 32), ("depth_32", 4, 32)]
    assert (tmp_path / "phone_logs" / "resnet32_bundle_int8_depth_32_t4_cpu.txt").is_file()
    assert report_format.read(out) == report, "a report merge_reports takes"

    # A .tflite beside a .json written for another file: refused before the device is asked for anything.
    (tmp_path / "adb.log").unlink()
    shutil.rmtree(tmp_path / "device")
    (tmp_path / "device").mkdir()
    (export_dir / "resnet32_bundle_int8.tflite").write_bytes(b"\1" * 100)
    mixed = subprocess.run([str(script), "--out", str(tmp_path / "mixed.json"), *files], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert mixed.returncode == 2 and mixed.stderr == (
        f"error: {export_dir / 'resnet32_bundle_int8.json'} describes another file than resnet32_bundle_int8.tflite "
        "(its sha256 differs): an export was interrupted or the files were mixed; export them again\n")
    assert not (tmp_path / "adb.log").exists() and not os.listdir(tmp_path / "device"), "nothing pushed"
    assert not (tmp_path / "mixed.json").exists()

    env["FAKE_OUTPUT"] = str(MOBILE_TESTDATA / "benchmark_model_gpu_failed.txt")
    failed = subprocess.run([str(script), "--gpu", "--out", str(tmp_path / "gpu.json"), files[0]],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1
    assert "benchmark_model failed on resnet32_depth20_int8.tflite" in failed.stderr
    assert "Failed to apply GPU delegate" in failed.stderr and not (tmp_path / "gpu.json").exists()
