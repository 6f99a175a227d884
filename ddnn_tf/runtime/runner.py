"""One signature of an exported file on pixel images, with the LiteRT interpreter; accuracy against Keras."""

import hashlib
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ddnn_tf import errors, files

# The kinds of file ``python -m ddnn_tf.export_tflite --quantize`` writes; a
# file's .json metadata names its kind.
QUANTIZE_MODES = ("int8", "float16", "dynamic", "float32")


class Runner:
    """Runs one signature of a TFLite flatbuffer on images of pixels in [0, 255], dequantizing the output.

    Files written by ``ddnn_tf.export_tflite`` take uint8 pixels and normalise
    them inside (``PixelNormalization``), whatever their quantize mode.

    ``runner(image)`` is ``finish(invoke(prepare(image)))``: the three steps are
    separate so that a benchmark can time ``invoke`` alone, as ``benchmark_model``
    on a device does.
    """

    def __init__(self, flatbuffer, signature=None, threads=None):
        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
        signatures = self.interpreter.get_signature_list()
        self.runner = self.interpreter.get_signature_runner(signature or next(iter(signatures)))
        self.input_name, self.input = next(iter(self.runner.get_input_details().items()))
        self.output_name, self.output = next(iter(self.runner.get_output_details().items()))

    @property
    def takes_pixels(self):
        """Whether the file takes uint8 pixels, as every file ddnn_tf 0.2 and later exports."""
        return self.input["dtype"] == np.uint8 and self.input["quantization"][0] == 0

    def zero_input(self):
        """An all-zero input batch of the file's own shape and dtype: what timing needs, for any file."""
        return np.zeros(self.input["shape"], self.input["dtype"])

    def prepare(self, image):
        """One ``(height, width, channels)`` image of pixels (whole numbers in [0, 255]) as the file's input batch."""
        if not self.takes_pixels:
            raise ValueError(
                f"the file takes {np.dtype(self.input['dtype']).name} input, not uint8 pixels: it was not exported "
                "by ddnn_tf 0.2 or later, whose files take pixels and normalise them inside; export it again"
            )
        image = np.asarray(image)
        if image.dtype != np.uint8 and not np.all((image >= 0) & (image <= 255) & (image == np.round(image))):
            raise ValueError("pixels must be whole numbers from 0 to 255; got values outside, or normalised images")
        return image[np.newaxis].astype(np.uint8)

    def invoke(self, x):
        """The file's raw output for a prepared input."""
        return self.runner(**{self.input_name: x})[self.output_name]

    def finish(self, y):
        """Float32 logits of one image from the raw output."""
        y = y[0]
        scale, zero_point = self.output["quantization"]
        if self.output["dtype"] == np.int8:
            y = (y.astype(np.float32) - zero_point) * scale
        return y.astype(np.float32)

    def __call__(self, image):
        """Logits (float32) of one ``(height, width, channels)`` image of pixels."""
        return self.finish(self.invoke(self.prepare(image)))

    def quantization(self):
        return {
            "input": {"dtype": np.dtype(self.input["dtype"]).name, "scale": float(self.input["quantization"][0]),
                      "zero_point": int(self.input["quantization"][1])},
            "output": {"dtype": np.dtype(self.output["dtype"]).name, "scale": float(self.output["quantization"][0]),
                       "zero_point": int(self.output["quantization"][1])},
        }


def validate(runner, reference_logits, labels, images):
    """Compares a runner with reference (Keras) logits on the same images."""
    logits = np.stack([runner(image) for image in images])
    keras_top1 = reference_logits.argmax(-1)
    tflite_top1 = logits.argmax(-1)
    return {
        "examples": int(len(labels)),
        "keras_accuracy": float(np.mean(keras_top1 == labels)),
        "tflite_accuracy": float(np.mean(tflite_top1 == labels)),
        "agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_relative_difference": float(np.max(np.abs(logits - reference_logits)) / np.max(np.abs(reference_logits))),
        "logits": logits,
    }


def read_metadata(path, flatbuffer):
    """The export metadata beside the ``.tflite`` at ``path`` whose bytes are ``flatbuffer`` (None without one).

    Raises a UsageError naming the ``.json`` when it is unreadable, not an
    object, or written for another file: an export renames its set into place
    one file at a time (``ddnn_tf.export.writer.publish``), so a killed one can
    leave a new ``.tflite`` beside an old ``.json``, whose output scale and
    zero point would decode the wrong logits. A ``.json`` that names no
    sha256 is taken as it is.
    """
    meta_path = Path(path).with_suffix(".json")
    if not meta_path.exists():
        return None
    meta = files.read_json(meta_path, "metadata")
    if not isinstance(meta, dict):
        raise errors.UsageError(f"metadata {meta_path} must hold a JSON object, as ddnn_tf.export_tflite writes it")
    if meta.get("sha256") not in (None, hashlib.sha256(flatbuffer).hexdigest()):
        raise errors.UsageError(f"metadata {meta_path} describes another file than {Path(path).name} (its sha256 "
                                "differs): an export was interrupted or the files were mixed; export them again")
    return meta


def op_names(flatbuffer):
    """Names of the builtin and custom ops a flatbuffer holds (a Flex op shows as ``Flex...``)."""
    interpreter = Interpreter(model_content=flatbuffer)
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})
