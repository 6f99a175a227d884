"""What happens when ddnn_tf is imported: nothing heavy, two hooks for later.

``import ddnn_tf`` imports neither TensorFlow nor Keras, so that the LiteRT
runtime, the benchmark and the report merger run on a board with neither
installed. Two import hooks act when the heavy libraries arrive:

- TensorFlow's native start-up chatter is kept out of the terminal without
  hiding real errors. Before its logging is set up, TensorFlow's C++ core
  writes straight to file descriptor 2, whatever ``TF_CPP_MIN_LOG_LEVEL``
  says: "All log messages before absl::InitializeLog()", oneDNN and
  CUDA-stub notices, and on every CPU-only machine ``failed call to cuInit``.
  ``filtered_native_stderr`` captures descriptor 2 while TensorFlow starts (and while the TFLite converter runs) and
  writes back every line but those. ``DDNN_TF_SHOW_STARTUP=1`` shows everything.
- Once Keras is imported, ddnn_tf's models are registered with it, so that
  ``keras.models.load_model`` restores a saved DDNN after ``import ddnn_tf``.
"""

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} "  # informational lines of the C++ core
    r"|To enable the following instructions: .* rebuild TensorFlow"  # the second line of the CPU-feature notice
    r"|[WE]\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas|cudart_stub|Unable to register cu"
    r"|computation placer already registered)"
    # the TFLite converter's notes on every conversion
    r"|W\d{4} .*(Ignored output_format|Ignored drop_control_dependency|Skipping runtime version metadata)"
    r"|fully_quantize: \d+, inference_type: )"
)


def is_noise(line):
    """Whether a line of native start-up output is known chatter (never a real error)."""
    return bool(NOISE.match(line))


@contextlib.contextmanager
def filtered_native_stderr():
    """Runs the block with descriptor 2 captured, then writes back what is not noise."""
    if os.environ.get("DDNN_TF_SHOW_STARTUP"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(True) if not is_noise(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


class _FirstImport(importlib.abc.MetaPathFinder):
    """Wraps the first import of one top-level module: ``around`` its execution, ``after`` it."""

    def __init__(self, name, around=contextlib.nullcontext, after=lambda module: None):
        self.name, self.around, self.after = name, around, after

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            with self.around():
                execute(module)
            self.after(module)

        spec.loader.exec_module = exec_module
        return spec


def _quiet_tensorflow():
    def probe_devices(tensorflow):
        with filtered_native_stderr():
            tensorflow.config.list_physical_devices()  # the CUDA probe's lines come out here

    return _FirstImport("tensorflow", around=filtered_native_stderr, after=probe_devices)


def _register_models(keras):
    importlib.import_module("ddnn_tf.models")


def install():
    """Sets up both hooks (or acts at once for a library already imported)."""
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _quiet_tensorflow())
    if sys.modules.get("keras") is not None:
        _register_models(sys.modules["keras"])
    elif "keras" not in sys.modules:  # (None there means Keras was made unimportable)
        sys.meta_path.insert(0, _FirstImport("keras", after=_register_models))
