"""Trains a DDNN from a config file.

    python -m ddnn_tf.train --config mnist_resnet34 --workdir runs/mnist_resnet34 \\
        [--config.mode=independent] [--config.epochs=3] ...

``--config`` is a config file or the name of a shipped one (``configs/*.py``
in a checkout, installed with the package as ``ddnn_tf.configs``); the
default is ``mnist_resnet34``, from any folder.

Any config value can be overridden with ``--config.key=value``. Running the
same command again after an interruption resumes from the last completed
epoch; a changed config is refused, but for the keys that change no training
(data.eval_examples, bn_recalibration_batches, tpu, cluster_timeout_s). To
train a finished run longer, or on other data, start a new run from its
weights: ``--init_from RUN --workdir NEW --config.epochs=N``. Ends with the
per-depth results table of ``python -m ddnn_tf.evaluate``.
"""

from absl import flags

from ddnn_tf import cli, config, errors

DEFAULT_CONFIG = config.shipped()[config.DEFAULT]  # installed with the package: found from any folder
_CONFIG = cli.define_config_flag(DEFAULT_CONFIG)
_WORKDIR = flags.DEFINE_string("workdir", cli.DEFAULT_WORKDIR, "Directory of the run.")
_INIT_FROM = flags.DEFINE_string("init_from", None, "A finished run of the same model whose weights a new run starts "
                                 "from, with its own config's schedule (to train longer: --config.epochs=N); "
                                 "run.json records the file and its sha256.")


def main(argv):
    from ddnn_tf.training import evaluation, trainer  # here, so that --help does not import TensorFlow

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; flags are --config, --workdir and "
                                "--init_from")
    if trainer.train(cli.config_value(_CONFIG), _WORKDIR.value, _INIT_FROM.value):  # the chief reports; other workers only train
        evaluation.report([_WORKDIR.value], latency=False)


def command():
    """``python -m ddnn_tf.train`` and the ``ddnn-train`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
