"""Two small thread helpers that take decoding and encoding off the critical path."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


class Prefetcher:
    """Runs an iterator in a background thread, ``maxsize`` items ahead; re-raises its errors."""

    def __init__(self, iterable: Iterable[Any], maxsize: int = 16) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(iterable),), daemon=True, name="decode")
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it: Iterator[Any]) -> None:
        try:
            for item in it:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer thread
            self._put(exc)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Worker:
    """Calls ``fn(item)`` for each submitted item in a background thread, in order.

    ``submit`` blocks when ``maxsize`` items wait (back-pressure). An error in
    ``fn`` is re-raised by the next ``submit`` or by ``join``.
    """

    def __init__(self, fn: Callable[[Any], None], maxsize: int = 32, name: str = "worker") -> None:
        self._fn = fn
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is None:
                try:
                    self._fn(item)
                except BaseException as exc:
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: Any) -> None:
        self._check()
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                self._check()
        self._check()

    def join(self) -> None:
        """Wait until every submitted item is done; re-raise the first error."""
        self._queue.put(_END)
        self._thread.join()
        self._check()
