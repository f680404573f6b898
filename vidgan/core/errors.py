"""Errors that the CLI reports as one line on stderr instead of a traceback, and how interruptions arrive."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

# A repeated Ctrl-C this soon after the first is the same request: torchrun passes the terminal's Ctrl-C on to
# its workers, which the terminal has signalled already. A person pressing twice takes longer.
REPEAT_AFTER_SECONDS = 1.0


class VidganError(Exception):
    """A problem with the user's input or environment; the message names the file and the problem."""

    exit_code = 1


class UsageError(VidganError):
    """A bad flag or flag combination (exit code 2, like argument-parsing errors)."""

    exit_code = 2


class Interrupted(VidganError):
    """Stopped by Ctrl-C or SIGTERM; the message says what was kept (exit code 130, as shells report Ctrl-C)."""

    exit_code = 130


@contextlib.contextmanager
def _handling(signals: tuple[signal.Signals, ...], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Install `handler` for `signals` (those not ignored) and put the previous handlers back afterwards."""
    previous = {}
    try:
        for signum in signals:
            if signal.getsignal(signum) != signal.SIG_IGN:  # e.g. SIGINT of a job started in the background
                previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not in the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler_before is None else handler_before)  # None: not set from Python


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so a job stopped by `kill` or a scheduler cleans up (and saves) as on Ctrl-C."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with _handling((signal.SIGTERM,), handler):
        yield


class StopRequest:
    """Whether Ctrl-C or SIGTERM has asked the work under `interrupts_deferred` to stop at its next safe point."""

    def __init__(self, notice: Callable[[], None] | None) -> None:
        self.notice = notice
        self.first: float | None = None  # when the first signal came (time.monotonic)

    @property
    def requested(self) -> bool:
        return self.first is not None

    def handle(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
            if self.notice is not None:
                # The signal may arrive while this thread is itself writing to stderr; the notice is then skipped.
                with contextlib.suppress(RuntimeError):
                    self.notice()
        elif now - self.first >= REPEAT_AFTER_SECONDS:
            raise KeyboardInterrupt  # asked twice: stop at once


@contextlib.contextmanager
def interrupts_deferred(notice: Callable[[], None] | None = None) -> Iterator[StopRequest]:
    """Record Ctrl-C and SIGTERM instead of raising them, so the work can stop at a point where nothing is half-done
    (a KeyboardInterrupt raised at any instruction can cut a training step in two, or a queue between threads).

    The first signal sets `.requested` (and calls `notice`); another one, from a second later on, raises
    KeyboardInterrupt at once. Off the main thread signals cannot be handled, and nothing changes.
    """
    request = StopRequest(notice)
    with _handling((signal.SIGINT, signal.SIGTERM), request.handle):
        yield request
