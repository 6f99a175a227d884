"""The two ways a command ends in error: bad input (exit status 2), or work that could not be done (1)."""


class UsageError(Exception):
    """Bad input from the user: the CLIs print its message on one line and exit 2."""


class CommandFailed(Exception):
    """The input was valid but the work failed (a file failed validation, the loss became NaN): one line, exit 1."""
