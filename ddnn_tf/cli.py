"""What every ``python -m ddnn_tf.<command>`` shares: flags, the config flag, one-line errors and exit status 2."""

import sys

from absl import app, flags, logging

from ddnn_tf import errors

DEFAULT_WORKDIR = "runs/mnist_resnet34"  # every CLI's default --workdir: the run make demo trains


def _fail(message, status=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


HELP_FLAGS = ("--help", "-h", "--helpshort", "-?")


def _parse_flags(argv, command):
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        print(command_help(command))
        sys.exit(0)
    try:
        return flags.FLAGS(_config_by_name(argv))
    except errors.UsageError as error:
        _fail(error)
    except flags.Error as error:
        _fail(f"{error}; run with --helpfull for the valid flags")
    except Exception as error:  # the --config file or one of its --config.key overrides
        _fail(_config_problem(error, argv))


def _config_by_name(argv):
    """``argv`` with a ``--config NAME`` of a shipped config replaced by that config's path."""
    from ddnn_tf import config

    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            argv[i] = f"--config={config.resolve(arg.split('=', 1)[1])}"
        elif arg == "--config" and i + 1 < len(argv):
            argv[i + 1] = str(config.resolve(argv[i + 1]))
    return argv


def config_value(holder):
    """The value of an ml_collections ``--config`` flag, or a UsageError saying what is wrong with it.

    ml_collections loads the file when the value is first read, so a missing or
    broken file surfaces here rather than while parsing the flags.
    """
    try:
        value = holder.value
        value.keys()  # a file that failed to load yields a placeholder that raises on first use
        return value
    except Exception as error:
        raise errors.UsageError(_config_problem(error, sys.argv)) from None


def define_config_flag(default):
    """``--config``: an ml_collections config file, ``default`` unless given.

    ml_collections loads the default file and applies ``--config.key=``
    overrides while the flag is defined, before any ``main`` runs: a bad
    override there also gets its one line and exit status 2.
    """
    from ml_collections import config_flags

    try:
        return config_flags.DEFINE_config_file("config", str(default), "Experiment config file.")
    except Exception as error:
        _fail(_config_problem(error, sys.argv, str(default)))


def _config_problem(error, argv, default=None):
    """One line for what went wrong loading a config file or applying an override."""
    text = str(error)
    if isinstance(error, SyntaxError) or "SyntaxError" in text or "invalid syntax" in text:
        location = f" at line {error.lineno}" if isinstance(error, SyntaxError) else ""
        return f"config file {_config_path(argv, default)} has a syntax error{location}"
    if "get_config" in text:
        return "the config file defines no get_config(); it must return an ml_collections.ConfigDict"
    if isinstance(error, OSError):
        return f"cannot read the config file {_config_path(argv, default)}: it does not exist or is unreadable"
    if isinstance(error, (AttributeError, KeyError)):  # ml_collections' word for an unknown --config.key
        return (f"unknown config key {_unknown_override(argv, default) or text.strip(chr(34))}; "
                "see the config file and ddnn_tf/config.py for the valid keys")
    raise error


def _config_path(argv, default=None):
    """The ``--config`` file named in ``argv``, else ``default``, else the flag's default."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return default or flags.FLAGS["config"].default_as_str.strip("'")


def _unknown_override(argv, default=None):
    """The first ``--config.a.b=...`` of ``argv`` naming a key the config lacks, as ``a.b``."""
    from ddnn_tf.config import load

    try:
        config = load(_config_path(argv, default))
    except Exception:  # the file itself is what is wrong: the caller's message stands
        return None
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        key = arg[len("--config."):].split("=", 1)[0]
        node = config
        for part in key.split("."):
            if not hasattr(node, "keys") or part not in node:
                return key
            node = node[part]
    return None


def command_help(command):
    """``--help``: the command module's docstring, then its flags and ``--config`` where it has one.

    absl's own ``--help`` lists only the flags of ``sys.argv[0]``'s module,
    which for a console script is pip's launcher: none.
    """
    sections = [(command.__doc__ or "").strip(), "flags:"]
    for module in (command.__name__, __name__):  # the command's flags, then --config (defined here)
        listed = flags.FLAGS.module_help(module).split("\n", 2)
        if len(listed) > 2:
            sections.append(listed[2])
    if "config" in flags.FLAGS:
        from ddnn_tf import config

        sections.append(f"--config takes a config file or the name of a shipped one: {', '.join(config.shipped())}.")
    sections.append("--helpfull lists every flag, absl's and TensorFlow's included.")
    return "\n\n".join(sections)


def run_cli(main):
    """Runs an absl ``main``: bad flags or a ``UsageError`` give one line and exit status 2, a ``CommandFailed`` 1."""

    def checked_main(argv):
        logging.set_verbosity(logging.ERROR)  # TensorFlow's INFO and retracing lines would bury the results
        try:
            main(argv)
        except errors.UsageError as error:
            _fail(error)
        except errors.CommandFailed as error:
            _fail(error, status=1)

    command = sys.modules[main.__module__]
    app.run(checked_main, flags_parser=lambda argv: _parse_flags(argv, command))
