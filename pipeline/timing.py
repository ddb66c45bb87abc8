"""Wall time per pipeline stage (for the run summary and bench/)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager


class StageTimer:
    """Accumulates seconds per stage name; safe to use from the encode thread too.

    When ``sync`` is given (e.g. ``torch.cuda.synchronize``) it is called before a
    stage's clock stops, so asynchronous GPU work is charged to the stage that queued it.
    """

    def __init__(self, sync=None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._sync = sync

    @contextmanager
    def __call__(self, stage: str, sync: bool = True):
        """Time a block; ``sync=False`` for a stage that queues no GPU work (drawing, encoding on
        another thread), which must not wait for the GPU work other threads queued."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if sync and self._sync is not None:
                self._sync()
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
