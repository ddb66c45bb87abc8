"""ByteTrack through Roboflow's ``trackers`` package (the home of supervision's former ``sv.ByteTrack``).

A thin adapter to our :class:`tracker.tracking.base.Tracker` contract: IDs from 1, only
tracked rows, in input order, with the frame budget ``max_age`` expressed in
frames of this video.
"""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker as _LibraryByteTrack

from tracker.tracking.base import default_max_age, tracked_rows, valid_box_mask

_ROW = "_bball_row"


class ByteTrackTracker:
    """ByteTrack: high-score detections matched first, low-score ones only extend tracks.

    Args:
        fps: frame rate of the video; sets the default ``max_age`` and the library's own
            frame-rate scaling.
        max_age: frames a lost track is kept (default: one second of frames). Raising it
            handles longer occlusions (fewer broken IDs) at the risk of re-attaching a lost
            ID to someone else; lowering it drops lost tracks sooner (more new IDs after
            occlusions). Tubes close after the same number.
        track_activation_threshold: score a detection needs to start a track. Raising it
            starts tracks only on confident detections (fewer false tracks, players seen
            at low confidence are missed); lowering it tracks more of them, noise included.
        high_conf_det_threshold: detections at or above this score are matched in the first
            stage; the rest only in the second (extending tracks, never starting them).
            Raising it leans more on the cautious second stage; lowering it lets weaker
            detections compete with strong ones in the first.
        minimum_consecutive_frames: matches before a new track is reported. Raising it hides
            short-lived false tracks but shows new players later; lowering it reports at once.
        minimum_iou_threshold: lowest IoU accepted in matching. Raising it demands closer
            overlaps (fast movers may get new IDs); lowering it keeps fast movers tracked
            but lets neighbours swap IDs more easily.
    """

    def __init__(
        self,
        fps: float,
        max_age: int | None = None,
        track_activation_threshold: float = 0.5,
        high_conf_det_threshold: float = 0.5,
        minimum_consecutive_frames: int = 2,
        minimum_iou_threshold: float = 0.1,
    ) -> None:
        if max_age is not None and int(max_age) < 0:
            raise ValueError("max_age must be >= 0")
        self.fps = float(fps)
        self.max_age = default_max_age(fps) if max_age is None else int(max_age)
        self._options = dict(
            # the library counts its buffer in 30-fps frames and rescales by frame_rate
            lost_track_buffer=max(0, int(round(self.max_age * 30.0 / self.fps))),
            frame_rate=self.fps,
            track_activation_threshold=float(track_activation_threshold),
            high_conf_det_threshold=float(high_conf_det_threshold),
            minimum_consecutive_frames=int(minimum_consecutive_frames),
            minimum_iou_threshold=float(minimum_iou_threshold),
        )
        self.reset()

    def reset(self) -> None:
        self._tracker = _LibraryByteTrack(**self._options)
        self._fresh = True

    def _first_update(self, dets: sv.Detections) -> sv.Detections:
        """The first frame with people (of a video, or after :meth:`reset`): like the original
        ByteTrack, whose first frame activates its tracks at once, every detection above the
        activation threshold is reported from this frame, not from the next one. The library
        starts a track unconfirmed, so the frame is shown to it twice (zero motion: the second
        showing only confirms what the first started)."""
        self._tracker.update(dets)
        self._fresh = False
        return self._tracker.update(dets)

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None) -> sv.Detections:
        keep = np.flatnonzero(valid_box_mask(detections.xyxy)) if len(detections) else np.zeros(0, int)
        dets = detections[keep] if len(keep) != len(detections) else detections
        if dets.confidence is None:
            dets.confidence = np.ones(len(dets), np.float32)
        dets.data[_ROW] = keep
        out = self._first_update(dets) if self._fresh and len(dets) else self._tracker.update(dets)
        ok = out.tracker_id >= 0 if out.tracker_id is not None else np.zeros(len(out), bool)
        rows = out.data[_ROW][ok].tolist() if len(out) else []
        ids = (out.tracker_id[ok] + 1).tolist() if len(out) else []
        del dets.data[_ROW]
        return tracked_rows(detections, rows, ids)
