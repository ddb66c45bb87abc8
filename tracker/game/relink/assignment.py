"""Joint matching of the newcomers of one frame to the lost tracks, refusing near ties.

Several births in one frame are matched to the lost tracks together (Hungarian assignment on the
link costs, :mod:`tracker.game.relink.cost`). A matched pair is linked when its cost is at most 1
and no rival pair of the same newcomer or the same lost track comes within ``min_margin`` of it: a
near tie between two players is left as a fragment rather than guessed (a merge of two people is
worse than a broken ID).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def confident_pairs(cost: np.ndarray, min_margin: float) -> list[tuple[int, int]]:
    """``(newcomer row, lost column)`` pairs of ``cost`` (``(born, lost)``, inf: ruled out) to link,
    in the assignment's row order."""
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
    pairs = []
    for a, b in zip(rows, cols):
        rivals = np.concatenate([np.delete(cost[a], b), np.delete(cost[:, b], a)])
        if cost[a, b] <= 1.0 and not (rivals < cost[a, b] + min_margin).any():
            pairs.append((int(a), int(b)))
    return pairs
