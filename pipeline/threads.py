"""Small thread helpers that take decoding, drawing and encoding off the critical path; how many
native threads each library gets (:class:`ThreadPlan`)."""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_END = object()


class Prefetcher:
    """Runs an iterator in a background thread, ``maxsize`` items ahead; re-raises its errors."""

    def __init__(self, iterable: Iterable[Any], maxsize: int = 16, name: str = "decode") -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(iter(iterable),), daemon=True, name=name)
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
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if self._error is None and not self._cancelled:
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

    def join(self, cancel: bool = False) -> None:
        """Wait until every submitted item is done (``cancel``: dropped instead); re-raise the first error."""
        self._cancelled = self._cancelled or cancel
        self._queue.put(_END)
        self._thread.join()
        self._check()


class WorkerChain:
    """Items pass through ``fns`` in order, each function in its own :class:`Worker` thread.

    ``fns[k]``'s result is submitted to ``fns[k + 1]``; the last one's is dropped. Stages run
    concurrently on consecutive items, so the chain keeps up with its slowest stage rather than
    with the sum of them. An error in any stage is re-raised by the next :meth:`submit` or by
    :meth:`join`, which always stops every thread first (no stage is left using a resource
    the caller is about to release).
    """

    def __init__(self, fns: Sequence[Callable[[Any], Any]], maxsize: int = 16, names: Sequence[str] = ()) -> None:
        names = list(names) + [f"stage{k}" for k in range(len(names), len(fns))]
        self._workers: list[Worker] = []
        downstream: Worker | None = None
        for fn, name in reversed(list(zip(fns, names))):
            if downstream is not None:
                fn = _then_submit(fn, downstream)
            downstream = Worker(fn, maxsize=maxsize, name=name)
            self._workers.insert(0, downstream)

    def submit(self, item: Any) -> None:
        self._workers[0].submit(item)

    def join(self, cancel: bool = False) -> None:
        """Wait until every item has passed every stage (``cancel``: drop the items still waiting);
        re-raise the first error."""
        error: BaseException | None = None
        for worker in self._workers:  # in order: each one's last results reach the next before it ends
            try:
                worker.join(cancel=cancel)
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error


def _then_submit(fn: Callable[[Any], Any], downstream: Worker) -> Callable[[Any], None]:
    def stage(item: Any) -> None:
        downstream.submit(fn(item))

    return stage


@contextmanager
def interrupts_deferred():
    """Within the block SIGINT and SIGTERM are noted, not raised, so cleanup that must finish
    (stopping threads, deleting partial outputs) is not cut short by a second Ctrl-C; a signal
    that came is raised as ``KeyboardInterrupt`` when the block ends. Outside the main thread
    (where Python delivers no signals) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: came.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if came:
        raise KeyboardInterrupt


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a container's or ``taskset``'s share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """How many native worker threads each library gets, from the core count (one rule, applied
    where a run starts, never at import).

    The pipeline always runs six Python threads (decode, detect, main = track + recognise, draw,
    convert, encode); they mostly wait on each other and on native code, so what oversubscribes a
    small machine is the thread pools *inside* them. The rule, for ``cores`` usable cores:

    * ``detector`` = max(1, cores // 2): the detector's interpreter (LiteRT/XNNPACK ``num_threads``,
      ONNX Runtime ``intra_op_num_threads``, OpenVINO ``INFERENCE_NUM_THREADS``). It is the largest
      single cost on a CPU, but the other five threads need the other half (2 cores: 1 + 1);
    * ``torch`` = ``detector`` (``torch.set_num_threads``: a ``.pt`` detector on the CPU, R(2+1)D);
    * ``opencv`` = max(1, (cores - detector) // 2) (``cv2.setNumThreads``: colour conversion, camera
      motion, court masks run in the main, draw and convert threads at once, so each call gets a
      share of the cores the detector leaves; 2 cores: 1).

    With the detector on a GPU (``detector_on_cpu=False``) nothing shares the CPU with it: torch and
    OpenCV keep every core (their own defaults; the GPU path is unchanged). FFmpeg's codec threads
    (decode, libx264) are left to FFmpeg.
    """

    cores: int
    detector: int
    torch: int
    opencv: int

    @classmethod
    def for_cores(cls, cores: int | None = None, detector_on_cpu: bool = True) -> ThreadPlan:
        cores = usable_cores() if cores is None else max(1, int(cores))
        if not detector_on_cpu:
            return cls(cores=cores, detector=max(1, cores // 2), torch=cores, opencv=cores)
        detector = max(1, cores // 2)
        return cls(cores=cores, detector=detector, torch=detector, opencv=max(1, (cores - detector) // 2))

    def apply(self) -> None:
        """Set the process-wide pools (torch, OpenCV); the detector's is given to the detector."""
        import cv2
        import torch

        torch.set_num_threads(self.torch)
        cv2.setNumThreads(self.opencv)
