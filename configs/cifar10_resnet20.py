"""ResNet-20 at half width holding ResNet-8 and -14 on CIFAR-10: the CIFAR-10 study's recipe.

Channels 8/16/32; 45,000 training images (a seeded 5,000 of the 50,000 are
validation), 4-pixel crop and flip, SGD 0.1 with momentum 0.9 and weight
decay 5e-4, one epoch of linear warm-up, cosine decay to 0 over 10 epochs,
mixed_bfloat16 (faster on a CPU with AVX512_BF16 at equal accuracy, measured in
bench/cifar10_throughput.py and the study's pilot; where a CPU lacks it, bfloat16
is emulated and --config.precision=float32 is several times faster). Every depth
trains with cross-entropy alone (mode=joint), the one-model recipe best on the
study's validation images; --config.mode=ekd is the paper's distillation, which in
the study lifted ResNet-8 by 1.0 point and cost ResNet-20 3.5, and with
--config.ekd.at_weight=0 (its KL term alone) lifted ResNet-8 by 2.5 and cost
ResNet-20 1.5 (docs/results.md, section 1b). Every arm of the study
(bench/cifar10_study.py, docs/results.md) is this config with a few
overrides. About 35 minutes on one CPU core, 25 on two:
    python -m ddnn_tf.train --config configs/cifar10_resnet20.py --workdir runs/cifar10_resnet20 \\
        --config.data.archive=cifar-10-python.tar.gz
with the original archive from https://www.cs.toronto.edu/~kriz/cifar.html (or a
tarball of JPEGs in train/<class>/ and test/<class>/, as the study used).
"""

from ddnn_tf.config import cifar_config


def get_config():
    config = cifar_config("cifar10", "resnet20", epochs=10)
    config.model.depths = (8, 14)
    config.model.width = 0.5
    config.precision = "mixed_bfloat16"
    config.bn_recalibration_batches = 0  # BN keyed by path: every depth keeps its own statistics
    return config
