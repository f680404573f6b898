"""Errors that the CLI reports as one line on stderr instead of a traceback, and how interruptions arrive."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


class VidganError(Exception):
    """A problem with the user's input or environment; the message names the file and the problem."""

    exit_code = 1


class UsageError(VidganError):
    """A bad flag or flag combination (exit code 2, like argument-parsing errors)."""

    exit_code = 2


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so a job stopped by `kill` or a scheduler cleans up (and saves) as on Ctrl-C."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
