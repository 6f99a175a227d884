"""Does EKD beat training each depth alone on CIFAR-10? The pre-registered study of docs/results.md, section 1.

    python bench/cifar10_study.py pilot [--jobs 2]                        # seed 0 (+ joint seeds 1, 2), validation only
    python bench/cifar10_study.py study --variant ARM --seeds 0,...,N-1   # the arms the pilot kept, scored on test
        [--arms independent,paper,joint,ARM] [--archive PATH] [--root runs/cifar10_study]
        [--records bench/results/cifar10_study] [--no_train]

Every run is ``configs/cifar10_resnet20.py`` (ResNet-20 at width 0.5 holding
ResNet-8 and -14, 45,000 training images, 10 epochs, mixed_bfloat16) with
one arm's overrides. Each run trains in its own process with one thread
(``--jobs`` at once), then scores every depth on its 5,000 validation images
and the 10,000 test images and writes ``<records>/runs/<arm>_seed<S>.json``.
A run whose record exists is never trained again, and a killed run resumes
at its last epoch with the batches an uninterrupted run would have seen, so
the study can stop at any point and go on later from the committed records.

``pilot`` reads validation scores only: the cost of a run, the seed-to-seed
standard deviation at ResNet-8 (joint, seeds 0-2), the room (independent
ResNet-20 minus ResNet-8), whether mixed_bfloat16 matches float32, the best
literature variant, and from a power analysis the seeds and arms the study
runs. ``study`` reads test scores: per depth the mean and per-seed values,
every arm's paired difference to independent and to joint with 95 %
confidence intervals and p-values, the decision rule, the power reached,
and which one-model arm the configs ship (chosen on validation); it writes
``<records>.json`` and ``<records>.png``.
"""

import argparse
import statistics
import threading
import time
from pathlib import Path

import ekd_study
from ekd_study import CONFIDENCE, FULL_NET_TOLERANCE, REFUTE_BELOW, ROOM_TO_TRANSFER, paired, verdict
from ekd_study import record_path, run_name

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "cifar10_resnet20.py"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"
NO_WARMUP = {"ekd.distill_start": 0.0, "ekd.distill_full": 0.0}

# The arms, each the config's overrides.
ARMS = {
    "independent": {"mode": "independent"},
    "joint": {"mode": "joint"},
    # The paper's form, the mode=ekd preset: full-net teacher (detached), KL with T = 2 and
    # attention transfer on every stage, no distillation for 30 % of training, full from 50 %.
    "paper": {"mode": "ekd"},
}
# The literature variants; the pilot's best on validation becomes the fourth arm.
VARIANTS = {
    # US-Nets / BigNAS: the sub-nets learn only from the detached full net's soft targets (T = 1).
    "inplace": {"mode": "ekd", "ekd.subnet_label_weight": 0.0, "ekd.temperature": 1.0, "ekd.at_weight": 0.0,
                **NO_WARMUP},
    # The mean logits of every depth teach every depth, gradients flowing into the teacher.
    "ensemble_attached": {"mode": "ekd", "ekd.teacher": "ensemble", "ekd.detach_teacher": False},
    # Once-for-all's progressive shrinking: the full net alone for half the epochs, then every
    # depth with the paper's distillation at full weight.
    "two_phase": {"mode": "ekd", "ekd.subnets_start": 0.5, "ekd.distill_start": 0.5, "ekd.distill_full": 0.5},
}
# The pilot's precision check: joint in float32 against the config's mixed_bfloat16.
CHECKS = {"joint_float32": {"mode": "joint", "precision": "float32"}}
ALL_ARMS = {**ARMS, **VARIANTS, **CHECKS}
PILOT = [(arm, 0) for arm in (*ARMS, *VARIANTS, *CHECKS)] + [("joint", 1), ("joint", 2)]
# The power analysis, fixed before the pilot ran.
EFFECT = 0.005  # +0.5 points at ResNet-8
POWER = 0.8
BUDGET_CPU_HOURS = 12.0
KEEP_ORDER = ("independent", "paper", "joint")  # arms dropped from the end (the variant first) to fit the budget
BF16_TOLERANCE = 0.003  # mixed_bfloat16 may be at most 0.3 points below float32 on validation, mean over depths


