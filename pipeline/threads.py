"""Small thread helpers that take decoding, drawing and encoding off the critical path; how many
native threads each library gets (:class:`ThreadPlan`)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_END = object()
_NOTHING = object()


class Prefetcher:
    """Runs an iterator in a background thread, ``maxsize`` items ahead; re-raises its errors.

    :meth:`close` returns only once the thread has stopped and closed the iterator (in its own
    thread), so whatever the iterator reads from (a decoder, a model) may be freed after it.
    ``check`` is called every 0.1 s while the consumer waits for an item (e.g. an interrupt check,
    :func:`interrupts_deferred`), so a consumer waiting on a slow stage still answers Ctrl-C.
    """

    def __init__(self, iterable: Iterable[Any], maxsize: int = 16, name: str = "decode",
                 check: Callable[[], None] | None = None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._check = check
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
        finally:
            close = getattr(it, "close", None)
            if close is not None:  # a generator's cleanup runs here, in the thread that ran it
                with contextlib.suppress(Exception):  # (its errors after the stop are of no use to anyone)
                    close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                item = _NOTHING
            if item is _NOTHING:  # (checked outside the except: its KeyboardInterrupt is not "during" queue.Empty)
                if self._check is not None:
                    self._check()
                if self._stop.is_set():
                    raise RuntimeError(f"the {self._thread.name} stage was closed while being read")
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the thread and wait until it has (it finishes the item it is making, however long that
        takes: what it uses must not be freed under it)."""
        self._stop.set()
        self._thread.join()


class Worker:
    """Calls ``fn(item)`` for each submitted item in a background thread, in order.

    ``submit`` blocks when ``maxsize`` items wait (back-pressure), calling ``check`` (if given)
    every 0.1 s meanwhile. An error in ``fn`` is re-raised by the next ``submit`` or by ``join``.
    """

    def __init__(self, fn: Callable[[Any], None], maxsize: int = 32, name: str = "worker",
                 check: Callable[[], None] | None = None) -> None:
        self._fn = fn
        self._wait_check = check
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
                pass
            self._check()
            if self._wait_check is not None:
                self._wait_check()
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
    the caller is about to release). ``check`` is called while :meth:`submit` waits (see :class:`Worker`).
    """

    def __init__(self, fns: Sequence[Callable[[Any], Any]], maxsize: int = 16, names: Sequence[str] = (),
                 check: Callable[[], None] | None = None) -> None:
        names = list(names) + [f"stage{k}" for k in range(len(names), len(fns))]
        self._workers: list[Worker] = []
        downstream: Worker | None = None
        for k, fn, name in reversed(list(zip(range(len(fns)), fns, names))):
            if downstream is not None:
                fn = _then_submit(fn, downstream)
            # only the first stage is fed by the caller's thread; the others by worker threads
            downstream = Worker(fn, maxsize=maxsize, name=name, check=check if k == 0 else None)
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


def _no_check() -> None:
    pass


@contextmanager
def interrupts_deferred() -> Iterator[Callable[[], None]]:
    """Within the block SIGINT and SIGTERM are only noted: the block's code raises ``KeyboardInterrupt``
    where it calls the ``check()`` this yields, at points of its choosing, never at whatever bytecode
    the main thread happens to be at.

    Why: Python raises a signal's ``KeyboardInterrupt`` in the main thread at an arbitrary point, also
    inside ``queue.Queue`` and ``threading.Condition`` code, which is not interrupt-safe: a lock can be
    left released or released twice, a wake-up lost. A queue shared with a worker thread then hangs or
    fails, a worker is not stopped, and cleanup frees a decoder or encoder while that worker is still
    inside it (a segfault). Cleanup inside the block is not cut short by a second signal either.

    When the block ends the previous handlers are back and a signal that came is delivered again to
    them (``signal.raise_signal``): Python's default SIGINT handler raises ``KeyboardInterrupt``, a
    caller's own handler does what it does. A signal ignored (``SIG_IGN``) stays ignored. Outside the
    main thread (where Python runs no signal handlers) it does nothing and ``check()`` never raises.
    """
    if threading.current_thread() is not threading.main_thread():
        yield _no_check
        return
    came: list[int] = []

    def note(signum, frame) -> None:
        came.append(signum)

    def check() -> None:
        if came:
            raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(sig)
            if handler is not signal.SIG_IGN and handler is not None:  # None: set outside Python, not restorable
                previous[sig] = handler
                signal.signal(sig, note)
        yield check
    finally:
        try:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        finally:  # again, in case a signal (to a handler already restored) cut the first pass short
            for sig, handler in previous.items():
                if signal.getsignal(sig) is note:
                    signal.signal(sig, handler)
        for sig in dict.fromkeys(came):  # once each, in the order they came
            signal.raise_signal(sig)


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

    @contextmanager
    def applied(self) -> Iterator[ThreadPlan]:
        """Torch's and OpenCV's pools sized for the block, then put back as they were (the libraries'
        settings are process-wide: a run must not leave a caller's changed). The detector's pool is
        given to the detector when it is made."""
        import cv2
        import torch

        before = torch.get_num_threads(), cv2.getNumThreads()
        torch.set_num_threads(self.torch)
        cv2.setNumThreads(self.opencv)
        try:
            yield self
        finally:
            torch.set_num_threads(before[0])
            cv2.setNumThreads(before[1])
