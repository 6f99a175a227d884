"""TensorFlow's native start-up chatter, kept out of the terminal without hiding real errors.

Before its logging is set up, TensorFlow's C++ core writes straight to file
descriptor 2, whatever ``TF_CPP_MIN_LOG_LEVEL`` says: "All log messages
before absl::InitializeLog()", oneDNN and CUDA-stub notices, and on every
CPU-only machine ``failed call to cuInit``. ``quiet_native_startup`` captures
descriptor 2 while TensorFlow starts and writes back every line but those.
``DDNN_TF_SHOW_STARTUP=1`` shows everything.
"""

import contextlib
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} "  # informational lines of the C++ core
    r"|To enable the following instructions: .* rebuild TensorFlow"  # the second line of the CPU-feature notice
    r"|[WE]\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas|cudart_stub|Unable to register cu"
    r"|computation placer already registered))"
)


def is_noise(line):
    """Whether a line of native start-up output is known chatter (never a real error)."""
    return bool(NOISE.match(line))


@contextlib.contextmanager
def quiet_native_startup():
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
