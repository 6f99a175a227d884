"""Where exported files go and what comes with them: one named object per kind of runtime.

``python -m ddnn_tf.export_tflite --target web`` is ``TARGETS["web"]``: the
folder under the run's workdir, whether int8 files give float32 logits, and
how many of the held-out test images are written beside the files for the
app or the page to measure accuracy on (the images the export validated on,
as uint8 pixels: every file normalises them inside).
"""

import dataclasses

import numpy as np

from ddnn_tf import errors

TEST_IMAGES_FORMAT = "ddnn_tf.test_images/1"


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    folder: str  # under the run's workdir, unless --out says otherwise
    float_output: bool  # float32 logits from int8 files too
    test_images: int  # held-out test images written beside the files (at most --eval_examples); 0 for none
    description: str


TARGETS = {target.name: target for target in (
    Target("device", "export", float_output=False, test_images=0, description="phones and boards (LiteRT)"),
    # LiteRT.js refuses int8 tensors at a file's boundary; the page scores every file on the test images.
    Target("web", "export_web", float_output=True, test_images=200,
           description="browsers (LiteRT.js): float32 logits, with the test images the page scores"),
)}


def get(name):
    """The target called ``name``, or a UsageError naming the targets."""
    errors.check_choice("target", name, TARGETS)
    return TARGETS[name]


def test_image_files(pixels, labels, label_names, dataset, split):
    """``{file name: bytes or JSON-able}`` of test images: what the app and the page read.

    - ``test_images.bin``: uint8 RGB pixels, count x height x width x channels, no header;
    - ``test_labels.bin``: their labels, int32 little-endian, no header;
    - ``test_images.json``: ``{"format", "count", "height", "width", "channels",
      "images", "labels", "label_names", "dataset", "split"}``.
    """
    count, height, width, channels = pixels.shape
    return {
        "test_images.bin": np.ascontiguousarray(pixels, np.uint8).tobytes(),
        "test_labels.bin": np.asarray(labels, "<i4").tobytes(),
        "test_images.json": {
            "format": TEST_IMAGES_FORMAT, "count": int(count), "height": int(height), "width": int(width),
            "channels": int(channels), "images": "test_images.bin", "labels": "test_labels.bin",
            "label_names": list(label_names), "dataset": dataset, "split": split,
        },
    }
