"""Files that are never left half-written, and reading them with errors that name the file."""

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

from ddnn_tf import errors


def read_json(path, what):
    """Reads a JSON file, or raises a UsageError that names it and what it should hold."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise errors.UsageError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise errors.UsageError(f"{what} {path} is unreadable or corrupt: {error}") from None


def load_model(path):
    """Loads a ``.keras`` file, or raises a UsageError that says what is wrong with it."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise errors.UsageError(f"checkpoint {path} does not exist")
    if not is_complete_archive(path):
        raise errors.UsageError(f"checkpoint {path} is truncated or corrupt: not a complete .keras archive")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds for a damaged archive.
        raise errors.UsageError(f"checkpoint {path} is corrupt or not a Keras model: {str(error).splitlines()[0]}") from None


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
        raise errors.UsageError(f"cannot write to the {what} {path}: {error.strerror or error}") from None
    return path


def atomic_write(path, write):
    """Calls ``write(temporary path)``, then renames the result onto ``path``.

    A reader sees either the old file or the whole new one, never a part, also
    after a power loss: the data reaches the disk before the rename does.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent)  # the rename itself


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_PROC_STATUS = Path("/proc/self/status")  # Linux shows the umask here; elsewhere it must be set to be read


def _umask():
    """The process's umask, read without setting it where Linux allows (setting it races other threads)."""
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def json_bytes(data):
    """``data`` as the JSON files ddnn_tf writes hold it: indented, in its own key order, a final newline."""
    return (json.dumps(data, indent=2) + "\n").encode()


def write_bytes(path, content):
    """Writes ``content`` to ``path`` whole or not at all (``atomic_write``)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(content))


def write_json(path, data):
    write_bytes(path, json_bytes(data))


def sha256(path):
    """The hex sha256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model, path):
    atomic_write(path, model.save)


LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive(directory, what):
    """Holds an exclusive lock on ``directory`` for the block, or raises a UsageError naming its holder.

    The lock is the kernel's (``flock`` on ``directory/.lock``), so it dies with
    the process that held it: a crashed run leaves only a stale file, which
    the next run takes over.
    """
    path = Path(directory) / LOCK_FILE
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise errors.UsageError(
            f"{directory} is in use by another {what} (PID {holder}); wait for it to finish or use another --workdir"
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
