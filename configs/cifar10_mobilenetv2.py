"""MobileNetV2 at width 0.5 holding its 23- and 38-layer versions on CIFAR-10: the phone's own network.

A sub-net keeps the first blocks of each inverted-residual stage (at most two
per stage at depth 38, one at depth 23), as once-for-all's elastic depth
does. The CIFAR variant: the stem and the second stage at stride 1, so the
last stage sees 4x4 pixels; at width 0.5 the full net has 700,490 trainable
parameters (719,034 weights with the BN statistics), exactly
keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.5, classes=10,
weights=None). The data, augmentation and schedule are the
CIFAR-10 ResNet config's (configs/cifar10_resnet20.py): 45,000 training
images, crop and flip, SGD 0.1 with one epoch of warm-up and cosine decay over
10 epochs, every depth trained by cross-entropy (mode=joint). Train, then
export every depth:
    python -m ddnn_tf.train --config configs/cifar10_mobilenetv2.py --workdir runs/cifar10_mobilenetv2 \\
        --config.data.archive=cifar-10-python.tar.gz
    python -m ddnn_tf.export_tflite --workdir runs/cifar10_mobilenetv2 --depth all
"""

import ml_collections

from ddnn_tf.config import cifar_config


def get_config():
    config = cifar_config("cifar10", "mobilenet_v2", epochs=10)
    config.model = ml_collections.ConfigDict({
        "family": "mobilenet_v2",
        "arch": "mobilenet_v2",
        "depths": (),  # every named depth: 23, 38, 53
        "stem": "cifar",
        "bn": "path",
        "width": 0.5,
        "bn_momentum": 0.9,
        "heads": "shared",
    })
    config.precision = "mixed_bfloat16"
    config.bn_recalibration_batches = 0  # BN keyed by path: every depth keeps its own statistics
    return config
