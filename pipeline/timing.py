"""Wall time per pipeline stage (for the run summary and bench/)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager


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
