"""Export: each depth to a validated TFLite file (``convert``), int8 by quantization-aware training (``qat``, with ``qat_worker`` in Keras 2)."""
