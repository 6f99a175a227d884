"""The studies: their arms are valid runs differing only where they say, their statistics, how runs are started."""

import argparse
import json
import shutil
import subprocess
import sys
import time

import pytest
from conftest import REPO, load_script

from ddnn_tf import config as config_module

BENCH = REPO / "bench"
reproduction = load_script("reproduction", BENCH)
ekd_study = load_script("ekd_study", BENCH)
sys.modules["ekd_study"] = ekd_study  # what cifar10_study imports, as it does when bench/ runs it
cifar10_study = load_script("cifar10_study", BENCH)


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("variant", list(reproduction.VARIANTS))
def test_each_variant_changes_only_its_overrides(variant):
    config = reproduction.study_config(variant, seed=3, train_examples=500, epochs=2)
    config_module.check(config)
    baseline = reproduction.study_config("ekd", seed=3, train_examples=500, epochs=2)
    before, after = _flatten(baseline.to_dict()), _flatten(config.to_dict())
    changed = {key: value for key, value in after.items() if before[key] != value}
    assert changed == reproduction.VARIANTS[variant]
    assert (config.seed, config.epochs, config.data.train_examples) == (3, 2, 500)


@pytest.mark.parametrize("arm", list(ekd_study.ALL_ARMS))
def test_each_study_arm_is_a_valid_run_differing_only_in_its_overrides(arm):
    from ddnn_tf.config import load as load_config

    config = load_config(ekd_study.CONFIG, {"seed": 4, **ekd_study.ALL_ARMS[arm]})
    config_module.check(config)
    before = _flatten(load_config(ekd_study.CONFIG).to_dict())
    changed = {key: value for key, value in _flatten(config.to_dict()).items() if before[key] != value}
    assert changed == {"seed": 4, **ekd_study.ALL_ARMS[arm]}


def test_paired_differences_give_the_t_interval_and_p_value():
    # Differences 1, 2, 3: mean 2, standard error 1/sqrt(3), t(2) 97.5 % quantile 4.3027.
    result = ekd_study.paired([0.01, 0.02, 0.03])
    assert result["n"] == 3
    assert result["mean"] == pytest.approx(0.02)
    assert result["ci"] == pytest.approx([0.02 - 4.302653 * 0.01 / 3**0.5, 0.02 + 4.302653 * 0.01 / 3**0.5])
    # t = 2 sqrt(3) on 2 degrees of freedom, whose tail is 1/2 (1 - t / sqrt(t^2 + 2)).
    t = 2 * 3**0.5
    assert result["p"] == pytest.approx(1 - t / (t**2 + 2) ** 0.5)


@pytest.mark.parametrize(
    "shallow,full,room,expected",
    [
        ({"mean": 0.004, "ci": [0.001, 0.007]}, {"mean": -0.001}, 0.01, "confirmed"),
        ({"mean": 0.004, "ci": [0.001, 0.007]}, {"mean": -0.002}, 0.01, "inconclusive"),  # the full net lost too much
        ({"mean": -0.004, "ci": [-0.007, 0.0005]}, {"mean": 0.0}, 0.01, "refuted"),
        ({"mean": -0.004, "ci": [-0.007, 0.0005]}, {"mean": 0.0}, 0.002, "inconclusive"),  # nothing to transfer
        ({"mean": 0.0, "ci": [-0.003, 0.003]}, {"mean": 0.0}, 0.01, "inconclusive"),
    ],
)
def test_decision_rule(shallow, full, room, expected):
    assert ekd_study.verdict(shallow, full, room) == expected


def test_the_shipped_defaults_are_the_study_s_best_recipe_on_validation():
    """Item 7 of the EKD issue: the defaults follow bench/results/ekd_study.json, chosen on validation digits."""
    import json

    from conftest import build_tiny

    from ddnn_tf.config import base_config, load

    study = json.loads((REPO / "bench" / "results" / "ekd_study.json").read_text())
    chosen = load(ekd_study.CONFIG, ekd_study.ALL_ARMS[study["default_on_validation"]])
    shipped = base_config()
    assert shipped.mode == chosen.mode
    if chosen.mode == "ekd":
        assert shipped.ekd.to_dict() == chosen.ekd.to_dict()
    model = build_tiny()
    distils = (model.objective.kd_weight, model.objective.at_weight) != (0.0, 0.0)
    assert distils == (chosen.mode == "ekd"), "DDNN's own defaults train as the chosen recipe does"


