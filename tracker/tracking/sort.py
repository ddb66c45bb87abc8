"""SORT (Bewley et al., 2016) on filterpy's Kalman filter.

Each track is a constant-velocity Kalman filter over the box state
``(cx, cy, area, aspect, vcx, vcy, varea)`` (aspect = width / height, assumed
constant), observed as ``(cx, cy, area, aspect)``. Every frame the tracks
predict, detections are assigned to predictions by the Hungarian algorithm on
IoU (``scipy.optimize.linear_sum_assignment``), pairs below ``iou_threshold``
are rejected, unmatched detections start new tracks, and tracks unseen for more
than ``max_age`` frames are dropped.

Differences from the reference implementation, all deliberate:

* the box returned for a matched track is the *detection's* box, not the
  filter's estimate, and every row keeps its ``confidence``/``class_id``/``data``;
* IDs come from a counter on the instance (no global state) and are handed out
  when a track is first confirmed, so tentative tracks that die burn no IDs;
* a track is confirmed after ``min_hits`` consecutive hits (or, as in the
  reference, while the video is in its first ``min_hits`` frames) and stays
  confirmed: a player re-found after a short loss is shown at once rather than
  vanishing for another ``min_hits`` frames;
* invalid detections (non-finite, zero width or height) are ignored, and a
  track whose filter state turns non-finite is dropped.
"""

from __future__ import annotations

import itertools

import numpy as np
import supervision as sv
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from tracker.tracking.base import default_max_age, tracked_rows, valid_box_mask


def xyxy_to_z(box: np.ndarray) -> np.ndarray:
    """``(4,)`` xyxy -> ``(4, 1)`` measurement ``(cx, cy, area, aspect)``."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([[box[0] + w / 2.0], [box[1] + h / 2.0], [w * h], [w / h]], dtype=np.float64)


def x_to_xyxy(x: np.ndarray) -> np.ndarray | None:
    """State ``(7, 1)`` or ``(7,)`` -> ``(4,)`` xyxy, or ``None`` when it is not a real box."""
    cx, cy, area, aspect = np.asarray(x, dtype=np.float64).reshape(-1)[:4]
    if not (np.isfinite([cx, cy, area, aspect]).all() and area > 0 and aspect > 0):
        return None
    w = np.sqrt(area * aspect)
    h = area / w
    return np.array([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])


class KalmanBoxTrack:
    """One track: a 7-state constant-velocity Kalman filter plus hit bookkeeping.

    Attributes:
        tracker_id: ``None`` until the track is confirmed, then its ID.
        hits: total updates; hit_streak: updates without a missed frame between;
        time_since_update: frames since the last update (0 on a matched frame).
        score: confidence of the last matched detection.
    """

    def __init__(self, box: np.ndarray, score: float = 1.0) -> None:
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.eye(7)
        kf.F[0, 4] = kf.F[1, 5] = kf.F[2, 6] = 1.0
        kf.H = np.eye(4, 7)
        # The reference SORT's noise settings: unsure of scale measurements,
        # very unsure of the unobserved initial velocities, slow velocity drift.
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4] = xyxy_to_z(box)
        self.kf = kf
        self.tracker_id: int | None = None
        self.hits = 1
        self.hit_streak = 1
        self.time_since_update = 0
        self.score = float(score)

    @property
    def confirmed(self) -> bool:
        return self.tracker_id is not None

    def predict(self) -> np.ndarray | None:
        """Advance one frame; return the predicted ``(4,)`` xyxy, or ``None`` if the state broke."""
        if self.kf.x[2, 0] + self.kf.x[6, 0] <= 0:  # keep the predicted area positive
            self.kf.x[6, 0] = 0.0
        self.kf.predict()
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        if not np.isfinite(self.kf.x).all():
            return None
        return x_to_xyxy(self.kf.x)

    def update(self, box: np.ndarray, score: float = 1.0) -> None:
        """Correct the filter with a matched detection ``box`` ``(4,)`` xyxy."""
        self.kf.update(xyxy_to_z(box))
        self.hits += 1
        self.hit_streak += 1
        self.time_since_update = 0
        self.score = float(score)

    @property
    def box(self) -> np.ndarray | None:
        """The filter's current ``(4,)`` xyxy estimate (``None`` if broken)."""
        return x_to_xyxy(self.kf.x)


