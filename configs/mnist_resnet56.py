"""ResNet-56 holding 20, 32 and 44, trained with EKD on the offline real MNIST: the short study's recipe.

The original EKD recipe (full-net teacher from the first step, attention weight
50): the base of bench/reproduction.py, whose variants are overrides of it.
A few minutes on 2 CPU cores:
    python -m ddnn_tf.train --config configs/mnist_resnet56.py --workdir runs/mnist_resnet56
"""

from ddnn_tf.config import mnist_config


def get_config():
    config = mnist_config("resnet56", batch_size=64)
    config.mode = "ekd"
    config.model.bn = "private"
    config.ekd.at_weight = 50.0
    config.ekd.distill_start = 0.0
    config.ekd.distill_full = 0.0
    return config
