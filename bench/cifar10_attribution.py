"""Where does the paper's form cost the full net? The attribution study of docs/results.md, section 1b.

    python bench/cifar10_attribution.py pilot        # the design candidates on seed 0, validation only
    python bench/cifar10_attribution.py part_a       # the reproduction check and every arm on seeds 0-7, test
    python bench/cifar10_attribution.py part_b       # 30 epochs: independent, joint, Part A's best distilling arm
        [--jobs 2] [--no_train] [--archive PATH] [--root runs/cifar10_attribution]
        [--records bench/results/cifar10_attribution]

Every run is ``configs/cifar10_resnet20.py`` with an arm's overrides, trained
and scored exactly as in ``bench/cifar10_study.py`` (one single-threaded
process per run, ``--jobs`` at once, resumable, one record per run). New
records go to ``<records>/runs/``; the ``independent``, ``paper`` and ``joint``
records the CIFAR-10 study committed (``bench/results/cifar10_study/runs/``)
are read where a seed has one, so every new arm pairs with them seed by seed.
A run whose record exists is never trained again; ``--no_train`` reprints
every report from the records alone.

``pilot`` picks the fifth arm on validation; ``part_a`` reports each arm
against ``independent``, ``joint`` and ``paper`` with paired 95 % confidence
intervals, the symmetric verdict, joint's non-inferiority, and the power the
observed SDs give; ``part_b`` fixes its seeds by the CPU-hour budget and
reports the 30-epoch arms the same way. Each writes ``<records>_<part>.json``
(and a plot for the two parts).
"""

import argparse
import statistics
from pathlib import Path

import cifar10_study
import ekd_study
from ekd_study import CONFIDENCE, paired, run_name

REPO = Path(__file__).resolve().parents[1]
STUDY_RECORDS = REPO / "bench" / "results" / "cifar10_study"

# The arms, each the config's overrides (docs/results.md, section 1b).
BASELINES = {"independent": {"mode": "independent"}, "joint": {"mode": "joint"}, "paper": {"mode": "ekd"}}
ATTRIBUTION = {
    "kl_only": {"mode": "ekd", "ekd.at_weight": 0.0},  # the paper's form without attention transfer
    "attention_only": {"mode": "ekd", "ekd.kd_weight": 0.0},  # ... without the KL term
    # ... with a classifier per depth (BYOT, Shallow-Deep Networks): no sub-net loss moves the full net's head.
    "private_heads": {"mode": "ekd", "model.heads": "private"},
}
# The fifth arm's candidates, one literature design each, chosen by the pilot on validation:
# attention transfer on the last stage only (the stage whose output feeds the classifier),
# at the paper's weight and at a tenth of it.
CANDIDATES = {
    "attention_last": {"mode": "ekd", "ekd.attention_stages": "last"},
    "attention_last_w50": {"mode": "ekd", "ekd.attention_stages": "last", "ekd.at_weight": 50.0},
}
REPRODUCTION = {"paper_rerun": BASELINES["paper"]}  # paper seed 0 again, on today's code
ARMS = {**BASELINES, **ATTRIBUTION, **CANDIDATES, **REPRODUCTION}
LONG = "_30ep"  # Part B's arms: a Part A arm at 30 epochs
LONG_EPOCHS = 30

PART_A_SEEDS = tuple(range(8))
PART_B_SEEDS = tuple(range(4))  # dropped from the end to fit the budget
BUDGET_CPU_HOURS = 20.0  # every new record of the pilot, Part A and Part B together
# The symmetric rule, per arm against independent (fixed before any record).
MARGIN = 0.005  # the full net may lose less than 0.5 points; also joint's non-inferiority margin
REFUTE_BELOW = 0.001  # refuted where the shallowest depth's upper bound is below +0.1 points
POWER = 0.8


def overrides_of(arm):
    """An arm's config overrides; ``<arm>_30ep`` is ``<arm>`` trained for 30 epochs."""
    if arm.endswith(LONG) and arm[: -len(LONG)] in ARMS:
        return {**ARMS[arm[: -len(LONG)]], "epochs": LONG_EPOCHS}
    if arm not in ARMS:
        raise KeyError(arm)
    return ARMS[arm]


def record_of(args, arm, seed):
    """The record's path: this study's, else the CIFAR-10 study's (its baselines' committed seeds)."""
    own = ekd_study.record_path(args, arm, seed)
    earlier = STUDY_RECORDS / "runs" / own.name
    return earlier if not own.exists() and earlier.exists() else own