class SittingClock:
    """Adds this sitting's wall and CPU time to ``path``, every minute and at the end.

    A killed and resumed run so counts every sitting, the epochs a kill threw
    away included (``sittings`` says how many there were), to within a minute.
    ``cpu_seconds`` is the process's CPU time, which other work on the machine
    does not inflate: the budget uses it.
    """

    def __init__(self, path, spent):
        self.path = Path(path)
        self.spent = spent or {"train_seconds": 0.0, "cpu_seconds": 0.0, "sittings": 0}
        self.stop = threading.Event()

    def write(self, finished):
        from ddnn_tf import files

        files.write_json(self.path, {
            "train_seconds": round(self.spent["train_seconds"] + time.perf_counter() - self.wall, 1),
            "cpu_seconds": round(self.spent["cpu_seconds"] + time.process_time() - self.cpu, 1),
            "sittings": self.spent["sittings"] + 1, "finished": finished,
        })

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.thread = threading.Thread(target=self._tick, daemon=True)
        self.thread.start()
        return self

    def _tick(self):
        while not self.stop.wait(60):
            self.write(finished=False)

    def __exit__(self, kind, value, traceback):
        self.stop.set()
        self.thread.join()
        if kind is None:
            self.write(finished=True)


def code_commit():
    """The last commit that changed the code a run executes (the package, the configs, the study scripts)."""
    import subprocess

    return subprocess.run(["git", "log", "-1", "--format=%H", "--", "ddnn_tf", "configs", "bench/*.py"],
                          cwd=REPO, capture_output=True, text=True).stdout.strip() or None


def train_and_score(arm, seed, args, overrides=None):
    """Trains one run (resuming a killed one) and writes its record: validation and test top-1 per depth.

    ``overrides`` are the arm's config overrides (``ALL_ARMS[arm]`` unless given).
    """
    from ddnn_tf import files
    from ddnn_tf.config import load as load_config
    from ddnn_tf.training import evaluation, trainer

    overrides = ALL_ARMS[arm] if overrides is None else overrides
    config = load_config(CONFIG, {"seed": seed, "data.archive": str(args.archive), **overrides})
    workdir = Path(args.root) / run_name(arm, seed)
    timing = workdir / "train_seconds.json"
    spent = files.read_json(timing, "training time") if timing.exists() else None
    if spent is None or not spent.get("finished"):
        with SittingClock(timing, spent):
            trainer.train(config, workdir)
    spent = files.read_json(timing, "training time")
    scores = {}
    for role in ("validation", "eval"):
        rows = evaluation.evaluate_run(workdir, latency=False, role=role)
        scores[role] = {str(row["depth"]): row["top1"] for row in rows}
    record = record_path(args, arm, seed)
    record.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(record, {
        "arm": arm, "seed": seed, "overrides": overrides, "config": CONFIG.name, "code_commit": code_commit(),
        "train_seconds": spent["train_seconds"], "cpu_seconds": spent["cpu_seconds"], "sittings": spent["sittings"],
        "threads": 1,
        "validation_top1": scores["validation"], "test_top1": scores["eval"],
        "macs": {str(row["depth"]): row["macs"] for row in rows},
        "parameters": {str(row["depth"]): row["parameters"] for row in rows},
    })


def run_all(plan, args):
    """Trains every (arm, seed) of ``plan`` without a record, ``args.jobs`` single-threaded processes at a time."""
    ekd_study.run_all(plan, args, script=__file__, extra_flags=("--archive", args.archive))


def read_records(args, plan):
    from ddnn_tf import files

    return {(arm, seed): files.read_json(record_path(args, arm, seed), "study record")
            for arm, seed in plan if record_path(args, arm, seed).exists()}


def mean_over_depths(record, key="validation_top1"):
    return statistics.fmean(record[key].values())


