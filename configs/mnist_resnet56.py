"""ResNet-56 holding 20, 32 and 44, trained with EKD on the offline real MNIST: the CIFAR-family example.

A few minutes on 2 CPU cores:
    python -m ddnn_tf.train --config configs/mnist_resnet56.py --workdir runs/mnist_resnet56
"""

from ddnn_tf.config import mnist_config


def get_config():
    return mnist_config("resnet56", batch_size=64)
