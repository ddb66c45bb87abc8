"""Range checks for numeric options: one message shape for the CLI and the Python constructors."""

from __future__ import annotations

import math


def check_range(name: str, value, low: float, high: float | None = None) -> None:
    """Raise ``ValueError("<name> must be in [low, high], got <value>")`` unless ``low <= value <= high``
    (``high=None``: no upper bound). NaN and non-numbers are refused too.

    The CLI turns the error into a usage error (exit 2) naming ``--<name>``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value) \
        and value >= low and (high is None or value <= high)
    if not ok:
        span = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ValueError(f"{name} must be {'in ' if high is not None else ''}{span}, got {value!r}")
