"""Accuracy after int8 quantization, per depth of a trained run: float Keras, post-training int8, and QAT int8.

    python bench/quantization_accuracy.py [--workdir runs/mnist_resnet34] [--examples 10000]
        [--qat_epochs 0] [--qat_examples 10000] [--out bench/results/quantization_accuracy.json]

Exports every depth of the run to int8 TFLite (calibrated on 200 training
images) into a temporary folder and scores the float Keras sub-net and the
int8 file on the same held-out images. With ``--qat_epochs N`` each depth is
also fine-tuned quantization-aware for N epochs over ``--qat_examples``
training images (as ``python -m ddnn_tf.export_tflite --qat_epochs N`` does;
needs the ``qat`` extra) and its int8 file scored on the same images.
"""

import argparse
import tempfile
import time
from pathlib import Path

from ddnn_tf import files
from ddnn_tf.export import qat, writer
from ddnn_tf.run import Run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/mnist_resnet34")
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--qat_epochs", type=int, default=0)
    parser.add_argument("--qat_examples", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/quantization_accuracy.json")
    args = parser.parse_args()
    out = Path(args.out)
    files.writable_dir(out.parent)
    run = Run.open(args.workdir)
    model = run.model()
    qat_options = qat.Options(args.qat_epochs, args.qat_examples, prefer="qat") if args.qat_epochs else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        options = writer.Options("int8", eval_examples=args.examples, max_drop=100.0, qat=qat_options)
        rows = writer.export_depths(run, model, list(model.depths), Path(folder), options)
    minutes = (time.perf_counter() - start) / 60
    table = []
    for row in rows:
        ptq = row.get("ptq_int8_accuracy", row["tflite_accuracy"])
        entry = {
            "depth": row["depth"],
            "keras_float32": round(row["keras_accuracy"], 5),
            "tflite_int8": round(ptq, 5),
            "drop_points": round(100 * (row["keras_accuracy"] - ptq), 2),
            "int8_bytes": row["file_bytes"],
        }
        if qat_options:
            entry["tflite_int8_qat"] = round(row["qat_int8_accuracy"], 5)
            entry["qat_drop_points"] = round(100 * (row["keras_accuracy"] - row["qat_int8_accuracy"]), 2)
        table.append(entry)

    print(f"{run.workdir}: {rows[0]['examples']} held-out images"
          + (f"; QAT {args.qat_epochs} epoch(s) over {args.qat_examples} images" if qat_options else "")
          + f"; {minutes:.1f} min")
    print(f"{'depth':>5} {'float32':>8} {'int8':>8} {'drop':>6}" + (f" {'QAT int8':>9} {'drop':>6}" if qat_options else "")
          + f" {'bytes':>9}")
    for r in table:
        qat_cells = f" {100 * r['tflite_int8_qat']:>8.2f}% {r['qat_drop_points']:>6}" if qat_options else ""
        print(f"{r['depth']:>5} {100 * r['keras_float32']:>7.2f}% {100 * r['tflite_int8']:>7.2f}% "
              f"{r['drop_points']:>6}{qat_cells} {r['int8_bytes']:>9,}")
    files.write_json(out, {"workdir": str(run.workdir), "examples": rows[0]["examples"], "qat_epochs": args.qat_epochs,
                        "qat_examples": args.qat_examples if qat_options else 0, "minutes": round(minutes, 1),
                        "rows": table})


if __name__ == "__main__":
    main()
