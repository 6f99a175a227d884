"""The TFLite converter's settings for each quantize mode, written once.

It imports TensorFlow and nothing of ddnn_tf: the export (``convert``),
``bench/deployment.py`` and the tf_keras QAT worker, which loads this file by
its path (importing the package would load Keras 3), set their converters
up with it.
"""

import tensorflow as tf

def configure(converter, quantize, calibration, float_output):
    """Sets ``converter`` up for one quantize mode and returns it; ``calibration()`` yields converter samples.

    The modes are ``ddnn_tf.runtime.QUANTIZE_MODES``: float32 (as trained),
    float16 weights, dynamic-range int8 weights, or full int8.

    int8 is full-integer with builtin int8 kernels only (no Flex ops, no float
    fallback) and int8 logits unless ``float_output``. A uint8 pixel input
    needs no input type: only float inputs are quantized.
    """
    if quantize == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_output:
            converter.inference_output_type = tf.int8
    return converter
