"""Calibrating a cascade over a tiny run's int8 files, running it, benchmarking it, and the input it refuses."""

import json
import shutil

import numpy as np
import pytest
from conftest import assert_matches_schema, error_lines, file_tree, run_cli

from ddnn_tf.export import cascade as calibration
from ddnn_tf import errors, merge_reports
from ddnn_tf.data import pipeline
from ddnn_tf.run import Run
from ddnn_tf.runtime import cascade, timing


def _macs(folder):
    return {json.loads(path.read_text())["depth"]: json.loads(path.read_text())["multiply_accumulates"]
            for path in sorted(folder.glob("*_depth*_int8.json"))}


@pytest.fixture(scope="module")
def budget(ekd_export):
    """Halfway between depth 20 alone and depth 32 alone: room for a cascade, not for depth 32."""
    macs = _macs(ekd_export)
    return (macs[20] + macs[32]) / 2


@pytest.fixture(scope="module")
def calibrated(ekd_run, ekd_export, budget, tmp_path_factory):
    """A copy of ekd_export with the cascade.json the command writes for ``budget``."""
    out = tmp_path_factory.mktemp("calibrated") / "export"
    shutil.copytree(ekd_export, out)
    result = run_cli("ddnn_tf.cascade", f"--workdir={ekd_run}", f"--export_dir={out}", f"--budget_macs={budget}")
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out / 'cascade.json'}" in result.stdout and "answers" in result.stdout
    return out


def _validation(run):
    _, validation, _ = run.datasets(role="validation")
    images, labels = pipeline.take_examples(validation, 10_000)
    return images.astype(np.uint8), labels


def test_the_cascade_runs_as_it_was_calibrated_and_within_its_budget(ekd_run, calibrated, budget):
    document = json.loads((calibrated / "cascade.json").read_text())
    assert_matches_schema("cascade", document)
    assert [stage["depth"] for stage in document["stages"]] == [20, 32], "a budget below depth 32 alone"
    assert document["target"] == {"budget_macs": budget} and document["measured"]["images"] == "validation"
    measured = document["measured"]
    assert measured["multiply_accumulates"] <= budget and 0 < measured["exit_fractions"][0] < 1
    # The runtime, on the images the thresholds were chosen on, answers as the sweep counted.
    runner = cascade.Cascade(calibrated / "cascade.json")
    images, labels = _validation(Run.open(ekd_run))
    decisions = [runner(image) for image in images]
    assert measured["examples"] == len(labels)
    assert np.mean([d.label for d in decisions] == labels) == pytest.approx(measured["top1"], abs=1e-12)
    assert np.mean([d.depth == 20 for d in decisions]) == pytest.approx(measured["exit_fractions"][0], abs=1e-12)
    assert all(d.milliseconds > 0 for d in decisions)
    # Each decision is the file's own answer at the depth it stopped at.
    logits = runner.logits(images[0])
    assert decisions[0].label == int(np.argmax(logits[decisions[0].stage]))


def test_the_thresholds_come_from_the_validation_images_alone(ekd_run, ekd_export, budget, monkeypatch):
    run = Run.open(ekd_run)
    target = cascade.Target(budget_macs=budget)
    before = calibration.calibrate(run, ekd_export, "int8", target)
    roles = []
    real = Run.datasets

    def other_test_split(self, role="eval"):
        roles.append(role)
        train, held_out, info = real(self, role)
        if role != "validation":  # another test split: its images reversed left to right and its labels rolled
            held_out = held_out.map(lambda x, y: (x[:, :, ::-1], (y + 1) % 10))
        return train, held_out, info

    loaded = []
    real_load = pipeline.load_stored

    def load_stored(config, seed, role="eval", **kwargs):
        loaded.append(role)
        return real_load(config, seed, role, **kwargs)

    monkeypatch.setattr(Run, "datasets", other_test_split)
    monkeypatch.setattr(pipeline, "load_stored", load_stored)
    after = calibration.calibrate(run, ekd_export, "int8", target)
    assert roles == ["validation"] and loaded == ["validation"], "calibration reads no other split"
    assert [s["threshold"] for s in after["stages"]] == [s["threshold"] for s in before["stages"]]
    assert after["measured"] == before["measured"]


