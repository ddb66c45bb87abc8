"""The re-linker's memory of where and how each output ID was last seen, carried with the camera.

When the caller gives the frame's camera motion (the ``(2, 3)`` affine from the previous frame's
pixels to this one's, e.g. :class:`~tracker.tracking.camera_motion.CameraMotionEstimator`), every
remembered position is moved with the picture, so a lost player's last position stays on the same
spot of the floor while the camera pans, and velocities are the players' own motion on the floor.
A track last seen touching the frame's edge left the picture: it is remembered for
``max_gap_frames_edge`` frames instead of ``max_gap_frames``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.game.identity import LinkedId, RawId
from tracker.game.relink.appearance import Looks
from tracker.game.relink.sighting import Sighting
from tracker.tracking.camera_motion import apply


@dataclass
class LastSeen:
    """An output ID's last sighting.

    Attributes:
        frame: the frame.
        feet: ``(2,)`` bottom-centre, pixels (of the current frame, once moved with the camera).
        height: box height, pixels.
        velocity: ``(2,)`` pixels per frame, smoothed; zero across a raw ID change or a cut.
        raw_id: the raw ID that wore it.
        team_hint: the last team hint seen, None when none was.
        looks: the track's appearance (:class:`~tracker.game.relink.appearance.Looks`).
        at_edge: the box touched the frame's edge.
    """

    frame: int
    feet: np.ndarray
    height: float
    velocity: np.ndarray
    raw_id: RawId
    team_hint: str | None
    looks: Looks
    at_edge: bool = False


def touches_edge(xyxy: np.ndarray, frame_size: tuple[int, int] | None) -> bool:
    """The box ``(x1, y1, x2, y2)`` touches the left, right or bottom edge of a frame of ``frame_size``
    ``(width, height)`` (within 2 pixels); False when the size is unknown."""
    if frame_size is None:
        return False
    w, h = frame_size
    x1, _, x2, y2 = (float(v) for v in xyxy)
    return x1 <= 2 or x2 >= w - 2 or y2 >= h - 2


class TrackMemory:
    """:class:`LastSeen` by output ID, forgotten after ``max_gap_frames`` (``max_gap_frames_edge``
    for a track last seen at the frame's edge); ``gallery_size`` appearance samples kept per track."""

    def __init__(self, max_gap_frames: int, max_gap_frames_edge: int, gallery_size: int) -> None:
        self.max_gap_frames = max_gap_frames
        self.max_gap_frames_edge = max_gap_frames_edge
        self.gallery_size = gallery_size
        self.last: dict[LinkedId, LastSeen] = {}

    def move_with_camera(self, camera: np.ndarray | None) -> None:
        """Carry every remembered position, velocity and height into this frame's pixels (``camera``:
        the ``(2, 3)`` affine from the previous frame, None for a still camera)."""
        if camera is None:
            return
        a = np.asarray(camera, np.float64)
        scale = float(np.sqrt(abs(np.linalg.det(a[:, :2])))) or 1.0
        for last in self.last.values():
            last.feet = apply(a, last.feet)[0]
            last.velocity = a[:, :2] @ last.velocity
            last.height *= scale

    def gap_limit(self, last: LastSeen) -> int:
        """How long ``last``'s track waits to be re-found (longer when it left by the edge)."""
        return self.max_gap_frames_edge if last.at_edge else self.max_gap_frames

    def lost(self, frame_index: int, in_use: set[LinkedId], since: int) -> list[LinkedId]:
        """The output IDs a newcomer may be linked to: not ``in_use``, unseen on this frame for at
        most their gap limit, last seen on or after frame ``since`` (the last cut)."""
        return [
            o
            for o, last in self.last.items()
            if o not in in_use and 0 < frame_index - last.frame <= self.gap_limit(last) and last.frame >= since
        ]

    def see(self, frame_index: int, out_id: LinkedId, row: Sighting, team: str | None, edge: bool,
            since: int) -> None:
        """Remember ``out_id`` seen as ``row``: its velocity smoothed when the same raw ID moved on
        since a frame on or after ``since`` (the last cut), zero otherwise; its team hint kept when the
        row has none; its look added to its looks when clean (the row's hint does not contradict
        ``team``, its team); ``edge``: the box touches the frame's edge."""
        prev = self.last.get(out_id)
        velocity = np.zeros(2)
        if prev is not None and frame_index > prev.frame and prev.frame >= since:  # not across a cut
            step = (row.feet - prev.feet) / (frame_index - prev.frame)
            velocity = 0.5 * prev.velocity + 0.5 * step if prev.raw_id == row.raw_id else np.zeros(2)
        hint = row.hint if row.hint is not None else (prev.team_hint if prev is not None else None)
        looks = prev.looks if prev is not None else Looks.empty(self.gallery_size)
        if row.look is not None and (row.hint is None or team is None or row.hint == team):  # a clean sample
            looks = looks.with_sample(row.look)
        self.last[out_id] = LastSeen(frame_index, row.feet, row.height, velocity, row.raw_id, hint, looks, edge)

    def expire(self, frame_index: int) -> None:
        """Forget the tracks unseen for longer than their gap limit."""
        for o in [o for o, last in self.last.items() if frame_index - last.frame > self.gap_limit(last)]:
            del self.last[o]

    def stop(self) -> None:
        """A camera cut: no remembered motion carries over."""
        for last in self.last.values():
            last.velocity = np.zeros(2)
