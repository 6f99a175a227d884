"""Files that are never left half-written, and the one-line errors of the CLIs."""

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

from absl import app, flags, logging

DEFAULT_WORKDIR = "runs/mnist_resnet34"  # every CLI's default --workdir: the run make demo trains


class UsageError(Exception):
    """Bad input from the user: the CLIs print its message on one line and exit 2."""


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _fail(f"{error}; run with --helpfull for the valid flags")
    except Exception as error:  # the --config file or one of its --config.key overrides
        _fail(_config_problem(error, argv))


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
        raise UsageError(_config_problem(error, sys.argv)) from None


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


def run_cli(main):
    """Runs an absl ``main``; bad flags or a ``UsageError`` give one line and exit status 2."""

    def checked_main(argv):
        logging.set_verbosity(logging.ERROR)  # TensorFlow's INFO and retracing lines would bury the results
        try:
            main(argv)
        except UsageError as error:
            _fail(error)

    app.run(checked_main, flags_parser=_parse_flags)


def read_json(path, what):
    """Reads a JSON file, or raises a UsageError that names it and what it should hold."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"{what} {path} is unreadable or corrupt: {error}") from None


def load_model(path):
    """Loads a ``.keras`` file, or raises a UsageError that says what is wrong with it."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    if not is_complete_archive(path):
        raise UsageError(f"checkpoint {path} is truncated or corrupt: not a complete .keras archive")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds for a damaged archive.
        raise UsageError(f"checkpoint {path} is corrupt or not a Keras model: {str(error).splitlines()[0]}") from None


def is_complete_archive(path):
    """Whether a ``.keras`` file is a whole zip archive (a killed write leaves a truncated one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def writable_dir(path, what="output directory"):
    """Creates ``path`` if needed and checks that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"cannot write to the {what} {path}: {error.strerror or error}") from None
    return path


def atomic_write(path, write):
    """Calls ``write(temporary path)``, then renames the result onto ``path``.

    A reader sees either the old file or the whole new one, never a part.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, data):
    def write(tmp):
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")

    atomic_write(path, write)


def save_model(model, path):
    atomic_write(path, model.save)
