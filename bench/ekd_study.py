"""Does EKD beat training each depth alone? The pre-registered study of docs/results.md, section 2.

    python bench/ekd_study.py pilot [--jobs 2]             # seed 0, scored on validation only
    python bench/ekd_study.py study --best ARM [--jobs 2]  # 5 seeds per arm, scored on test
    python bench/ekd_study.py bn ARM [--jobs 2]            # ARM with BN keyed by path and shared BN recalibrated
        [--seeds 0,1,2,3,4] [--root runs/ekd_study] [--records bench/results/ekd_study]

Every run is ``configs/mnist_resnet20_small.py`` (ResNet-20 at width 0.25
holding ResNet-8 and -14, the first 10,000 training digits, 20 epochs) with
one arm's overrides. Each run trains in its own process with one thread
(``--jobs`` of them at once: small nets use two processes better than two
threads), then scores every depth on the 10,000 validation digits and the
10,000 test digits and writes its record, ``<records>/runs/<arm>_seed<S>.json``.
A run whose record exists is never trained again, so the study can be
stopped at any point and continued later, on another machine, from the
committed records.

``pilot`` reads validation scores only and names the best candidate; the
test scores of a run are read only by ``study``, which prints per depth the
mean, the per-seed values and the paired difference of every arm against
independent training with its 95 % confidence interval and p-value, applies
the decision rule, and writes ``<records>.json`` and ``<records>.png``.
``bn ARM`` trains ARM again with BN keyed by path and with shared BN
(re-estimated per depth before scoring) and prints each one's paired
difference to ARM's private BN; it writes ``<records>_bn.json``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "mnist_resnet20_small.py"
WARMUP_OFF = {"ekd.distill_start": 0.0, "ekd.distill_full": 0.0}

# The study's arms, each the config's overrides. "paper" is the paper's form:
# the full net teaches, KL plus same-resolution attention on every stage.
ARMS = {
    "independent": {"mode": "independent"},
    "joint": {"mode": "joint"},
    "paper_warmup": {},
    "ensemble_warmup": {"ekd.teacher": "ensemble"},
}
# Candidates for the study's fifth arm, chosen by the pilot on validation.
CANDIDATES = {
    "paper_from_step_0": WARMUP_OFF,
    "paper_warmup_zero_init": {"model.zero_init_residual": True},
    "paper_warmup_t4": {"ekd.temperature": 4.0},
    "ensemble_warmup_attached": {"ekd.teacher": "ensemble", "ekd.detach_teacher": False},
    "ensemble_warmup_zscored_last": {
        "ekd.teacher": "ensemble", "ekd.attention": "zscored_sum", "ekd.attention_stages": "last",
        "ekd.at_weight": 1.0,
    },
}
# BN keyed by path and shared BN with each depth's statistics
# re-estimated before scoring (gamma and beta shared, the standard parameter
# count), each against the same DDNN arm's private BN: "<arm>_bn_<mode>".
BN_TWINS = {"path": {"model.bn": "path"}, "shared_recalibrated": {"model.bn": "shared", "bn_recalibration_batches": 20}}
TWINS = {f"{arm}_bn_{mode}": {**overrides, **twin}
         for arm, overrides in {**ARMS, **CANDIDATES}.items() if arm != "independent"
         for mode, twin in BN_TWINS.items()}
ALL_ARMS = {**ARMS, **CANDIDATES, **TWINS}
CONFIDENCE = 0.95
# The decision rule, fixed before the study ran (docs/results.md).
FULL_NET_TOLERANCE = 0.0015  # the full net may lose at most 0.15 points
REFUTE_BELOW = 0.001  # refuted where the upper CI bound of EKD - independent is below +0.1 points
ROOM_TO_TRANSFER = 0.005  # ... while independent ResNet-20 beats ResNet-8 by at least 0.5 points


def run_name(arm, seed):
    return f"{arm}_seed{seed}"


def record_path(args, arm, seed):
    return Path(args.records) / "runs" / f"{run_name(arm, seed)}.json"


# ------------------------------------------------------------------ one run


def train_and_score(arm, seed, root, record):
    """Trains one run (resuming a killed one) and writes its record: validation and test top-1."""
    from ddnn_tf import files
    from ddnn_tf.config import load as load_config
    from ddnn_tf.training import evaluation, trainer

    config = load_config(CONFIG, {"seed": seed, **ALL_ARMS[arm]})
    workdir = Path(root) / run_name(arm, seed)
    timing = workdir / "train_seconds.json"
    start = time.perf_counter()
    trainer.train(config, workdir)
    if not timing.exists():  # a resumed run keeps the time of the sitting that trained it
        files.write_json(timing, {"train_seconds": round(time.perf_counter() - start, 1)})
    seconds = files.read_json(timing, "training time")["train_seconds"]
    scores = {}
    record.parent.mkdir(parents=True, exist_ok=True)
    for role in ("validation", "eval"):
        # The run's own bn_recalibration_batches: 0 but for shared BN, which is scored as it would be used.
        rows = evaluation.evaluate_run(workdir, latency=False, role=role)
        scores[role] = {str(row["depth"]): row.get("top1_recalibrated_bn", row["top1"]) for row in rows}
    files.write_json(record, {
        "arm": arm, "seed": seed, "overrides": ALL_ARMS[arm], "config": CONFIG.name,
        "train_seconds": seconds, "threads": 1,
        "validation_top1": scores["validation"], "test_top1": scores["eval"],
        "macs": {str(row["depth"]): row["macs"] for row in rows},
        "parameters": {str(row["depth"]): row["parameters"] for row in rows},
    })


def run_all(plan, args, script=__file__, extra_flags=()):
    """Trains every (arm, seed) of ``plan`` that has no record, ``args.jobs`` processes of ``script run`` at a time."""
    todo = [(arm, seed) for arm, seed in plan if not record_path(args, arm, seed).exists()]
    print(f"{len(plan) - len(todo)} of {len(plan)} runs have records; training {len(todo)}", flush=True)
    # One thread per process: two single-threaded runs do more than one two-threaded run.
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    running = []
    while todo or running:
        while todo and len(running) < args.jobs:
            arm, seed = todo.pop(0)
            log = Path(args.root) / f"{run_name(arm, seed)}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, str(script), "run", arm, str(seed), "--root", str(args.root),
                       "--records", str(args.records), *map(str, extra_flags)]
            running.append((arm, seed, subprocess.Popen(command, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)))
        time.sleep(5)
        for item in list(running):
            arm, seed, process = item
            if process.poll() is not None:
                running.remove(item)
                state = "done" if process.returncode == 0 else f"FAILED ({process.returncode}), see its .log"
                print(f"{time.strftime('%H:%M:%S')} {run_name(arm, seed)}: {state}", flush=True)


def read_records(args, arms, seeds):
    from ddnn_tf import files

    return {
        (arm, seed): files.read_json(record_path(args, arm, seed), "study record")
        for arm in arms for seed in seeds if record_path(args, arm, seed).exists()
    }


# ------------------------------------------------------------------ reports


def paired(differences):
    """Mean, 95 % confidence interval and two-sided p-value of paired differences (Student's t)."""
    from scipy import stats

    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return {"mean": mean, "n": n}
    sem = statistics.stdev(differences) / n**0.5
    if sem == 0:
        return {"mean": mean, "ci": [mean, mean], "p": 0.0 if mean else 1.0, "n": n}
    half = stats.t.ppf((1 + CONFIDENCE) / 2, n - 1) * sem
    p = 2 * stats.t.sf(abs(mean) / sem, n - 1)
    return {"mean": mean, "ci": [mean - half, mean + half], "p": float(p), "n": n}


def verdict(difference_shallowest, difference_full, room):
    """The pre-registered decision rule for one arm against independent training."""
    if "ci" not in difference_shallowest:
        return "inconclusive (fewer than 2 seeds)"
    low, high = difference_shallowest["ci"]
    if low > 0 and difference_full["mean"] >= -FULL_NET_TOLERANCE:
        return "confirmed"
    if high < REFUTE_BELOW and room >= ROOM_TO_TRANSFER:
        return "refuted"
    return "inconclusive"


def pilot(args):
    seed = 0
    arms = list(ALL_ARMS)
    run_all([(arm, seed) for arm in arms], args)
    records = read_records(args, arms, [seed])
    depths = sorted(next(iter(records.values()))["validation_top1"], key=int)
    print(f"\nPilot, seed {seed}: top-1 (%) on the 10,000 validation digits")
    print(f"{'arm':>30}" + "".join(f"{'depth ' + d:>10}" for d in depths) + f"{'minutes':>9}")
    for arm in arms:
        if (arm, seed) in records:
            record = records[(arm, seed)]
            print(f"{arm:>30}" + "".join(f"{100 * record['validation_top1'][d]:>10.2f}" for d in depths)
                  + f"{record['train_seconds'] / 60:>9.1f}")
    distilled = [arm for arm in arms if arm not in ("independent", "joint") and (arm, seed) in records]
    # The mean over depths of validation top-1 decides; the study's fifth arm is the best candidate.
    best = max(distilled, key=lambda arm: statistics.fmean(records[(arm, seed)]["validation_top1"].values()))
    best_candidate = max((arm for arm in distilled if arm in CANDIDATES), default=None,
                         key=lambda arm: statistics.fmean(records[(arm, seed)]["validation_top1"].values()))
    independent = records.get(("independent", seed))
    if independent:
        gap = independent["validation_top1"][depths[-1]] - independent["validation_top1"][depths[0]]
        print(f"\nindependent ResNet-{depths[-1]} - ResNet-{depths[0]}: {100 * gap:+.2f} points (the study needs >= +0.50)")
    print(f"best distilled arm on validation: {best}; best candidate for the fifth arm: {best_candidate}")


def train_and_read(args, arms):
    """Trains what ``arms`` lack (with ``--train``); returns the complete seeds, the depths,
    ``{arm: {depth: [test top-1 per complete seed]}}`` and the records."""
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.train:
        run_all([(arm, seed) for seed in seeds for arm in arms], args)
    records = read_records(args, arms, seeds)
    complete = [seed for seed in seeds if all((arm, seed) in records for arm in arms)]
    if not complete:
        raise SystemExit("error: no seed has a record for every arm yet; run with --train")
    depths = sorted(records[(arms[0], complete[0])]["test_top1"], key=int)
    top1 = {arm: {d: [records[(arm, s)]["test_top1"][d] for s in complete] for d in depths} for arm in arms}
    return complete, depths, top1, records


def study(args):
    from ddnn_tf import files
    from ddnn_tf.plots import save_line_plot

    seeds = [int(s) for s in args.seeds.split(",")]
    arms = list(ARMS) + ([args.best] if args.best and args.best not in ARMS else [])
    complete, depths, top1, records = train_and_read(args, arms)
    table = {arm: {d: {"mean": statistics.fmean(v), "per_seed": v} for d, v in by_depth.items()}
             for arm, by_depth in top1.items()}
    room = statistics.fmean(
        a - b for a, b in zip(top1["independent"][depths[-1]], top1["independent"][depths[0]])
    )
    comparisons = {}
    for arm in arms:
        if arm == "independent":
            continue
        differences = {d: paired([a - b for a, b in zip(top1[arm][d], top1["independent"][d])]) for d in depths}
        comparisons[arm] = {"minus_independent": differences,
                            "verdict": verdict(differences[depths[0]], differences[depths[-1]], room)}
    minutes = {arm: statistics.fmean(records[(arm, s)]["train_seconds"] for s in complete) / 60 for arm in arms}
    # The shipped default is chosen on validation digits, never on test: the
    # DDNN arm (one model holding every depth) with the best mean over depths and seeds.
    validation = {arm: statistics.fmean(records[(arm, s)]["validation_top1"][d] for s in complete for d in depths)
                  for arm in arms}
    default = max((arm for arm in arms if arm != "independent"), key=validation.get)

    print(f"\ntop-1 (%) on the 10,000 test digits; seeds {complete} of {seeds}")
    print(f"{'arm':>30}" + "".join(f"{'depth ' + d:>10}" for d in depths) + f"{'min/run':>9}   per seed, by depth")
    for arm in arms:
        per_seed = " | ".join(" ".join(f"{100 * v:.2f}" for v in table[arm][d]["per_seed"]) for d in depths)
        print(f"{arm:>30}" + "".join(f"{100 * table[arm][d]['mean']:>10.2f}" for d in depths)
              + f"{minutes[arm]:>9.1f}   {per_seed}")
    print(f"\nminus independent (points): mean [95% CI], p; independent {depths[-1]} - {depths[0]} = {100 * room:+.2f}")
    for arm, comparison in comparisons.items():
        cells = []
        for d in depths:
            c = comparison["minus_independent"][d]
            ci = f"[{100 * c['ci'][0]:+.2f}, {100 * c['ci'][1]:+.2f}] p={c['p']:.3f}" if "ci" in c else ""
            cells.append(f"{100 * c['mean']:+.2f} {ci}")
        print(f"{arm:>30}  " + " | ".join(cells) + f"  => {comparison['verdict']}")
    print("\nmean validation top-1 over depths and seeds (%): "
          + ", ".join(f"{arm} {100 * value:.2f}" for arm, value in validation.items())
          + f"\nthe best DDNN recipe on validation, the default: {default}")

    out = Path(args.records)
    macs = records[(arms[0], complete[0])]["macs"]
    save_line_plot(
        {arm: [(macs[d] / 1e6, 100 * table[arm][d]["mean"], d) for d in depths] for arm in arms},
        "multiply-accumulates per image (millions)", f"mean test top-1 over {len(complete)} seeds (%)",
        out.with_suffix(".png"),
    )
    files.write_json(out.with_suffix(".json"), {
        "config": CONFIG.name, "arms": {arm: ALL_ARMS[arm] for arm in arms}, "seeds": complete,
        "seeds_planned": seeds, "table": table, "comparisons": comparisons,
        "independent_gap_deepest_minus_shallowest": room, "train_minutes_per_run": minutes,
        "mean_validation_top1": validation, "default_on_validation": default,
        "decision_rule": {"full_net_tolerance": FULL_NET_TOLERANCE, "refute_below": REFUTE_BELOW,
                          "room_to_transfer": ROOM_TO_TRANSFER, "confidence": CONFIDENCE},
    })
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


def bn_study(args):
    """BN keyed by path and recalibrated shared BN against private BN, on one DDNN arm, every seed.

    The paired differences on the validation digits decide the default BN;
    those on the test digits are reported beside them.
    """
    from ddnn_tf import files

    arms = [args.arm] + [f"{args.arm}_bn_{mode}" for mode in BN_TWINS]
    complete, depths, _, records = train_and_read(args, arms)
    minutes = {arm: statistics.fmean(records[(arm, s)]["train_seconds"] for s in complete) / 60 for arm in arms}
    comparisons = {}
    top1 = {}
    for split, key in (("validation", "validation_top1"), ("test", "test_top1")):
        top1[split] = {arm: {d: [records[(arm, s)][key][d] for s in complete] for d in depths} for arm in arms}
        print(f"\n{args.arm}: top-1 (%) on the 10,000 {split} digits by BN mode; seeds {complete}")
        print(f"{'BN':>22}" + "".join(f"{'depth ' + d:>10}" for d in depths) + "   minus private: mean [95% CI], p")
        comparisons[split] = {}
        for arm in arms:
            mode = "private" if arm == args.arm else arm[len(args.arm) + len("_bn_"):]
            cells = ""
            if arm != args.arm:
                by_depth = {d: paired([a - b for a, b in zip(top1[split][arm][d], top1[split][args.arm][d])])
                            for d in depths}
                comparisons[split][mode] = by_depth
                cells = " | ".join(f"{100 * c['mean']:+.2f} [{100 * c['ci'][0]:+.2f}, {100 * c['ci'][1]:+.2f}] "
                                   f"p={c['p']:.3f}" if "ci" in c else f"{100 * c['mean']:+.2f}" for c in by_depth.values())
            print(f"{mode:>22}" + "".join(f"{100 * statistics.fmean(top1[split][arm][d]):>10.2f}" for d in depths)
                  + f"   {cells}")
    out = Path(f"{args.records}_bn.json")
    files.write_json(out, {
        "config": CONFIG.name, "arm": args.arm, "twins": BN_TWINS, "seeds": complete,
        "top1": top1, "minus_private": comparisons, "decided_on": "validation",
        # Not comparable across arms here: the private runs trained in earlier, slower sittings.
        "train_minutes_per_run": minutes,
    })
    print(f"\nwrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("pilot", "study", "bn", "run"))
    parser.add_argument("arm", nargs="?", help="run: the arm; bn: the DDNN arm whose BN modes are compared")
    parser.add_argument("seed", nargs="?", type=int, help="run: the seed")
    parser.add_argument("--best", help="study: the pilot's best candidate, the fifth arm")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no_train", dest="train", action="store_false", help="study: report the records only")
    parser.add_argument("--root", default=str(REPO / "runs" / "ekd_study"))
    parser.add_argument("--records", default=str(REPO / "bench" / "results" / "ekd_study"))
    args = parser.parse_args()
    if args.best and args.best not in ALL_ARMS:
        parser.error(f"unknown arm {args.best!r}; valid choices: {', '.join(ALL_ARMS)}")
    if args.part == "run":
        if args.arm not in ALL_ARMS or args.seed is None:
            parser.error(f"run needs an arm and a seed; valid arms: {', '.join(ALL_ARMS)}")
        train_and_score(args.arm, args.seed, args.root, record_path(args, args.arm, args.seed))
    elif args.part == "bn":
        ddnn_arms = [arm for arm in {**ARMS, **CANDIDATES} if arm != "independent"]
        if args.arm not in ddnn_arms:
            parser.error(f"bn needs a DDNN arm; valid arms: {', '.join(ddnn_arms)}")
        bn_study(args)
    elif args.part == "pilot":
        pilot(args)
    else:
        study(args)


if __name__ == "__main__":
    main()
