"""Decoded image arrays kept between runs, outside the repository, keyed by their source's checksum.

Decoding CIFAR-10's 60,000 JPEGs takes most of a minute; reading the arrays
back takes a fraction of a second. The folder is ``$DDNN_TF_CACHE``, else
``$XDG_CACHE_HOME/ddnn_tf``, else ``~/.cache/ddnn_tf``. A source that
changes gets a new checksum, so a stale entry is never read; deleting the
folder is always safe.
"""

import os
import zipfile
from pathlib import Path

import numpy as np

from ddnn_tf import files


def directory():
    if os.environ.get("DDNN_TF_CACHE"):
        return Path(os.environ["DDNN_TF_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ddnn_tf"


def arrays(name, checksum, decode):
    """``decode()``'s ``{key: numpy array}``, read from the cache when it holds ``name`` at ``checksum``.

    A cache that cannot be written (a read-only home) only costs the decoding
    next time. A damaged entry (truncated, or not an ``.npz`` at all) is
    decoded again and replaced.
    """
    path = directory() / f"{name}-{checksum[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return {key: stored[key] for key in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            pass
    decoded = decode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write(path, lambda tmp: _save(tmp, decoded))
    except OSError:
        pass
    return decoded


def _save(path, decoded):
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez(f, **decoded)
