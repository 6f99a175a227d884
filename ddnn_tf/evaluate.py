"""Per-depth accuracy, size, cost and speed of trained runs.

    python -m ddnn_tf.evaluate --workdir runs/a [--workdir runs/b ...] [--out DIR]

Prints one table, writes ``results.json`` and ``accuracy_vs_macs.png`` (one
line per run, so EKD, joint and independent runs sit on one picture) into
``--out`` (default: the first workdir).
"""

from absl import flags

from ddnn_tf import cli, errors

_WORKDIRS = flags.DEFINE_multi_string("workdir", [cli.DEFAULT_WORKDIR], "Run directories to compare.")
_OUT = flags.DEFINE_string("out", None, "Where results.json and the plot go (default: the first workdir).")
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 30, "Timed single-image calls per depth.")


def main(argv):
    from ddnn_tf.training import evaluation  # here, so that --help does not import TensorFlow

    if len(argv) > 1:
        raise errors.UsageError(f"unexpected arguments {' '.join(argv[1:])}; flags are --workdir and --out")
    evaluation.report(_WORKDIRS.value, _OUT.value, latency_runs=_LATENCY_RUNS.value)


def command():
    """``python -m ddnn_tf.evaluate`` and the ``ddnn-evaluate`` console script."""
    cli.run_cli(main)


if __name__ == "__main__":
    command()
