"""Does EKD beat training each depth alone? EKD against independent and joint training, and ablations, over seeds.

    python bench/reproduction.py [--seeds 0,1,2] [--train_examples 5000] [--epochs 2]
        [--variants ekd,independent,joint,no_kl,no_at,ensemble_teacher,shared_bn]
        [--recalibration_batches 20] [--root runs/study] [--out bench/results/reproduction.json]

Trains the offline MNIST config (ResNet-56 holding 20, 32, 44) once per
variant and seed with the same budget, on a reduced training set so that the
task is not saturated, and scores every depth on the 10,000 test digits, also
after re-estimating BN statistics on ``--recalibration_batches`` training
batches. Prints per variant and depth the mean and standard deviation over
seeds and the paired per-seed difference of EKD against every other variant,
and plots mean accuracy against multiply-accumulates (``<out>.png``).

Finished runs are reused (their training time is kept in ``study.json`` in
the run's directory), so an interrupted study resumes.
"""

import argparse
import statistics
import time
from pathlib import Path

from ddnn_tf import files
from ddnn_tf.config import load as load_config
from ddnn_tf.plots import save_line_plot
from ddnn_tf.training import evaluation, trainer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist_resnet56.py"

# Each variant changes these keys of the config; "ekd" is the config as shipped.
VARIANTS = {
    "ekd": {},
    "independent": {"mode": "independent"},
    "joint": {"mode": "joint"},
    "no_kl": {"ekd.kd_weight": 0.0},
    "no_at": {"ekd.at_weight": 0.0},
    "ensemble_teacher": {"ekd.teacher": "ensemble"},
    "shared_bn": {"model.bn": "shared"},
}
PLOTTED = ("ekd", "independent", "joint")


def study_config(variant, seed, train_examples, epochs):
    return load_config(CONFIG, {
        "seed": seed, "epochs": epochs, "data.train_examples": train_examples,
        "bn_recalibration_batches": 0,  # the study scores recalibrated BN itself
        **VARIANTS[variant],
    })


def train_once(variant, seed, args):
    """Trains one run unless it is finished; returns its training time in seconds."""
    workdir = Path(args.root) / f"{variant}_seed{seed}"
    record = workdir / "study.json"
    if record.exists():
        return files.read_json(record, "study record")["train_seconds"]
    start = time.perf_counter()
    trainer.train(study_config(variant, seed, args.train_examples, args.epochs), workdir)
    seconds = round(time.perf_counter() - start, 1)
    files.write_json(record, {"train_seconds": seconds})
    return seconds


def mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def print_table(title, table, depths, signed=False):
    print(f"\n{title}")
    print(f"{'':>38}" + "".join(f"{f'depth {d}':>18}" for d in depths))
    sign = "+" if signed else ""
    for name, cells in table.items():
        print(f"{name:>38}" + "".join(
            f"{100 * cells[d][0]:>{sign}11.2f} ± {100 * cells[d][1]:<4.2f}" for d in depths
        ))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--train_examples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--recalibration_batches", type=int, default=20)
    parser.add_argument("--root", default="runs/study")
    parser.add_argument("--out", default="bench/results/reproduction.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    for variant in variants:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; valid choices: {', '.join(VARIANTS)}")
    out = Path(args.out)
    files.writable_dir(out.parent)

    study_start = time.perf_counter()
    runs = []
    for seed in seeds:
        for variant in variants:
            seconds = train_once(variant, seed, args)
            rows = evaluation.evaluate_run(
                Path(args.root) / f"{variant}_seed{seed}", latency=False,
                recalibration_batches=args.recalibration_batches,
            )
            runs.append({
                "variant": variant, "seed": seed, "overrides": VARIANTS[variant], "train_seconds": seconds,
                "top1": {row["depth"]: row["top1"] for row in rows},
                "top1_recalibrated_bn": {row["depth"]: row["top1_recalibrated_bn"] for row in rows},
            })
            print(f"{variant} seed {seed}: {runs[-1]['top1']} (trained in {seconds} s)", flush=True)

    depths = sorted(runs[0]["top1"])
    scores = {}  # name -> seed -> depth -> top-1
    for run in runs:
        scores.setdefault(run["variant"], {})[run["seed"]] = run["top1"]
        scores.setdefault(f"{run['variant']} + recalibrated BN", {})[run["seed"]] = run["top1_recalibrated_bn"]
    table = {name: {d: mean_std([by_seed[s][d] for s in seeds]) for d in depths} for name, by_seed in scores.items()}
    differences = {
        f"ekd - {name}": {d: mean_std([scores["ekd"][s][d] - by_seed[s][d] for s in seeds]) for d in depths}
        for name, by_seed in scores.items() if name != "ekd" and "ekd" in scores
    }
    study_minutes = (time.perf_counter() - study_start) / 60
    total_train_minutes = sum(run["train_seconds"] for run in runs) / 60

    setting = f"{args.train_examples} training digits, {args.epochs} epochs, seeds {seeds}"
    print_table(f"top-1 (%) on the 10,000 test digits, mean ± std over seeds; {setting}", table, depths)
    print_table("paired per-seed difference (points), mean ± std", differences, depths, signed=True)
    print(f"\ntraining {total_train_minutes:.0f} min in all; this invocation {study_minutes:.0f} min")

    macs = {row["depth"]: row["macs"] for row in rows}
    save_line_plot(
        {name: [(macs[d] / 1e6, 100 * table[name][d][0], d) for d in depths] for name in PLOTTED if name in table},
        "multiply-accumulates per image (millions)", f"mean top-1 over {len(seeds)} seeds (%)",
        out.with_suffix(".png"),
    )
    files.write_json(out, {
        "config": CONFIG.name, "train_examples": args.train_examples, "epochs": args.epochs, "seeds": seeds,
        "recalibration_batches": args.recalibration_batches, "macs": macs,
        "runs": runs, "table": table, "differences": differences,
        "train_minutes": round(total_train_minutes, 1),
    })


if __name__ == "__main__":
    main()
