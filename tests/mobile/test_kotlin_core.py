"""mobile/core on the JVM: its JUnit tests, and the reports, output dequantization and test images it shares with Python.

The Kotlin tests compile mobile/core once per session and need java, kotlinc
($KOTLINC, kotlinc on PATH, or `npm install --prefix mobile kotlin-compiler@2.4.20`)
and the Gson, JUnit 4 and Hamcrest jars in mobile/jars (`make mobile/jars/gson.jar ...`);
without them they skip, saying so (under CI they fail)."""

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess

import numpy as np
import pytest
from conftest import MOBILE, MOBILE_TESTDATA, REPO, assert_matches_schema, load_script

from ddnn_tf import files, merge_reports, runtime
from ddnn_tf.runtime import cascade, timing

CORE = MOBILE / "core"


KOTLIN_INSTALL = "npm install --prefix mobile kotlin-compiler@2.4.20"


# Where the Makefile puts the libraries mobile/core compiles and runs with.
CORE_JARS = [MOBILE / "jars" / f"{name}.jar" for name in ("gson", "junit4", "hamcrest")]


JARS_INSTALL = "make " + " ".join(str(jar.relative_to(REPO)) for jar in CORE_JARS)


parse_benchmark_model = load_script("parse_benchmark_model")


write_test_images = load_script("write_test_images")


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
                          timeout=300, env={**os.environ, "DDNN_TESTDATA": str(MOBILE_TESTDATA)})


