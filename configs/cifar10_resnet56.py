"""The paper's CIFAR scale, for a GPU: ResNet-56 holding 20, 32 and 44 on CIFAR-10, 200 epochs.

SGD 0.1 with momentum 0.9 and weight decay 5e-4, one epoch of warm-up, cosine
decay; every depth trained with cross-entropy alone, the recipe best on
validation in both studies of docs/results.md (--config.mode=ekd for the
paper's distillation). XLA switches itself on with a GPU
(Keras's jit_compile="auto"; off on a CPU, where it is slower). One command:
    python -m ddnn_tf.train --config cifar10_resnet56 --workdir runs/cifar10_resnet56 \\
        --config.data.archive=cifar-10-python.tar.gz
(or with tensorflow-datasets' prepared cifar10 and no archive). Expected wall
time: about 1.6 times that of a ResNet-56 alone with the same recipe on the
same GPU (the DDNN step with distillation against ResNet-56's step, measured on
CPU in docs/results.md, section 4, bounds the joint step; not measured on a GPU here): about 80 minutes
where a ResNet-56 alone trains 200 CIFAR epochs in 50.
"""

from ddnn_tf.config import cifar_config


def get_config():
    return cifar_config("cifar10", "resnet56", epochs=200)
