"""A compact append-only table of numbers (amortised O(1) appends, numpy storage)."""

from __future__ import annotations

import numpy as np


class GrowingArray:
    """Rows of ``width`` numbers of one dtype, appended one at a time.

    Storage doubles when full, so a long game costs a few bytes per row instead of a
    Python tuple per row. :meth:`drop_front` forgets old rows (for ring-like use).
    """

    def __init__(self, width: int, dtype: type) -> None:
        self._data = np.empty((16, width), dtype=dtype)
        self._n = 0

    def append(self, row) -> None:
        if self._n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = row
        self._n += 1

    def drop_front(self, n: int) -> None:
        """Forget the first ``n`` rows."""
        n = min(n, self._n)
        self._data[: self._n - n] = self._data[n : self._n]
        self._n -= n

    def __len__(self) -> int:
        return self._n

    def view(self) -> np.ndarray:
        """``(len, width)`` view of the rows (valid until the next append)."""
        return self._data[: self._n]
