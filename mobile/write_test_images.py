#!/usr/bin/env python3
"""Writes held-out test images of a training run for the Android app to measure accuracy on.

    python mobile/write_test_images.py --workdir runs/mnist_resnet34 [--count 200] [--out DIR] \\
        [--predictions runs/mnist_resnet34/export/*.tflite]

Takes the first ``--count`` images of the run's evaluation split through
``ddnn_tf.data.pipeline`` (the images export validated on) and writes to DIR
(default: ``<workdir>/export``, beside the .tflite files; an export with
``--target web`` writes them itself), as ``ddnn_tf.export.targets.test_image_files`` describes:

- ``test_images.bin``: the images as uint8 RGB pixels, count x height x width x 3, no header;
- ``test_labels.bin``: their labels, int32 little-endian, no header;
- ``test_images.json``: ``{"format": "ddnn_tf.test_images/1", "count", "height", "width",
  "channels", "images", "labels", "label_names", "dataset", "split"}``;
- with ``--predictions``: ``test_predictions.json``, the host LiteRT's top-1 class of every
  image for every signature of every file given, so that the app reports its agreement.

The pixels are the pipeline's own, the input every exported
file takes (it normalises inside), so the phone feeds them as they are.
Run it from the repository root with the project's Python (it imports TensorFlow).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from anywhere in the checkout

PREDICTIONS_FORMAT = "ddnn_tf.test_predictions/1"


def write_test_images(out, pixels, labels, label_names, dataset, split):
    """Writes the three files (each through a temporary file and a rename); returns the description."""
    from ddnn_tf import files
    from ddnn_tf.export import targets

    out = Path(out)
    written = targets.test_image_files(pixels, labels, label_names, dataset, split)
    for name, content in written.items():
        if isinstance(content, bytes):
            files.atomic_write(out / name, lambda tmp, data=content: Path(tmp).write_bytes(data))
        else:
            files.write_json(out / name, content)
    return written["test_images.json"]


def host_predictions(paths, pixels):
    """``{file name: {signature: [top-1 per image]}}`` from the host LiteRT, on the phone's exact input."""
    from ddnn_tf import runtime

    files = {}
    for path in map(Path, paths):
        flatbuffer = path.read_bytes()
        signatures = list(runtime.Runner(flatbuffer).interpreter.get_signature_list())
        files[path.name] = {}
        for signature in signatures:
            runner = runtime.Runner(flatbuffer, signature)
            files[path.name][signature] = [int(runner(image).argmax()) for image in pixels]
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="the training run (holds run.json)")
    parser.add_argument("--count", type=int, default=200, help="images to write (default 200)")
    parser.add_argument("--out", help="output directory (default: <workdir>/export)")
    parser.add_argument("--predictions", nargs="*", default=[], metavar="FILE.tflite",
                        help="also write the host's predictions of these files")
    args = parser.parse_args(argv)

    from ddnn_tf import errors, files
    from ddnn_tf.data import pipeline
    from ddnn_tf.run import Run

    try:
        if args.count < 1:
            raise errors.UsageError("--count must be at least 1")
        run = Run.open(args.workdir)
        out = files.writable_dir(args.out or run.export_dir())
        data = run.config["data"]
        _, evaluation, _ = run.datasets()
        images, labels = pipeline.take_examples(evaluation, args.count)
        if len(labels) == 0:
            raise errors.UsageError("the evaluation split is empty")
        pixels = images.astype(np.uint8)
        description = write_test_images(out, pixels, labels, run.data["label_names"], data["name"], data["eval_split"])
        if args.predictions:
            missing = [p for p in args.predictions if not Path(p).is_file()]
            if missing:
                raise errors.UsageError(f"{missing[0]} does not exist")
            predictions = host_predictions(args.predictions, pixels)
            files.write_json(out / "test_predictions.json", {"format": PREDICTIONS_FORMAT, "files": predictions})
    except (errors.UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {description['count']} test images of {description['height']}x{description['width']} "
          f"({data['name']}, {data['eval_split']}) to {out}" + (" with the host's predictions" if args.predictions else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