def test_run_all_starts_a_process_per_run_without_a_record_and_reports_each(tmp_path, monkeypatch, capsys):
    started = []

    class Finished:
        returncode = 0

        def __init__(self, command, **options):
            started.append((command, options["env"]["TF_NUM_INTRAOP_THREADS"]))

        def poll(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Finished)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    args = argparse.Namespace(records=str(tmp_path / "records"), root=str(tmp_path / "root"), jobs=2,
                              archive=tmp_path / "cifar.tar.xz")
    (tmp_path / "records" / "runs").mkdir(parents=True)
    (tmp_path / "records" / "runs" / "joint_seed0.json").write_text("{}")
    cifar10_study.run_all([("joint", 0), ("paper", 0), ("joint", 1)], args)
    flags = ["--root", args.root, "--records", args.records, "--archive", str(args.archive)]
    assert started == [([sys.executable, cifar10_study.__file__, "run", "paper", "0", *flags], "1"),
                       ([sys.executable, cifar10_study.__file__, "run", "joint", "1", *flags], "1")]
    out = capsys.readouterr().out
    assert out.startswith("1 of 3 runs have records; training 2") and "paper_seed0: done" in out


def test_the_cifar10_pilot_s_decisions_follow_from_its_committed_records(tmp_path, monkeypatch, capsys):
    """The committed pilot summary is what ``pilot`` computes from the committed records, training nothing."""
    monkeypatch.setattr(subprocess, "Popen", None)  # a record missing would mean training: fail instead
    records = tmp_path / "cifar10_study"
    shutil.copytree(REPO / "bench" / "results" / "cifar10_study" / "runs", records / "runs")
    args = argparse.Namespace(records=str(records), root=str(tmp_path / "root"), jobs=2, archive=tmp_path / "unused")
    cifar10_study.pilot(args)
    assert capsys.readouterr().out.startswith(f"{len(cifar10_study.PILOT)} of {len(cifar10_study.PILOT)} runs have records")
    computed = json.loads((tmp_path / "cifar10_study_pilot.json").read_text())
    committed = json.loads((REPO / "bench" / "results" / "cifar10_study_pilot.json").read_text())
    assert computed == committed
    sd = committed["sd_difference_assumed"]
    seeds = committed["seeds"]
    assert cifar10_study.power_of(seeds, sd) >= 0.8 > cifar10_study.power_of(seeds - 1, sd)


def test_the_cifar10_study_s_summary_follows_from_its_committed_records(tmp_path, monkeypatch, capsys):
    """The committed study summary is what ``study --no_train`` computes from the committed records."""
    monkeypatch.setattr(subprocess, "Popen", None)
    records = tmp_path / "cifar10_study"
    shutil.copytree(REPO / "bench" / "results" / "cifar10_study" / "runs", records / "runs")
    committed = json.loads((REPO / "bench" / "results" / "cifar10_study.json").read_text())
    pilot = json.loads((REPO / "bench" / "results" / "cifar10_study_pilot.json").read_text())
    assert list(committed["arms"]) == pilot["arms"] and len(committed["seeds"]) == pilot["seeds"]
    args = argparse.Namespace(records=str(records), seeds=",".join(map(str, committed["seeds_planned"])),
                              arms=",".join(committed["arms"]), variant=None, train=False)
    cifar10_study.study(args)
    assert json.loads((tmp_path / "cifar10_study.json").read_text()) == committed


def test_the_attribution_summary_follows_from_its_committed_records(tmp_path, monkeypatch):
    """The committed Part A summary is what ``part_a --no_train`` computes from the committed records."""
    monkeypatch.setattr(subprocess, "Popen", None)
    results = REPO / "bench" / "results"
    records = tmp_path / "cifar10_attribution"
    shutil.copytree(results / "cifar10_attribution" / "runs", records / "runs")
    shutil.copy(results / "cifar10_attribution_pilot.json", tmp_path / "cifar10_attribution_pilot.json")
    cifar10_attribution.part_a(argparse.Namespace(records=str(records), train=False))
    committed = json.loads((results / "cifar10_attribution_part_a.json").read_text())
    assert json.loads((tmp_path / "cifar10_attribution_part_a.json").read_text()) == committed
    assert (tmp_path / "cifar10_attribution_part_a.png").stat().st_size > 0