def read_records(args, plan):
    from ddnn_tf import files

    return {(arm, seed): files.read_json(record_of(args, arm, seed), "study record")
            for arm, seed in plan if record_of(args, arm, seed).exists()}


def run_all(plan, args):
    """Trains every run of ``plan`` without a record (here or in the CIFAR-10 study), unless ``--no_train``."""
    todo = [(arm, seed) for arm, seed in plan if not record_of(args, arm, seed).exists()]
    if args.train:
        ekd_study.run_all(todo, args, script=__file__, extra_flags=("--archive", args.archive))
    missing = [run_name(*run) for run in plan if not record_of(args, *run).exists()]
    if missing:
        print(f"no record yet: {', '.join(missing)}")


def symmetric_verdict(shallowest, full):
    """Confirmed, refuted or inconclusive: both halves of the paper's claim, against independent."""
    if "ci" not in shallowest or "ci" not in full:
        return "inconclusive (fewer than 2 seeds)"
    if full["ci"][1] < -MARGIN or shallowest["ci"][1] < REFUTE_BELOW:
        return "refuted"
    if shallowest["ci"][0] > 0 and full["ci"][0] > -MARGIN:
        return "confirmed"
    return "inconclusive"


def non_inferiority(by_depth):
    """Non-inferior where every depth's lower bound lies above -MARGIN; inferior where one upper bound lies below."""
    if any("ci" not in c for c in by_depth.values()):
        return "inconclusive (fewer than 2 seeds)"
    if any(c["ci"][1] < -MARGIN for c in by_depth.values()):
        return "inferior"
    if all(c["ci"][0] > -MARGIN for c in by_depth.values()):
        return "non-inferior"
    return "inconclusive"


def seeds_for(sd, effect=MARGIN):
    """Seeds a two-sided paired t-test at 95 % needs for 80 % power at ``effect``, given the paired SD."""
    return next((n for n in range(2, 500) if cifar10_study.power_of(n, sd, effect) >= POWER), None)


def detectable(n, sd):
    """The smallest effect (points) ``n`` seeds detect with 80 % power, given the paired SD."""
    effect = 0.0
    while cifar10_study.power_of(n, sd, effect) < POWER:
        effect += 0.0001
    return effect


def compare(records, arm, reference, seeds, depths, key="test_top1"):
    """Paired differences ``arm - reference`` per depth over the seeds both have."""
    shared = [s for s in seeds if (arm, s) in records and (reference, s) in records]
    return {d: paired([records[(arm, s)][key][d] - records[(reference, s)][key][d] for s in shared])
            for d in depths} if shared else {}


