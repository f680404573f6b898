"""Overlapping work with threads: iterate a source ahead on one, write results behind on another.

Queues between the threads are bounded, so memory stays flat however long the stream is. Decoding, PNG and
video encoding release the GIL in their C code, so these threads run alongside the main thread's work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def in_background(items: Iterable[T], maxsize: int) -> Iterator[T]:
    """Iterate `items` on a worker thread, a bounded number ahead; its exceptions re-raise here."""
    buffer: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
        except BaseException as error:  # handed to the consumer
            buffer.put(error)
        buffer.put(_DONE)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(0.05)


class BackgroundWriter:
    """Runs `write(item)` for each submitted item on a worker thread, a bounded number behind."""

    def __init__(self, write: Callable[[T], None], maxsize: int) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as error:
                    self._error = error

    def submit(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def finish(self, *, check: bool = True) -> None:
        """Wait until everything submitted is written; re-raise the first write error unless check is False."""
        self._queue.put(_DONE)
        self._thread.join()
        if check and self._error is not None:
            raise self._error
