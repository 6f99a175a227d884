"""The one exception of bad input."""


class UsageError(Exception):
    """Bad input from the user: the CLIs print its message on one line and exit 2."""
