"""The tracker contract and the factory that builds one by name.

A tracker turns one frame's person detections into the same detections with a
stable ``tracker_id`` per player. Both implementations keep their state on the
instance (no module-level counters), so two trackers never share IDs.
"""

from __future__ import annotations

import inspect
import math
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv

from tracker.common.errors import UsageError

TRACKER_NAMES = ("bytetrack", "sort")


@runtime_checkable
class Tracker(Protocol):
    """What the pipeline needs from a multi-object tracker.

    Attributes:
        max_age: frames a lost track is kept before it is dropped; the
            :class:`tracker.tracking.tubes.TubeBuilder` closes tubes after the same number
            and :class:`pipeline.players.PlayerTracking` re-links over twice as many. A
            larger value carries players through longer occlusions but holds frames longer
            in the pipeline's buffer (labels are final later).
    """

    max_age: int

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections:
        """Track one frame.

        Args:
            detections: this frame's detections (``xyxy`` ``(N, 4)``, optional
                ``confidence`` ``(N,)``, ``class_id`` ``(N,)`` and ``data``).
            frame: the ``(H, W, 3)`` image, for trackers that look at pixels
                (ours do not; accepted so callers need not know).

        Returns:
            The input rows that belong to a confirmed track this frame, in input
            order, with ``tracker_id`` ``(M,)`` int >= 1 set (the tracker's own IDs:
            :data:`tracker.game.identity.RawId`, before any re-linking); ``xyxy``,
            ``confidence``, ``class_id`` and ``data`` are the input's rows.
        """
        ...

    def reset(self) -> None:
        """Forget every track; IDs start at 1 again."""
        ...


def default_max_age(fps: float, seconds: float = 1.0) -> int:
    """Frames in ``seconds`` of video at ``fps`` (at least 1): the default lost-track buffer."""
    return max(1, int(round(fps * seconds)))


def tracked_rows(detections: sv.Detections, rows: list[int], ids: list[int]) -> sv.Detections:
    """The ``rows`` of ``detections`` (sorted back to input order) with ``tracker_id`` = ``ids``.

    Args:
        detections: the frame's input detections.
        rows: input row index of each tracked detection.
        ids: the tracker ID of each, same length as ``rows``.
    """
    rows_arr = np.asarray(rows, dtype=np.int64)
    ids_arr = np.asarray(ids, dtype=np.int64)
    order = np.argsort(rows_arr, kind="stable")
    out = detections[rows_arr[order]]
    out.tracker_id = ids_arr[order]
    return out


def valid_box_mask(xyxy: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the ``(N, 4)`` xyxy boxes that are finite with positive width and height."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(xyxy).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])


def make_tracker(name: str, fps: float, **options) -> Tracker:
    """Build the tracker called ``name`` ("bytetrack" or "sort") for a video at ``fps``.

    ``options`` go to the tracker's constructor (e.g. ``max_age``, ``min_hits``,
    ``iou_threshold`` for SORT; ``max_age``, ``track_activation_threshold``,
    ``minimum_matching_threshold`` for ByteTrack). ``max_age`` defaults to one
    second of frames.

    Raises:
        UsageError: unknown name, bad fps, or an option the tracker does not take.
    """
    from tracker.tracking.bytetrack import ByteTrackTracker
    from tracker.tracking.sort import SortTracker

    classes = {"bytetrack": ByteTrackTracker, "sort": SortTracker}
    cls = classes.get(name)
    if cls is None:
        raise UsageError(None, f"unknown tracker {name!r}; choose one of {', '.join(TRACKER_NAMES)}")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(None, f"tracker {name!r} needs a positive fps, got {fps!r}")
    try:
        inspect.signature(cls).bind(fps=fps, **options)
    except TypeError as exc:
        raise UsageError(None, f"tracker {name!r}: {exc}") from None
    try:
        return cls(fps=fps, **options)
    except ValueError as exc:
        raise UsageError(None, f"tracker {name!r}: {exc}") from None
