"""merge_reports: reports from every device in one table, JSON and plot."""

import json

import pytest
from conftest import MOBILE_TESTDATA, error_lines, load_script, run_cli

from ddnn_tf import errors, files, merge_reports
from ddnn_tf.runtime import timing

parse_benchmark_model = load_script("parse_benchmark_model")


def _android_report():
    parsed = parse_benchmark_model.parse_output((MOBILE_TESTDATA / "benchmark_model_cpu.txt").read_text())
    meta = json.loads((MOBILE_TESTDATA / "resnet32_depth20_int8.json").read_text())
    result = parse_benchmark_model.to_result(parsed, "resnet32_depth20_int8.tflite", "serving_default", 4, meta, 307912)
    measured = {**result, "threads": 1, "median_ms": 5.5, "p90_ms": 6.1, "accuracy": 0.5}
    return {"schema": timing.SCHEMA, "created": "2026-11-25T04:00:00Z",
            "device": {"name": "Pixel 8", "kind": "android", "machine": "arm64-v8a", "system": "Android 15 (API 35)",
                       "runtime": "LiteRT (Android)"},
            "results": [result, measured]}


def test_merge_reports_table_json_and_plot(tmp_path):
    host = MOBILE_TESTDATA / "benchmark_host.json"
    android = tmp_path / "pixel.json"
    files.write_json(android, _android_report())
    lines = "\n".join(merge_reports.merge_files([host, android], tmp_path / "merged")).splitlines()
    assert lines[0].split()[:11] == ["device", "runtime", "file", "depth", "quantize", "thr", "median", "p90", "mean",
                                    "MMACs", "acc"]
    rows = [line for line in lines if line.startswith(("vm ", "Pixel 8 "))]
    assert len(rows) == 6
    assert rows[0].split() == ["vm", "ai_edge_litert", "2.3.0", "(Python)", "resnet32_depth20_int8.tflite", "20",
                               "int8", "1", "0.151", "0.157", "0.153", "40.55", "9.00%*"]
    assert rows[4].split() == ["Pixel", "8", "LiteRT", "(Android)", "resnet32_depth20_int8.tflite", "20", "int8", "4",
                               "-", "-", "4.980", "40.55", "9.00%*"]
    assert rows[5].split()[-5:] == ["5.500", "6.100", "4.980", "40.55", "50.00%"], "a measured accuracy has no star"
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
    # A virtual clock (headless Chromium's --virtual-time-budget) reads 0 for every run.
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [
        {"file": "a", "depth": 20, "quantize": None, "threads": 2, "median_ms": 5.0, "p90_ms": None,
         "accuracy": None, "validated_accuracy": None, "runs": 3, "timings_ms": [0, 0, 0]}]}),
     "results[0].median_ms is 0, which no clock measures"),
    (json.dumps({"schema": "ddnn_tf.benchmark/1", "device": {"name": "x"}, "results": [
        {"file": "a", "depth": 20, "quantize": None, "threads": 2, "median_ms": -1.0, "p90_ms": None,
         "accuracy": None, "validated_accuracy": None}]}), "results[0].median_ms is -1.0, which no clock measures"),
])
def test_merge_reports_refuses_a_bad_report_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(errors.UsageError, match=r"^benchmark report ") as error:
        merge_reports.merge_files([MOBILE_TESTDATA / "benchmark_host.json", path], tmp_path / "out")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_merge_reports_command_line(tmp_path):
    report = tmp_path / "laptop" / "benchmark.json"
    report.parent.mkdir()
    report.write_text((MOBILE_TESTDATA / "benchmark_host.json").read_text())
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