def associate(
    cost: np.ndarray, max_cost: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost one-to-one assignment, rejecting pairs that cost more than ``max_cost``.

    Args:
        cost: ``(R, C)`` cost matrix (e.g. ``1 - IoU``).
        max_cost: the dearest acceptable pair.

    Returns:
        ``(matches, unmatched_rows, unmatched_cols)``; ``matches`` are ``(row, col)`` pairs.
    """
    n_rows, n_cols = cost.shape
    matches: list[tuple[int, int]] = []
    if n_rows and n_cols:
        rows, cols = linear_sum_assignment(cost)
        matches = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= max_cost]
    matched_rows = {r for r, _ in matches}
    matched_cols = {c for _, c in matches}
    return (
        matches,
        [r for r in range(n_rows) if r not in matched_rows],
        [c for c in range(n_cols) if c not in matched_cols],
    )


def iou_cost(track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """``(T, D)`` cost ``1 - IoU`` between ``(T, 4)`` and ``(D, 4)`` xyxy boxes."""
    if len(track_boxes) == 0 or len(det_boxes) == 0:
        return np.ones((len(track_boxes), len(det_boxes)))
    return 1.0 - sv.box_iou_batch(np.asarray(track_boxes, float), np.asarray(det_boxes, float)).astype(np.float64)


class SortTracker:
    """SORT: Kalman prediction + Hungarian IoU assignment.

    Args:
        fps: frame rate of the video; sets the default ``max_age`` (one second of frames).
        max_age: frames a track may go unmatched before it is dropped (default: one second
            of frames). Raising it carries players through longer occlusions and missed
            detections (fewer broken IDs), but a dead track's prediction drifts and may
            catch someone else; lowering it drops lost tracks sooner (more new IDs after
            occlusions, fewer wrong re-associations). Tubes close after the same number.
        min_hits: consecutive matches before a track is confirmed and reported. Raising it
            suppresses tracks of one-off false detections but shows real players a few frames
            later; lowering it (to 1) reports every detection at once, false ones included.
        iou_threshold: the smallest IoU between a prediction and a detection that may be
            matched. Raising it demands a close overlap (fast movers lose their track and
            get new IDs); lowering it keeps fast movers but lets nearby players swap IDs.
    """

    def __init__(
        self, fps: float = 30.0, max_age: int | None = None, min_hits: int = 3, iou_threshold: float = 0.3
    ) -> None:
        if max_age is not None and max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        self.fps = float(fps)
        self.max_age = default_max_age(fps) if max_age is None else int(max_age)
        self.min_hits = int(min_hits)
        self.iou_threshold = float(iou_threshold)
        self.reset()

    def reset(self) -> None:
        self._tracks: list[KalmanBoxTrack] = []
        self._frame_count = 0
        self._ids = itertools.count(1)

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections:
        """Track one frame; see :class:`tracker.tracking.base.Tracker`. ``frame`` is not used."""
        self._frame_count += 1
        predicted = [(track, track.predict()) for track in self._tracks]
        self._tracks = [track for track, box in predicted if box is not None]
        track_boxes = np.array([box for _, box in predicted if box is not None]).reshape(-1, 4)

        xyxy = np.asarray(detections.xyxy, dtype=np.float64).reshape(-1, 4)
        scores = detections.confidence if detections.confidence is not None else np.ones(len(xyxy))
        rows = np.flatnonzero(valid_box_mask(xyxy))

        matches, _, new_dets = associate(iou_cost(track_boxes, xyxy[rows]), 1.0 - self.iou_threshold)
        out_rows: list[int] = []
        out_ids: list[int] = []
        for t, d in matches:
            track, row = self._tracks[t], int(rows[d])
            track.update(xyxy[row], scores[row])
            if track.box is None:  # the correction broke the state
                continue
            if self._confirm(track):
                out_rows.append(row)
                out_ids.append(track.tracker_id)
        for d in new_dets:
            row = int(rows[d])
            track = KalmanBoxTrack(xyxy[row], scores[row])
            self._tracks.append(track)
            if self._confirm(track):
                out_rows.append(row)
                out_ids.append(track.tracker_id)
        self._tracks = [
            t for t in self._tracks if t.time_since_update <= self.max_age and t.box is not None
        ]
        return tracked_rows(detections, out_rows, out_ids)

    def _confirm(self, track: KalmanBoxTrack) -> bool:
        """Confirm ``track`` (giving it an ID) if it has earned it; return whether it is confirmed."""
        if not track.confirmed and (track.hit_streak >= self.min_hits or self._frame_count <= self.min_hits):
            track.tracker_id = next(self._ids)
        return track.confirmed