def kotlin_tool(jar, *args):
    """The answer of mobile/core's CrossLanguageTool (see its source) as decoded JSON."""
    result = _java(jar, "ddnntf.core.CrossLanguageTool", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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
    single = json.loads((MOBILE_TESTDATA / "resnet32_depth20_int8.json").read_text())
    bundle = json.loads((MOBILE_TESTDATA / "resnet32_bundle_int8.json").read_text())
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


def test_kotlin_core_jvm_tests_pass(kotlin_jar):
    sources = sorted((CORE / "src/test/kotlin/ddnntf/core").glob("*Tests.kt"))
    result = _java(kotlin_jar, "org.junit.runner.JUnitCore", *(f"ddnntf.core.{path.stem}" for path in sources))
    assert result.returncode == 0, result.stdout + result.stderr
    # Every @Test of the sources ran: none of the test classes was left out.
    expected = sum(path.read_text().count("@Test\n") for path in sources)
    assert expected >= 30 and result.stdout.strip().splitlines()[-1] == f"OK ({expected} tests)", result.stdout


def test_report_written_by_python_is_read_and_written_back_by_kotlin(kotlin_jar, monkeypatch, tmp_path):
    report = _host_report(monkeypatch, tmp_path, budget_ms=0.5)
    assert_matches_schema("benchmark", report)
    assert len(report["results"]) == 6 and report["results"][2]["signature"] == "depth_20"
    files.write_json(tmp_path / "python.json", report)
    assert kotlin_tool(kotlin_jar, "roundtrip", tmp_path / "python.json", tmp_path / "kotlin.json") == {"results": 6}
    back = json.loads((tmp_path / "kotlin.json").read_text())
    # Compared as text so that an int written back as a float (50 -> 50.0) would show.
    assert json.dumps(back, sort_keys=True) == json.dumps(report, sort_keys=True)

    # The budget rule: Kotlin's DepthSelection picks what timing.deepest_within picks. A cascade's row, the
    # fastest and costliest here, is no depth: neither may pick it.
    fastest = min(report["results"], key=lambda r: r["median_ms"])
    cascade_row = {**fastest, "file": "cascade.json", "signature": "cascade", "depth": "cascade",
                   "multiply_accumulates": 10**12,
                   "cascade": {"rule": "max_probability", "depths": [20, 32], "thresholds": [0.5],
                               "exit_fractions": [0.5, 0.5]}}
    results = report["results"] + [cascade_row]
    files.write_json(tmp_path / "with_cascade.json", {**report, "results": results})
    medians = sorted({r["median_ms"] for r in results})
    queries = [[budget, threads] for threads in (1, 2, 3)
               for budget in [0.0, medians[0] / 2, *medians, medians[-1] * 2]]
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    picked = kotlin_tool(kotlin_jar, "deepest", tmp_path / "with_cascade.json", tmp_path / "queries.json")
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


def test_dequantization_cases_fixture_is_what_python_computes():
    """mobile/testdata/dequantization_cases.json, which the JVM tests check Kotlin against, holds Python's answers.

    DDNN_WRITE_FIXTURES=1 rewrites it from the current Python code.
    """
    path = MOBILE_TESTDATA / "dequantization_cases.json"
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
    fixture = json.loads((MOBILE_TESTDATA / "dequantization_cases.json").read_text())["cases"]
    cases = fixture + [_random_case(rng, f"random {i}") for i in range(6)]
    (tmp_path / "cases.json").write_text(json.dumps({"cases": cases}))
    for case, kotlin in zip(cases, kotlin_tool(kotlin_jar, "decode", tmp_path / "cases.json")):
        python = python_decode(case)
        assert kotlin["logits"] == python["logits"], case["name"]
        assert kotlin["top1"] == python["top1"], case["name"]


def python_cascade(document, case):
    """What ``ddnn_tf.runtime.cascade`` answers for a case's logits (one list per stage) under ``document``."""
    logits = [np.asarray(stage, np.float32) for stage in case["logits"]]
    scores = {rule: [float(cascade.exit_scores(stage, rule)) for stage in logits] for rule in cascade.RULES}
    thresholds = [stage["threshold"] for stage in document["stages"][:-1]]
    stop = int(cascade.route(np.asarray(scores[document["rule"]])[:, None], thresholds)[0])
    return {"scores": scores, "stage": stop, "label": int(np.argmax(logits[stop]))}


def test_cascade_cases_fixture_is_what_python_computes():
    """mobile/testdata/cascade_cases.json, which the JVM tests check Kotlin's Cascade against, holds Python's answers.

    DDNN_WRITE_FIXTURES=1 rewrites it from the current Python code.
    """
    path = MOBILE_TESTDATA / "cascade_cases.json"
    fixture = json.loads(path.read_text())
    assert_matches_schema("cascade", fixture["cascade"])
    fresh = []
    for case in fixture["cases"]:
        answer = python_cascade(fixture["cascade"], case)
        fresh.append({"name": case["name"], "logits": case["logits"], "expected_scores": answer["scores"],
                      "expected_stage": answer["stage"], "expected_label": answer["label"]})
    if os.environ.get("DDNN_WRITE_FIXTURES") == "1":
        files.write_json(path, {**fixture, "cases": fresh})
        pytest.skip(f"rewrote {path}")
    stale = f"{path} is stale: rerun with DDNN_WRITE_FIXTURES=1 and review the diff"
    # numpy's exp and log differ in the last bit between CPUs' SIMD paths: scores agree to 1e-13, the rest exactly.
    for stored, computed in zip(fixture["cases"], fresh, strict=True):
        assert {**stored, "expected_scores": None} == {**computed, "expected_scores": None}, stale
        for rule, scores in computed["expected_scores"].items():
            np.testing.assert_allclose(stored["expected_scores"][rule], scores, rtol=1e-13, err_msg=stale)
    assert {case["expected_stage"] for case in fresh} == {0, 1}, "the cases stop at both stages"


def test_the_cascade_in_kotlin_answers_as_python_does(kotlin_jar, tmp_path):
    """The same logits, through Kotlin's Cascade and Python's: equal stages and labels, scores to the last bits."""
    fixture = json.loads((MOBILE_TESTDATA / "cascade_cases.json").read_text())
    rng = np.random.default_rng(5)
    cases = fixture["cases"] + [{"name": f"random {i}", "logits": (rng.normal(0, 4, (2, 10))).tolist()}
                                for i in range(20)]
    for rule in cascade.RULES:
        document = {**fixture["cascade"], "rule": rule}
        if rule == "entropy":  # a threshold that splits these cases under this rule too
            document["stages"] = [{**document["stages"][0], "threshold": -1.0}, document["stages"][1]]
        (tmp_path / "cascade.json").write_text(json.dumps(document))
        (tmp_path / "cases.json").write_text(json.dumps({"cases": cases}))
        answers = kotlin_tool(kotlin_jar, "cascade", tmp_path / "cascade.json", tmp_path / "cases.json")
        for case, kotlin in zip(cases, answers, strict=True):
            python = python_cascade(document, case)
            assert (kotlin["stage"], kotlin["label"]) == (python["stage"], python["label"]), (rule, case["name"])
            np.testing.assert_allclose(kotlin["scores"], python["scores"][rule], rtol=1e-13, atol=1e-15)


def test_test_images_for_the_app_are_fed_by_kotlin_as_python_feeds_them(kotlin_jar, tmp_path):
    """The app gives a file the pixels write_test_images stored, as runtime.Runner does on the host."""
    meta = json.loads((MOBILE_TESTDATA / "resnet32_depth20_int8.json").read_text())
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


def test_benchmark_model_report_is_read_and_written_back_by_kotlin(kotlin_jar, tmp_path):
    for name in ("resnet32_depth20_int8", "resnet32_bundle_int8"):
        tflite = tmp_path / f"{name}.tflite"
        tflite.write_bytes(b"\0" * 10)  # the parser reads a .tflite's size and checks its sha256 against the .json
        digest = hashlib.sha256(tflite.read_bytes()).hexdigest()
        sample = (MOBILE_TESTDATA / f"{name}.json").read_text()
        tflite.with_suffix(".json").write_text(re.sub(r'"sha256": "[0-9a-f]{64}"', f'"sha256": "{digest}"', sample))
    runs = tmp_path / "runs.tsv"
    runs.write_text(
        f"{MOBILE_TESTDATA / 'benchmark_model_cpu.txt'}\t{tmp_path / 'resnet32_depth20_int8.tflite'}\t\t2\n"
        f"{MOBILE_TESTDATA / 'benchmark_model_gpu_bundle.txt'}\t{tmp_path / 'resnet32_bundle_int8.tflite'}\tdepth_32\t1\n")
    out = tmp_path / "phone.json"
    assert parse_benchmark_model.main(["--runs", str(runs), "--out", str(out), "--device_name", "Pixel 8"]) == 0
    report = json.loads(out.read_text())
    assert_matches_schema("benchmark", report)
    assert [(r["depth"], r["median_ms"]) for r in report["results"]] == [(20, None), (32, 2.109)]
    assert kotlin_tool(kotlin_jar, "roundtrip", out, tmp_path / "back.json") == {"results": 2}
    assert json.loads((tmp_path / "back.json").read_text()) == report