def report(args, arms, references, seeds, name):
    """Per-arm test top-1, paired differences against ``references``, verdicts and power; writes the JSON."""
    from ddnn_tf import files
    from ddnn_tf.plots import save_line_plot

    records = read_records(args, [(arm, s) for arm in arms for s in seeds])
    first = next(iter(records.values()))
    depths = sorted(first["test_top1"], key=int)
    shallow, deep = depths[0], depths[-1]
    independent = references[0]
    table, comparisons, power = {}, {}, {}
    print(f"\n{name}: top-1 (%) on the 10,000 CIFAR-10 test images, mean (SD) over the seeds each arm has")
    print(f"{'arm':>24}{'seeds':>6}" + "".join(f"{'ResNet-' + d:>16}" for d in depths) + f"{'CPU-min':>9}")
    for arm in arms:
        have = [s for s in seeds if (arm, s) in records]
        if not have:
            print(f"{arm:>24}{0:>6}   no record yet")
            continue
        values = {d: [records[(arm, s)]["test_top1"][d] for s in have] for d in depths}
        table[arm] = {"seeds": have, **{d: {"mean": statistics.fmean(v),
                                            "sd": statistics.stdev(v) if len(v) > 1 else None, "per_seed": v}
                                        for d, v in values.items()},
                      "cpu_minutes": statistics.fmean(records[(arm, s)]["cpu_seconds"] for s in have) / 60,
                      "mean_validation_top1": statistics.fmean(records[(arm, s)]["validation_top1"][d]
                                                               for s in have for d in depths)}
        cells = "".join(f"{100 * table[arm][d]['mean']:>9.2f} ({100 * (table[arm][d]['sd'] or 0):.2f})"
                        for d in depths)
        print(f"{arm:>24}{len(have):>6}{cells}{table[arm]['cpu_minutes']:>9.1f}")
    for reference in references:
        if reference not in table:
            continue
        print(f"\nminus {reference} (points): mean [95% CI], n seeds")
        for arm in arms:
            if arm == reference or arm not in table:
                continue
            against = compare(records, arm, reference, seeds, depths)
            if not against:
                continue
            comparisons.setdefault(arm, {})[reference] = against
            cells = [f"{100 * c['mean']:+.2f} [{100 * c['ci'][0]:+.2f}, {100 * c['ci'][1]:+.2f}]" if "ci" in c
                     else f"{100 * c['mean']:+.2f}" for c in against.values()]
            extra = ""
            if reference == independent:
                comparisons[arm]["verdict"] = symmetric_verdict(against[shallow], against[deep])
                comparisons[arm]["non_inferiority"] = non_inferiority(against)
                extra = f"  => {comparisons[arm]['verdict']}; non-inferiority: {comparisons[arm]['non_inferiority']}"
            print(f"{arm:>24}  " + " | ".join(cells) + f"  (n={next(iter(against.values()))['n']}){extra}")
    print(f"\npower at the {100 * MARGIN:.1f}-point margin, from each arm's paired SD against {independent}")
    for arm, against in comparisons.items():
        if independent not in against:
            continue
        n = next(iter(against[independent].values()))["n"]
        if n < 3:
            continue
        sds = {d: statistics.stdev(records[(arm, s)]["test_top1"][d] - records[(independent, s)]["test_top1"][d]
                                   for s in seeds if (arm, s) in records and (independent, s) in records)
               for d in depths}
        power[arm] = {d: {"paired_sd": sd, "power": cifar10_study.power_of(n, sd, MARGIN), "seeds_for_80": seeds_for(sd),
                          "detectable_at_80": detectable(n, sd)} for d, sd in sds.items()}
        print(f"{arm:>24}  " + " | ".join(
            f"ResNet-{d}: SD {100 * p['paired_sd']:.2f}, power {p['power']:.0%}, {p['seeds_for_80']} seeds for 80 %, "
            f"detects {100 * p['detectable_at_80']:.2f}" for d, p in power[arm].items()) + f"  (n={n})")
    cpu_hours = sum(r["cpu_seconds"] for (arm, s), r in records.items()
                    if ekd_study.record_path(args, arm, s).exists()) / 3600
    print(f"\nCPU-hours of this study's own records here: {cpu_hours:.1f}")
    out = Path(f"{args.records}_{name}")
    macs = first["macs"]
    save_line_plot({arm: [(macs[d] / 1e6, 100 * row[d]["mean"], d) for d in depths] for arm, row in table.items()},
                   "multiply-accumulates per image (millions)", "CIFAR-10 test top-1, mean over seeds (%)",
                   out.with_suffix(".png"))
    files.write_json(out.with_suffix(".json"), {
        "config": cifar10_study.CONFIG.name, "arms": {arm: overrides_of(arm) for arm in arms},
        "seeds_planned": list(seeds), "table": table, "comparisons": comparisons, "power": power,
        "cpu_hours_new_records": cpu_hours,
        "rule": {"margin": MARGIN, "refute_below": REFUTE_BELOW, "confidence": CONFIDENCE, "power": POWER},
    })
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return table


def pilot(args):
    """The fifth arm: the candidate with the highest validation top-1, mean over depths, seed 0."""
    from ddnn_tf import files

    plan = [(arm, 0) for arm in CANDIDATES]
    run_all(plan, args)
    records = read_records(args, [*plan, ("independent", 0), ("paper", 0)])
    if any(run not in records for run in plan):
        raise SystemExit("error: the pilot's runs lack records; run it without --no_train")
    depths = sorted(records[plan[0]]["validation_top1"], key=int)
    print("\nPilot: top-1 (%) on the 5,000 validation images, seed 0")
    print(f"{'run':>24}" + "".join(f"{'ResNet-' + d:>11}" for d in depths) + f"{'mean':>8}{'CPU-min':>9}")
    for arm in ("independent", "paper", *CANDIDATES):
        r = records[(arm, 0)]
        print(f"{arm:>24}" + "".join(f"{100 * r['validation_top1'][d]:>11.2f}" for d in depths)
              + f"{100 * cifar10_study.mean_over_depths(r):>8.2f}{r['cpu_seconds'] / 60:>9.1f}")
    means = {arm: cifar10_study.mean_over_depths(records[(arm, 0)]) for arm in CANDIDATES}
    design = max(means, key=means.get)
    print(f"fifth arm: {design}")
    files.write_json(Path(f"{args.records}_pilot.json"), {"validation_mean_over_depths": means, "design": design})
    print(f"wrote {args.records}_pilot.json")
    return design