def test_the_cifar10_config_trains_the_one_model_arm_best_on_validation():
    from ddnn_tf.config import load

    study = json.loads((REPO / "bench" / "results" / "cifar10_study.json").read_text())
    chosen = load(cifar10_study.CONFIG, cifar10_study.ALL_ARMS[study["one_model_choice_on_validation"]["best"]])
    shipped = load(cifar10_study.CONFIG)
    assert (shipped.mode, shipped.ekd.to_dict()) == (chosen.mode, chosen.ekd.to_dict())


sys.modules["cifar10_study"] = cifar10_study  # what cifar10_attribution imports
cifar10_attribution = load_script("cifar10_attribution", BENCH)


@pytest.mark.parametrize("arm", [*cifar10_attribution.ARMS, "kl_only_30ep"])
def test_each_attribution_arm_is_a_valid_run_differing_only_in_its_overrides(arm, tmp_path):
    from ddnn_tf.config import load as load_config

    overrides = cifar10_attribution.overrides_of(arm)
    (tmp_path / "cifar10.tar.xz").touch()  # the check asks only that the archive exists
    archive = {"data.archive": str(tmp_path / "cifar10.tar.xz")}
    config = load_config(cifar10_study.CONFIG, {"seed": 5, **archive, **overrides})
    config_module.check(config)
    before = _flatten(load_config(cifar10_study.CONFIG, archive).to_dict())
    changed = {key: value for key, value in _flatten(config.to_dict()).items() if before[key] != value}
    assert changed == {"seed": 5, **{key: value for key, value in overrides.items() if before[key] != value}}
    assert (config.epochs == 30) == arm.endswith("_30ep")


def _ci(low, high):
    return {"mean": (low + high) / 2, "ci": [low, high], "n": 8}


@pytest.mark.parametrize("shallowest, full, expected", [
    ((0.001, 0.02), (-0.004, 0.01), "confirmed"),
    ((0.001, 0.02), (-0.006, 0.01), "inconclusive"),  # the full net may lose more than the margin
    ((0.001, 0.02), (-0.02, -0.006), "refuted"),  # the full net surely loses more than the margin
    ((-0.01, 0.0009), (-0.001, 0.001), "refuted"),  # the shallowest depth surely gains under 0.1 points
    ((0.0002, 0.0008), (-0.001, 0.001), "refuted"),  # a sure gain, but under 0.1 points
    ((-0.001, 0.02), (-0.004, 0.01), "inconclusive"),
])
def test_the_symmetric_rule_tests_both_halves_of_the_claim(shallowest, full, expected):
    assert cifar10_attribution.symmetric_verdict(_ci(*shallowest), _ci(*full)) == expected


def test_non_inferiority_needs_every_depth_above_the_margin():
    ok, unsure, bad = _ci(-0.004, 0.01), _ci(-0.006, 0.01), _ci(-0.02, -0.006)
    assert cifar10_attribution.non_inferiority({"8": ok, "20": ok}) == "non-inferior"
    assert cifar10_attribution.non_inferiority({"8": ok, "20": unsure}) == "inconclusive"
    assert cifar10_attribution.non_inferiority({"8": ok, "20": bad}) == "inferior"


def test_the_attribution_power_analysis_matches_the_protocol():
    # docs/results.md, section 1b: at the observed paired SD of 0.80 points, 23 seeds give 80 % power at
    # the 0.5-point margin, and 8 seeds give 33 % there and 80 % from 0.93 points.
    assert cifar10_attribution.seeds_for(0.008) == 23
    assert round(cifar10_study.power_of(8, 0.008, cifar10_attribution.MARGIN), 2) == 0.33
    assert round(100 * cifar10_attribution.detectable(8, 0.008), 2) == 0.93


def test_attribution_records_fall_back_to_the_cifar10_study_s(tmp_path):
    args = argparse.Namespace(records=str(tmp_path / "attribution"))
    assert cifar10_attribution.record_of(args, "paper", 3) == REPO / "bench/results/cifar10_study/runs/paper_seed3.json"
    assert cifar10_attribution.record_of(args, "kl_only", 3) == tmp_path / "attribution/runs/kl_only_seed3.json"
