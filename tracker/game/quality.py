"""Tracking-quality numbers for a run: how fragmented are the player IDs?

A perfect tracker on a clip where ``k`` players are visible throughout gives
``unique_ids == k`` and ``mean_tracked == k``: fragmentation 1. Every time a
player loses his ID and gets a new one, ``unique_ids`` grows while
``mean_tracked`` does not, so ``fragmentation = unique_ids / mean_tracked``
measures ID breaks (players entering and leaving the view also raise it a bit).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
import supervision as sv


class TrackingQuality:
    """Accumulates tracked detections frame by frame; :meth:`report` gives the numbers.

    Only rows with a ``tracker_id`` >= 0 count. Pass the players only (after the
    on-court filter; referees may be left out by the caller).
    """

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._frames = 0
        self._tracked = 0

    def update(self, detections: sv.Detections) -> None:
        """Add one frame (call it for every frame, also those with no detections)."""
        self._frames += 1
        if len(detections) == 0 or detections.tracker_id is None:
            return
        ids = {int(t) for t in np.asarray(detections.tracker_id) if t >= 0}
        self._ids |= ids
        self._tracked += len(ids)

    def report(self, identity: Callable[[int], Hashable] | None = None) -> dict:
        """``{"unique_ids": int, "mean_tracked": float, "fragmentation": float | None, "frames": int}``,
        plus ``identities`` and ``identity_fragmentation`` when ``identity`` is given.

        ``mean_tracked`` is the mean number of distinct tracked IDs per frame;
        ``fragmentation`` is ``unique_ids / mean_tracked`` (None when nothing was tracked).
        ``identity(id)`` says who an ID is (e.g. team + jersey number, or the ID itself when
        unknown); ``identities`` counts the distinct ones: IDs of one player count once.
        """
        mean = self._tracked / self._frames if self._frames else 0.0
        out = {
            "unique_ids": len(self._ids),
            "mean_tracked": mean,
            "fragmentation": len(self._ids) / mean if mean > 0 else None,
            "frames": self._frames,
        }
        if identity is not None:
            who = {identity(i) for i in self._ids}
            out["identities"] = len(who)
            out["identity_fragmentation"] = len(who) / mean if mean > 0 else None
        return out
