"""Wall time per pipeline stage (for the run summary and bench/)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager


#: Which thread runs each stage of :class:`~pipeline.core.Pipeline`. "decode" is the detect thread
#: waiting for decoded frames and "wait" the main thread waiting for detections (idle, not work).
STAGE_THREADS = {
    "decode": "detect", "detect": "detect",
    "wait": "main", "track": "main", "recognize": "main", "emit": "main",
    "render": "render", "convert": "convert", "encode": "encode",
}
WAITING = ("decode", "wait")


def busiest_thread(seconds: dict[str, float]) -> tuple[str, float] | None:
    """``(thread, seconds of work)`` of the thread with the most work: what bounds the run when the
    machine has a core for each thread. ``None`` when nothing was timed."""
    work: dict[str, float] = {}
    for stage, sec in seconds.items():
        if stage not in WAITING:
            thread = STAGE_THREADS.get(stage, "main")
            work[thread] = work.get(thread, 0.0) + sec
    return max(work.items(), key=lambda kv: kv[1]) if work else None


class StageTimer:
    """Accumulates seconds per stage name; safe to use from several threads.

    Stages are timed on the wall clock of the thread that runs them. A stage that
    uses the GPU ends by copying its results to the CPU (boxes, class probabilities),
    which waits for its kernels, so its time includes its GPU work without forcing
    a device-wide synchronisation that would stall the other threads' GPU work.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            with self._lock:
                self.seconds[stage] += dt

    def wrap(self, stage: str, iterable):
        """Charge the time spent waiting for each item of ``iterable`` to ``stage``."""
        it = iter(iterable)
        while True:
            with self(stage):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item

    def summary(self, frames: int) -> dict[str, dict[str, float]]:
        """``{stage: {"seconds": s, "fps": frames / s}}``, rounded."""
        return {k: {"seconds": round(v, 3), "fps": round(frames / v, 1) if v > 0 else None}
                for k, v in sorted(self.seconds.items())}
