"""Why a short DDNN run's inference accuracy lags its training accuracy, and what precise BN does about it.

    python bench/bn_lag.py [--out bench/results/bn_lag.json]

Part 1, the cause. ``build_ddnn("resnet56", 10, (32, 32, 3), depths=(20, 56))``
with SGD 0.05 (momentum 0.9, no weight decay), 2 epochs on the first 4,096
MNIST training digits, batch 64, against the plain ResNet-56 (``depths=(56,)``)
at learning rates 0.05 and 0.1, and the DDNN at 0.025. With plain SGD and
momentum, dividing the summed loss of K depths by K is the same as dividing
the learning rate by K, so the DDNN at 0.025 is the averaged loss at 0.05.
Each model is scored on 1,000 validation digits three ways: with its moving
BN statistics (``evaluate``), after re-estimating them on 20 training
batches (``recalibrate_bn``), and in training mode on the same images (batch
statistics). It also reports the largest weight change per step of the
shared stem convolution, which the lag follows.

Part 2, precise BN in ``python -m ddnn_tf.train`` (``precise_bn_batches``):
the demo config, a short run (256 digits, 1 epoch) and the MNIST study's
protocol, each with and without it, scored on the validation digits; with
the training time of each, so that its cost is measured too.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np

import ddnn_tf
from ddnn_tf.models.calibration import recalibrate_bn

REPO = Path(__file__).resolve().parents[1]


def _scores(model, validation, train):
    images, labels = validation
    depths = model.depths
    inference = {d: float(np.mean(np.argmax(model(images, depth=d, training=False), -1) == labels)) for d in depths}
    training_mode = {d: _training_mode_accuracy(model, images, labels, d) for d in depths}
    recalibrate_bn(model, train, num_batches=20)
    recalibrated = {d: float(np.mean(np.argmax(model(images, depth=d, training=False), -1) == labels)) for d in depths}
    return {"evaluate": inference, "recalibrated": recalibrated, "training_mode": training_mode}


def _training_mode_accuracy(model, images, labels, depth):
    """Top-1 with batch statistics, batch by batch of 250, without touching the moving statistics."""
    saved = [w.numpy() for w in model.non_trainable_weights]
    correct = 0
    for start in range(0, len(labels), 250):
        logits = model(images[start:start + 250], depth=depth, training=True)
        correct += int(np.sum(np.argmax(logits, -1) == labels[start:start + 250]))
    for weight, value in zip(model.non_trainable_weights, saved):
        weight.assign(value)
    return correct / len(labels)


class StemChange(keras.callbacks.Callback):
    """The largest absolute change of the stem convolution's kernel in one step, and its median."""

    def on_train_begin(self, logs=None):
        self.kernel = next(w for w in self.model.weights if "stem_conv" in w.path)
        self.last, self.changes = self.kernel.numpy(), []

    def on_train_batch_end(self, batch, logs=None):
        now = self.kernel.numpy()
        self.changes.append(float(np.abs(now - self.last).max()))
        self.last = now


def cause():
    train = ddnn_tf.data.mnist("train", batch_size=64, num_examples=4096, seed=0)
    validation = next(iter(ddnn_tf.data.mnist("validation", batch_size=1000)))
    validation = (validation[0].numpy(), validation[1].numpy())
    rows = []
    for name, depths, rate in (("DDNN 20+56, summed", (20, 56), 0.05), ("DDNN 20+56, averaged (= 0.025)", (20, 56), 0.025),
                               ("plain ResNet-56", (56,), 0.05), ("plain ResNet-56", (56,), 0.1)):
        keras.utils.set_random_seed(0)
        model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3), depths=depths)
        model.compile(optimizer=keras.optimizers.SGD(rate, momentum=0.9))
        change = StemChange()
        start = time.perf_counter()
        model.fit(train, epochs=2, verbose=0, callbacks=[change])
        seconds = time.perf_counter() - start
        row = {"model": name, "learning_rate": rate, **_scores(model, validation, train),
               "stem_change_median": statistics.median(change.changes), "train_seconds": round(seconds, 1)}
        rows.append(row)
        print(f"{name:>32} lr {rate:<6} evaluate {_cells(row['evaluate'])} | recalibrated {_cells(row['recalibrated'])}"
              f" | training mode {_cells(row['training_mode'])} | stem step {row['stem_change_median']:.2e}", flush=True)
    return rows


def _cells(by_depth):
    return " / ".join(f"{100 * v:.1f}" for v in by_depth.values())


def precise_bn_runs(root):
    """The CLI with and without precise BN on three protocols; top-1 on validation and training time."""
    from ddnn_tf.config import load as load_config
    from ddnn_tf.training import evaluation, trainer

    protocols = {
        "demo (mnist_resnet34)": ("mnist_resnet34.py", {}),
        "short run (256 digits, 1 epoch)": ("mnist_resnet34.py", {"data.train_examples": 256}),
        "MNIST study protocol (mnist_resnet20_small)": ("mnist_resnet20_small.py", {"mode": "joint"}),
    }
    rows = []
    for protocol, (config_file, overrides) in protocols.items():
        for batches in (0, 20):
            config = load_config(REPO / "configs" / config_file,
                                 {**overrides, "precise_bn_batches": batches, "bn_recalibration_batches": 0})
            workdir = Path(root) / f"{config_file[:-3]}_{len(rows)}"
            start = time.perf_counter()
            trainer.train(config, workdir)
            seconds = time.perf_counter() - start
            scored = evaluation.evaluate_run(workdir, latency=False, role="validation")
            row = {"protocol": protocol, "precise_bn_batches": batches, "train_seconds": round(seconds, 1),
                   "validation_top1": {str(r["depth"]): r["top1"] for r in scored}}
            rows.append(row)
            print(f"{protocol:>45} precise BN {batches:>2}: validation {_cells(row['validation_top1'])}, "
                  f"{seconds:.0f} s", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cause", "precise", "both"), default="both")
    parser.add_argument("--root", default=str(REPO / "runs" / "bn_lag"))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "bn_lag.json")
    args = parser.parse_args()
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.part in ("cause", "both"):
        result["cause"] = cause()
    if args.part in ("precise", "both"):
        result["precise_bn"] = precise_bn_runs(args.root)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