def part_a_arms(args):
    from ddnn_tf import files

    chosen = Path(f"{args.records}_pilot.json")
    if not chosen.exists():
        raise SystemExit(f"error: {chosen} does not exist; run the pilot first")
    return ["independent", "joint", "paper", *ATTRIBUTION, files.read_json(chosen, "pilot")["design"]]


def part_a(args):
    arms = part_a_arms(args)
    plan = [("paper_rerun", 0)] + [(arm, s) for s in PART_A_SEEDS for arm in arms]
    run_all(plan, args)
    records = read_records(args, [("paper_rerun", 0), ("paper", 0)])
    if len(records) == 2:
        rerun, committed = records[("paper_rerun", 0)], records[("paper", 0)]
        print("reproduction, paper seed 0, test top-1 (%) rerun / committed: "
              + ", ".join(f"ResNet-{d} {100 * rerun['test_top1'][d]:.2f} / {100 * committed['test_top1'][d]:.2f}"
                          for d in sorted(committed["test_top1"], key=int)))
    return report(args, arms, ("independent", "joint", "paper"), PART_A_SEEDS, "part_a")


def part_b_plan(args, part_a_table):
    """Part B's arms and seeds: the best distilling arm on validation; seeds dropped from the end to fit the budget."""
    distilling = [arm for arm in part_a_table if arm not in ("independent", "joint")]
    best = max(distilling, key=lambda arm: part_a_table[arm]["mean_validation_top1"])
    arms = [f"independent{LONG}", f"joint{LONG}", f"{best}{LONG}"]
    own = sum(r["cpu_seconds"] for (arm, s), r in read_records(
        args, [(arm, s) for arm in [*ARMS, *arms] for s in PART_A_SEEDS]).items()
        if ekd_study.record_path(args, arm, s).exists()) / 3600
    per_seed = LONG_EPOCHS / 10 * sum(part_a_table[arm[: -len(LONG)]]["cpu_minutes"] for arm in arms) / 60
    seeds = list(PART_B_SEEDS)
    while len(seeds) > 2 and own + len(seeds) * per_seed > BUDGET_CPU_HOURS:
        seeds.pop()
    print(f"Part B: {', '.join(arms)}; seeds {seeds} ({own:.1f} CPU-hours spent, "
          f"{per_seed:.1f} estimated per seed, budget {BUDGET_CPU_HOURS:g})")
    return arms, seeds


def part_b(args):
    arms, seeds = part_b_plan(args, part_a(argparse.Namespace(**{**vars(args), "train": False})))
    run_all([(arm, s) for s in seeds for arm in arms], args)
    return report(args, arms, (arms[0], arms[1]), seeds, "part_b")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("pilot", "part_a", "part_b", "run"))
    parser.add_argument("arm", nargs="?", help="run: the arm")
    parser.add_argument("seed", nargs="?", type=int, help="run: the seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no_train", dest="train", action="store_false", help="report the records only")
    parser.add_argument("--archive", type=Path, default=cifar10_study.ARCHIVE, help="the CIFAR-10 archive")
    parser.add_argument("--root", type=Path, default=REPO / "runs" / "cifar10_attribution")
    parser.add_argument("--records", default=str(REPO / "bench" / "results" / "cifar10_attribution"))
    args = parser.parse_args()
    if args.train and not args.archive.is_file():
        parser.error(f"the CIFAR-10 archive {args.archive} does not exist; name it with --archive")
    if args.part == "run":
        try:
            overrides = overrides_of(args.arm or "")
        except KeyError:
            parser.error(f"run needs an arm and a seed; valid arms: {', '.join(ARMS)} (and <arm>{LONG})")
        if args.seed is None:
            parser.error("run needs a seed")
        cifar10_study.train_and_score(args.arm, args.seed, args, overrides)
    else:
        {"pilot": pilot, "part_a": part_a, "part_b": part_b}[args.part](args)


if __name__ == "__main__":
    main()