def one_model_choice(args, seeds):
    """The protocol's one-model arms on validation, over the seeds that every one of them has a record for.

    The budget may drop ``joint`` from the study; its pilot seeds still weigh it against the
    paper's form for the shipped config, on validation images only.
    """
    candidates = [arm for arm in KEEP_ORDER if arm != "independent"]
    records = read_records(args, [(arm, seed) for arm in candidates for seed in seeds])
    shared = [seed for seed in seeds if all((arm, seed) in records for arm in candidates)]
    means = {arm: statistics.fmean(mean_over_depths(records[(arm, seed)]) for seed in shared) for arm in candidates}
    return {"seeds": shared, "mean_validation_top1": means, "best": max(means, key=means.get)}


def power_of(n, sd_difference, effect=EFFECT):
    """Power of a two-sided paired t-test at 95 % with ``n`` pairs, for a true difference ``effect``."""
    from scipy import stats

    if n < 2 or sd_difference <= 0:
        return float(n >= 2)
    critical = stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)
    shift = effect / (sd_difference / n**0.5)
    return float(stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift))


def seeds_for_power(sd_difference):
    return next(n for n in range(2, 200) if power_of(n, sd_difference) >= POWER)


def pilot(args):
    from ddnn_tf import files

    run_all(PILOT, args)
    records = read_records(args, PILOT)
    missing = [run_name(*run) for run in PILOT if run not in records]
    if missing:
        raise SystemExit(f"error: the pilot lacks {', '.join(missing)}; see their .log files under {args.root}")
    depths = sorted(records[("joint", 0)]["validation_top1"], key=int)
    shallow, deep = depths[0], depths[-1]
    print("\nPilot: top-1 (%) on the 5,000 validation images (seed 0 unless named)")
    print(f"{'run':>26}" + "".join(f"{'ResNet-' + d:>11}" for d in depths) + f"{'mean':>8}{'CPU-min':>9}")
    for arm, seed in PILOT:
        record = records[(arm, seed)]
        name = arm if seed == 0 else run_name(arm, seed)
        print(f"{name:>26}" + "".join(f"{100 * record['validation_top1'][d]:>11.2f}" for d in depths)
              + f"{100 * mean_over_depths(record):>8.2f}{record['cpu_seconds'] / 60:>9.1f}")

    minutes = {arm: records[(arm, 0)]["cpu_seconds"] / 60 for arm in ALL_ARMS}
    room = records[("independent", 0)]["validation_top1"][deep] - records[("independent", 0)]["validation_top1"][shallow]
    joint_shallow = [records[("joint", s)]["validation_top1"][shallow] for s in (0, 1, 2)]
    sd = statistics.stdev(joint_shallow)
    sd_difference = 2**0.5 * sd  # two arms' independent seed noise: no pairing benefit assumed
    seeds = max(3, seeds_for_power(sd_difference))
    bf16_gap = mean_over_depths(records[("joint", 0)]) - mean_over_depths(records[("joint_float32", 0)])
    precision = "mixed_bfloat16" if bf16_gap >= -BF16_TOLERANCE else "float32"
    variant = max(VARIANTS, key=lambda arm: mean_over_depths(records[(arm, 0)]))
    arms = [*KEEP_ORDER, variant]
    while len(arms) > 2 and seeds * sum(minutes[arm] for arm in arms) / 60 > BUDGET_CPU_HOURS:
        arms.pop()
    cost = seeds * sum(minutes[arm] for arm in arms) / 60
    print(f"\nroom: independent ResNet-{deep} - ResNet-{shallow} = {100 * room:+.2f} points (needs >= +3)")
    print(f"seed-to-seed SD at ResNet-{shallow} (joint, seeds 0-2): {100 * sd:.2f} points; "
          f"paired SD assumed {100 * sd_difference:.2f}")
    print(f"mixed_bfloat16 - float32 (joint, mean over depths): {100 * bf16_gap:+.2f} points -> {precision}; "
          f"run minutes {minutes['joint']:.1f} against {minutes['joint_float32']:.1f}")
    print(f"best variant on validation: {variant}")
    print(f"seeds for {POWER:.0%} power at +{100 * EFFECT:.1f} points: {seeds}; arms within "
          f"{BUDGET_CPU_HOURS:g} CPU-hours: {', '.join(arms)} ({cost:.1f} CPU-hours)")
    files.write_json(Path(f"{args.records}_pilot.json"), {
        "config": CONFIG.name, "runs": {run_name(*run): records[run]["validation_top1"] for run in PILOT},
        "cpu_minutes": minutes, "room": room, "sd_shallowest": sd, "sd_difference_assumed": sd_difference,
        "bf16_minus_float32": bf16_gap, "precision": precision, "variant": variant,
        "seeds": seeds, "arms": arms, "cpu_hours": cost,
        "rule": {"effect": EFFECT, "power": POWER, "budget_cpu_hours": BUDGET_CPU_HOURS, "keep_order": KEEP_ORDER,
                 "bf16_tolerance": BF16_TOLERANCE},
    })
    print(f"wrote {args.records}_pilot.json")