def test_the_benchmark_times_the_cascade_beside_each_depth_on_the_test_images(calibrated, tmp_path):
    result = run_cli("ddnn_tf.benchmark", "--cascade", calibrated / "cascade.json", "--threads=1", "--runs=5",
                     "--eval_examples=60", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert_matches_schema("benchmark", report)
    rows = {row["depth"]: row for row in report["results"]}
    assert list(rows) == [20, 32, "cascade"]
    row = rows["cascade"]
    assert row["runs"] == len(row["timings_ms"]) == 60, "one timing per test image"
    assert rows[20]["multiply_accumulates"] < row["multiply_accumulates"] < \
        rows[20]["multiply_accumulates"] + rows[32]["multiply_accumulates"]
    assert all(0 <= rows[depth]["accuracy"] <= 1 for depth in rows), "every row scored on the test images"
    assert row["cascade"]["depths"] == [20, 32] and sum(row["cascade"]["exit_fractions"]) == pytest.approx(1)
    # Scored on the first 60 test images: what the runtime answers on them.
    images, labels = timing._held_out(json.loads((calibrated / "resnet32_depth20_int8.json").read_text()), 60)
    decisions = [cascade.Cascade(calibrated / "cascade.json")(image) for image in images.astype(np.uint8)]
    assert row["accuracy"] == pytest.approx(np.mean([d.label for d in decisions] == labels), abs=1e-12)
    assert row["cascade"]["exit_fractions"][0] == pytest.approx(np.mean([d.stage == 0 for d in decisions]), abs=1e-12)
    assert "answered" in result.stdout and "cascade" in result.stdout
    merged = merge_reports.format_table(merge_reports.merge([report], [tmp_path / "benchmark.json"])["results"])
    cascade_line = next(line for line in merged.splitlines() if " cascade " in line)
    assert f"{100 * row['accuracy']:.2f}%" in cascade_line and f"{row['multiply_accumulates'] / 1e6:.2f}" in cascade_line


def test_a_cascade_whose_files_changed_is_refused(calibrated, tmp_path):
    changed = tmp_path / "export"
    shutil.copytree(calibrated, changed)
    document = json.loads((changed / "cascade.json").read_text())
    document["stages"][0]["sha256"] = "0" * 64  # calibrated on other bytes than the folder holds
    (changed / "cascade.json").write_text(json.dumps(document))
    with pytest.raises(errors.UsageError, match="was calibrated for another resnet32_depth20_int8.tflite"):
        cascade.Cascade(changed / "cascade.json")
    before = file_tree(changed)
    result = run_cli("ddnn_tf.benchmark", "--cascade", changed / "cascade.json", "--runs=2")
    assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr
    assert "calibrated for another resnet32_depth20_int8.tflite" in error_lines(result)[0]
    assert file_tree(changed) == before


def _one_depth(folder):
    for path in folder.glob("*depth32*"):
        path.unlink()


def _two_runs(folder):
    meta_path = folder / "resnet32_depth32_int8.json"
    meta = json.loads(meta_path.read_text())
    meta["run_config_sha256"] = "f" * 64
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize("flags,change,message", [
    (["--budget_macs=1000"], None, "no cascade of these files meets --budget_macs 1,000: the cheapest file alone "
                                   "costs"),
    (["--max_drop=1"], _one_depth, "holds 1 int8 depth file(s) (resnet32_depth20_int8.tflite); a cascade needs two"),
    (["--max_drop=1"], _two_runs, "resnet32_depth20_int8.tflite and resnet32_depth32_int8.tflite in"),
    (["--max_drop=1", "--budget_macs=5"], None, "name one target: --max_drop"),
    ([], None, "name one target"),
    (["--max_drop=-1"], None, "--max_drop must be at least 0"),
    (["--max_drop=1", "--rule=margin"], None, "unknown rule 'margin'; valid choices: max_probability, entropy"),
    (["--max_drop=1", "--quantize=int4"], None, "unknown quantize mode 'int4'; valid choices: int8"),
], ids=["budget too small", "one depth", "two runs", "two targets", "no target", "negative drop", "bad rule",
        "bad quantize"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(ekd_run, ekd_export, tmp_path, flags, change, message):
    out = tmp_path / "export"
    shutil.copytree(ekd_export, out)
    if change:
        change(out)
    before = file_tree(out)
    result = run_cli("ddnn_tf.cascade", f"--workdir={ekd_run}", f"--export_dir={out}", *flags)
    assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr
    assert message in error_lines(result)[0], error_lines(result)
    assert file_tree(out) == before


def test_a_missing_export_folder_is_named_and_not_created(ekd_run, tmp_path):
    result = run_cli("ddnn_tf.cascade", f"--workdir={ekd_run}", f"--export_dir={tmp_path}/none", "--max_drop=1")
    assert result.returncode == 2 and f"export folder {tmp_path}/none does not exist" in error_lines(result)[0]
    assert not (tmp_path / "none").exists()
