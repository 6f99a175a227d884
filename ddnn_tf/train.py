"""Trains a DDNN from a config file.

    python -m ddnn_tf.train --config configs/mnist_resnet34.py --workdir runs/mnist_resnet34 \\
        [--config.mode=independent] [--config.epochs=3] ...

Any config value can be overridden with ``--config.key=value``. Running the
same command again after an interruption resumes from the last completed
epoch. Ends with the per-depth results table of ``python -m ddnn_tf.evaluate``.
"""

from pathlib import Path

from absl import flags

from ddnn_tf import cli, errors

# The checkout's default config, found from any working directory.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist_resnet34.py"
_CONFIG = cli.define_config_flag(DEFAULT_CONFIG)
_WORKDIR = flags.DEFINE_string("workdir", cli.DEFAULT_WORKDIR, "Directory of the run.")


def main(argv):
    from ddnn_tf.training import evaluation, trainer  # here, so that --help does not import TensorFlow

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; flags are --config and --workdir")
    if trainer.train(cli.config_value(_CONFIG), _WORKDIR.value):  # the chief reports; other workers only train
        evaluation.report([_WORKDIR.value], latency=False)


def command():
    """``python -m ddnn_tf.train`` and the ``ddnn-train`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