def study(args):
    from ddnn_tf import files
    from ddnn_tf.plots import save_line_plot

    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",") if args.arms else [*KEEP_ORDER, args.variant]
    plan = [(arm, seed) for seed in seeds for arm in arms]
    if args.train:
        run_all(plan, args)
    records = read_records(args, plan)
    complete = [seed for seed in seeds if all((arm, seed) in records for arm in arms)]
    if len(complete) < 2:
        raise SystemExit("error: fewer than 2 seeds have a record for every arm; run without --no_train")
    depths = sorted(records[(arms[0], complete[0])]["test_top1"], key=int)
    top1 = {arm: {d: [records[(arm, s)]["test_top1"][d] for s in complete] for d in depths} for arm in arms}
    table = {arm: {d: {"mean": statistics.fmean(v), "sd": statistics.stdev(v), "per_seed": v} for d, v in by_depth.items()}
             for arm, by_depth in top1.items()}
    room = statistics.fmean(a - b for a, b in zip(top1["independent"][depths[-1]], top1["independent"][depths[0]]))
    comparisons = {}
    for arm in arms:
        against = {}
        for reference in ("independent", "joint"):
            if arm == reference or reference not in arms:
                continue
            against[reference] = {d: paired([a - b for a, b in zip(top1[arm][d], top1[reference][d])]) for d in depths}
        if "independent" in against:
            shallow = against["independent"][depths[0]]
            sd = statistics.stdev(a - b for a, b in zip(top1[arm][depths[0]], top1["independent"][depths[0]]))
            against["verdict"] = verdict(shallow, against["independent"][depths[-1]], room)
            against["power_reached"] = power_of(len(complete), sd)
            against["sd_difference_shallowest"] = sd
        comparisons[arm] = against
    minutes = {arm: statistics.fmean(records[(arm, s)]["cpu_seconds"] for s in complete) / 60 for arm in arms}
    wall_minutes = {arm: statistics.fmean(records[(arm, s)]["train_seconds"] for s in complete) / 60 for arm in arms}
    cpu_hours = sum(records[(arm, s)]["cpu_seconds"] for arm in arms for s in complete) / 3600
    validation = {arm: statistics.fmean(records[(arm, s)]["validation_top1"][d] for s in complete for d in depths)
                  for arm in arms}
    choice = one_model_choice(args, seeds)

    print(f"\ntop-1 (%) on the 10,000 CIFAR-10 test images; seeds {complete} of {seeds}")
    print(f"{'arm':>20}" + "".join(f"{'ResNet-' + d + ' (SD)':>17}" for d in depths)
          + f"{'CPU-min':>9}{'wall-min':>9}   per seed, by depth")
    for arm in arms:
        per_seed = " | ".join(" ".join(f"{100 * v:.2f}" for v in table[arm][d]["per_seed"]) for d in depths)
        print(f"{arm:>20}" + "".join(f"{100 * table[arm][d]['mean']:>10.2f} ({100 * table[arm][d]['sd']:.2f})"
                                     for d in depths)
              + f"{minutes[arm]:>9.1f}{wall_minutes[arm]:>9.1f}   {per_seed}")
    print(f"{len(arms) * len(complete)} runs, {cpu_hours:.1f} CPU-hours")
    for reference in ("independent", "joint"):
        if reference not in arms:
            continue
        print(f"\nminus {reference} (points): mean [95% CI] p")
        for arm, against in comparisons.items():
            if reference not in against:
                continue
            cells = [f"{100 * c['mean']:+.2f} [{100 * c['ci'][0]:+.2f}, {100 * c['ci'][1]:+.2f}] p={c['p']:.2g}"
                     for c in against[reference].values()]
            extra = (f"  => {against['verdict']}, paired SD at ResNet-{depths[0]} "
                     f"{100 * against['sd_difference_shallowest']:.2f}, power {against['power_reached']:.0%}"
                     if reference == "independent" else "")
            print(f"{arm:>20}  " + " | ".join(cells) + extra)
    print(f"\nindependent ResNet-{depths[-1]} - ResNet-{depths[0]}: {100 * room:+.2f} points")
    print("mean validation top-1 over depths and seeds (%): "
          + ", ".join(f"{arm} {100 * value:.2f}" for arm, value in validation.items()))
    print(f"one-model recipes on validation, seeds {choice['seeds']} (each has them): "
          + ", ".join(f"{arm} {100 * value:.2f}" for arm, value in choice["mean_validation_top1"].items())
          + f"; the configs ship {choice['best']}")

    out = Path(args.records)
    macs = records[(arms[0], complete[0])]["macs"]
    save_line_plot(
        {arm: [(macs[d] / 1e6, 100 * table[arm][d]["mean"], d) for d in depths] for arm in arms},
        "multiply-accumulates per image (millions)", f"CIFAR-10 test top-1, mean of {len(complete)} seeds (%)",
        out.with_suffix(".png"),
    )
    files.write_json(out.with_suffix(".json"), {
        "config": CONFIG.name, "arms": {arm: ALL_ARMS[arm] for arm in arms}, "seeds": complete,
        "seeds_planned": seeds, "table": table, "comparisons": comparisons,
        "independent_gap_deepest_minus_shallowest": room, "cpu_minutes_per_run": minutes,
        "wall_minutes_per_run": wall_minutes, "cpu_hours": cpu_hours,
        "mean_validation_top1": validation, "one_model_choice_on_validation": choice,
        "decision_rule": {"full_net_tolerance": FULL_NET_TOLERANCE, "refute_below": REFUTE_BELOW,
                          "room_to_transfer": ROOM_TO_TRANSFER, "confidence": CONFIDENCE, "effect": EFFECT},
    })
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("pilot", "study", "run"))
    parser.add_argument("arm", nargs="?", help="run: the arm")
    parser.add_argument("seed", nargs="?", type=int, help="run: the seed")
    parser.add_argument("--variant", choices=tuple(VARIANTS), help="study: the pilot's best variant, the fourth arm")
    parser.add_argument("--arms", help="study: the arms the pilot kept, comma-separated (default: all four)")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no_train", dest="train", action="store_false", help="study: report the records only")
    parser.add_argument("--archive", type=Path, default=ARCHIVE, help="the CIFAR-10 archive (data.archive)")
    parser.add_argument("--root", type=Path, default=REPO / "runs" / "cifar10_study")
    parser.add_argument("--records", default=str(REPO / "bench" / "results" / "cifar10_study"))
    args = parser.parse_args()
    if (args.part != "study" or args.train) and not args.archive.is_file():
        parser.error(f"the CIFAR-10 archive {args.archive} does not exist; name it with --archive")
    if args.part == "run":
        if args.arm not in ALL_ARMS or args.seed is None:
            parser.error(f"run needs an arm and a seed; valid arms: {', '.join(ALL_ARMS)}")
        train_and_score(args.arm, args.seed, args)
    elif args.part == "pilot":
        pilot(args)
    else:
        if not args.variant and not args.arms:
            parser.error("study needs --variant (the pilot's best) or --arms")
        study(args)


if __name__ == "__main__":
    main()
