"""Errors that the CLI reports as one line on stderr instead of a traceback."""


class VidganError(Exception):
    """A problem with the user's input or environment; the message names the file and the problem."""

    exit_code = 1


class UsageError(VidganError):
    """A bad flag or flag combination (exit code 2, like argument-parsing errors)."""

    exit_code = 2
