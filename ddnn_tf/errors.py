"""The two ways a command ends in error, bad input (exit status 2) or work that could not be done (1), and the checks of input."""

import contextlib
import math


class UsageError(ValueError):
    """Bad input: the CLIs print its message on one line and exit 2.

    A ``ValueError``, so that the library's own checks (``check_choice``,
    ``check_range``) serve its Python callers and its commands alike.
    ``key`` is the name of the value at fault, when one is.
    """

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


@contextlib.contextmanager
def under(prefix):
    """Re-raises a check's error as a UsageError, its value named ``prefix + key`` (``ekd.temperature``)."""
    try:
        yield
    except UsageError as error:
        if error.key is None:
            raise
        raise UsageError(str(error).replace(error.key, prefix + error.key, 1), prefix + error.key) from None
    except ValueError as error:
        raise UsageError(str(error)) from None


class CommandFailed(Exception):
    """The input was valid but the work failed (a file failed validation, the loss became NaN): one line, exit 1."""


def check_choice(what, value, choices):
    """Raises a UsageError unless ``value`` is one of ``choices``, naming them."""
    if value not in choices:
        raise UsageError(f"unknown {what} {value!r}; valid choices: {', '.join(map(str, choices))}", what)


def check_range(what, value, low, high=math.inf, low_inclusive=True):
    """Raises a UsageError unless ``low <= value <= high`` (``low < value`` if not ``low_inclusive``)."""
    above = value >= low if low_inclusive else value > low
    if not (above and value <= high):
        bound = f"{'at least' if low_inclusive else 'above'} {low}" + ("" if high == math.inf else f" and at most {high}")
        raise UsageError(f"{what} must be {bound}, got {value}", what)
