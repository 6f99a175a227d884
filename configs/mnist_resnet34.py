"""ResNet-34 holding ResNet-18 at half width, trained on the offline real MNIST: the default run.

Joint training, the measured default (docs/results.md, section 2); add
``--config.mode=ekd`` for the paper's distillation. ``make demo`` trains it, then ``python -m ddnn_tf.export_tflite --depth 18``
exports ResNet-18 with no other flag (the run is the CLIs' default workdir):
    python -m ddnn_tf.train --config configs/mnist_resnet34.py --workdir runs/mnist_resnet34
"""

from ddnn_tf.config import mnist_config


def get_config():
    config = mnist_config("resnet34", batch_size=64)
    config.model.stem = "cifar"  # 32x32 digits: a 3x3 stem, no max-pool
    config.model.width = 0.5  # channels 32/64/128/256: the demo fits in minutes on 2 CPU cores
    return config
