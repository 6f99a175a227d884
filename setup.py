"""ddnn_tf's packaging lives in pyproject.toml; this file lets older tools that call setup.py directly install it."""

from setuptools import setup

setup()
