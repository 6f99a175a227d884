"""Running and timing exported files with the LiteRT runtime alone: no TensorFlow, no Keras.

What a phone or an edge board needs, and all that ``python -m
ddnn_tf.benchmark`` imports: ``pip install ai-edge-litert numpy`` is enough
to run (``runner``) and time (``timing``) the files, and to run a confidence
cascade over them (``cascade``).
"""

from ddnn_tf.runtime.cascade import Cascade
from ddnn_tf.runtime.runner import QUANTIZE_MODES, Runner, op_names, read_metadata, validate

__all__ = ["QUANTIZE_MODES", "Cascade", "Runner", "op_names", "read_metadata", "validate"]
