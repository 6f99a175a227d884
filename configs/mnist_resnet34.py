"""ResNet-34 holding ResNet-18 at half width, trained with EKD on the offline real MNIST: the default run.

``make demo`` trains it, then ``python -m ddnn_tf.export_tflite --depth 18``
exports ResNet-18 with no other flag (the run is the CLIs' default workdir):
    python -m ddnn_tf.train --config configs/mnist_resnet34.py --workdir runs/mnist_resnet34
"""

from ddnn_tf.config import base_config


def get_config():
    config = base_config()
    config.data.name = "mnist"
    config.data.batch_size = 64
    config.data.train_examples = 10_000
    config.data.augment = "none"  # digits are not flipped or shifted
    config.model.arch = "resnet34"
    config.model.stem = "cifar"  # 32x32 digits: a 3x3 stem, no max-pool
    config.model.width = 0.5  # channels 32/64/128/256: the demo fits in minutes on 2 CPU cores
    config.optimizer.name = "adamw"
    config.optimizer.learning_rate = 0.002
    config.optimizer.weight_decay = 1e-4
    config.optimizer.warmup_epochs = 0.1
    return config
