"""The ball and who has it.

:class:`BallTracker` follows the COCO "sports ball" detections with a small
constant-velocity Kalman filter (filterpy) on the ball's centre: it bridges short
misses with the prediction, and when several balls are detected it takes the one
nearest the prediction (gated, so a spare ball on the sideline does not capture
the track unless the real one stays lost).

:class:`PossessionTracker` turns ball positions and the tracked players into a
possession timeline: a player holds the ball when his *hands region* -- the
middle band of his box, widened to the sides -- is the nearest to the ball, within
a distance relative to his box height, for at least ``min_frames`` frames in a row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import supervision as sv
from filterpy.kalman import KalmanFilter

from tracker.common.coco import SPORTS_BALL


class BallTracker:
    """Constant-velocity Kalman track of the ball centre.

    Args:
        max_misses: frames without an accepted detection during which the predicted
            position is still returned; after that the track is dropped (None). Raising it
            bridges longer misses (a ball hidden in a hand or behind a player), but the
            prediction drifts and may hand possession to whoever it drifts to; lowering it
            reports "no ball" sooner.
        min_hits: detections a track needs before its predictions are trusted across a
            miss (a velocity from one or two detections sends the prediction astray);
            before that a missed frame returns None. Raising it bridges misses only for
            well-established tracks; lowering it bridges sooner, with wilder predictions.
        gate_diameters: a detection is accepted when it lies within this many ball
            diameters of the prediction, the gate growing by one diameter per missed frame.
            Raising it follows fast passes and shots (and lets a spare ball or a false
            detection capture the track); lowering it is stricter and restarts more often.
        reinit_after: consecutive frames with detections all outside the gate after
            which the track restarts on the best detection (the detector was right).
            Raising it resists a spare ball longer but follows a real jump later; lowering
            it jumps to the new position sooner.
        min_gate_px: smallest gate radius in pixels (tiny or distant balls). Raising it
            tolerates jitter on small balls; lowering it tightens the gate for them.
        ball_class_id: when the detections carry ``class_id``, only rows of this class
            are used (so the whole frame's detections may be passed).
        process_noise, measurement_noise: Kalman noise scales (pixels). Raising the process
            noise (or lowering the measurement noise) makes the track follow the detections
            closely, turns and bounces included, jitter too; the other way round smooths it
            and lags behind sudden changes.
    """

    def __init__(
        self,
        max_misses: int = 5,
        *,
        min_hits: int = 3,
        gate_diameters: float = 6.0,
        reinit_after: int = 3,
        min_gate_px: float = 24.0,
        ball_class_id: int | None = SPORTS_BALL,
        process_noise: float = 4.0,
        measurement_noise: float = 2.0,
    ) -> None:
        self.max_misses = max_misses
        self.min_hits = min_hits
        self._hits = 0
        self.gate_diameters = gate_diameters
        self.reinit_after = reinit_after
        self.min_gate_px = min_gate_px
        self.ball_class_id = ball_class_id
        self.process_noise = process_noise
        self.measurement_noise = measurement_noise
        self._kf: KalmanFilter | None = None
        self._last_frame = -1
        self._misses = 0
        self._outside = 0
        self._diameter = 10.0

    def _new_filter(self, xy: np.ndarray) -> KalmanFilter:
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = np.array([xy[0], xy[1], 0.0, 0.0])
        kf.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        kf.P = np.diag([self.measurement_noise**2] * 2 + [30.0**2] * 2)
        kf.R = np.eye(2) * self.measurement_noise**2
        return kf

    def _predict(self, steps: int) -> None:
        q = self.process_noise**2
        for _ in range(max(0, steps)):
            self._kf.F = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]])
            self._kf.Q = np.diag([q / 4, q / 4, q, q])
            self._kf.predict()

    @property
    def position(self) -> np.ndarray | None:
        """``(2,)`` float64 current estimate of the ball centre, or None when not tracked."""
        return None if self._kf is None else self._kf.x[:2].copy()

    @property
    def velocity(self) -> np.ndarray | None:
        """``(2,)`` float64 pixels per frame, or None."""
        return None if self._kf is None else self._kf.x[2:].copy()

    def update(self, frame_index: int, ball_dets: sv.Detections) -> np.ndarray | None:
        """One frame's ball detections -> the ball centre ``(2,)`` (x, y pixels), or None.

        Frames may be skipped (the filter predicts across the gap).
        """
        if len(ball_dets) and ball_dets.class_id is not None and self.ball_class_id is not None:
            ball_dets = ball_dets[ball_dets.class_id == self.ball_class_id]
        steps = 1 if self._last_frame < 0 else frame_index - self._last_frame
        self._last_frame = frame_index
        centres = ball_dets.get_anchors_coordinates(sv.Position.CENTER) if len(ball_dets) else np.zeros((0, 2))
        sizes = (
            np.maximum(ball_dets.xyxy[:, 2] - ball_dets.xyxy[:, 0], ball_dets.xyxy[:, 3] - ball_dets.xyxy[:, 1])
            if len(ball_dets)
            else np.zeros(0)
        )
        conf = ball_dets.confidence if ball_dets.confidence is not None else np.ones(len(ball_dets))
        if self._kf is None:
            if not len(ball_dets):
                return None
            best = int(np.argmax(conf))
            self._start(centres[best], sizes[best])
            return self.position
        self._predict(steps)
        if len(ball_dets):
            dist = np.linalg.norm(centres - self._kf.x[:2], axis=1)
            gate = max(self.min_gate_px, self.gate_diameters * self._diameter * (1 + self._misses))
            nearest = int(np.argmin(dist))
            if dist[nearest] <= gate:
                self._kf.update(centres[nearest])
                self._hits += 1
                self._diameter = 0.8 * self._diameter + 0.2 * float(sizes[nearest])
                self._misses = self._outside = 0
                return self.position
            self._outside += 1
            if self._outside >= self.reinit_after:
                best = int(np.argmax(conf))
                self._start(centres[best], sizes[best])
                return self.position
        self._misses += steps
        if self._misses > self.max_misses:
            self._kf = None
            self._misses = self._outside = 0
            return None
        return self.position if self._hits >= self.min_hits else None

    def _start(self, xy: np.ndarray, size: float) -> None:
        self._kf = self._new_filter(np.asarray(xy, np.float64))
        self._diameter = max(1.0, float(size))
        self._misses = self._outside = 0
        self._hits = 1


def hands_regions(xyxy: np.ndarray, band: tuple[float, float] = (0.2, 0.7), widen: float = 0.3) -> np.ndarray:
    """``(N, 4)`` player boxes -> ``(N, 4)`` hands regions.

    The band from ``band[0]`` to ``band[1]`` of the box height (from the top),
    widened by ``widen`` times the box width on each side (arms reach out).
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [xyxy[:, 0] - widen * w, xyxy[:, 1] + band[0] * h, xyxy[:, 2] + widen * w, xyxy[:, 1] + band[1] * h], axis=1
    )


@dataclass
class _Run:
    player_id: int
    start: int
    last: int
    start_time: float | None = None
    last_time: float | None = None
    length: int = 1


class PossessionTracker:
    """Who has the ball, frame by frame, and the possession timeline.

    Each frame the *candidate* is the player whose hands region (:func:`hands_regions`)
    is nearest the ball, if that distance is at most ``max_dist`` times his box height
    (ties, e.g. the ball inside two regions, go to the player whose box centre is
    nearer). A candidate becomes the *holder* after ``min_frames`` candidate frames
    in a row (gaps up to ``max_gap`` frames bridged); the holder keeps the ball until
    another player does that, or until he has not been the candidate for more than
    ``max_gap`` frames (a pass in the air, a shot). A possession segment runs from
    the first to the last frame its player was the candidate.

    Args:
        min_frames: consecutive candidate frames needed to gain possession. Raising it
            ignores a ball passing by someone's hands (fewer false possessions) but starts
            real ones later and misses very short ones; lowering it reacts at once.
        max_dist: largest ball-to-hands-region distance, in box heights. Raising it credits
            a player with a ball a little way off (dribbles, loose boxes; also a defender
            nearby); lowering it asks for the ball in his hands.
        max_gap: frames a run (or a possession) survives without its player. Raising it
            bridges longer misses (ball hidden, detector gaps) and keeps a possession through
            a short pass; lowering it ends possessions as soon as the ball leaves.
        band, widen: the hands region, see :func:`hands_regions`. A wider band or more
            widening credits balls further from the body (and from other players' bodies).

    Pass only players (referees and spectators filtered out by the caller); the
    ``players`` rows need ``tracker_id``.
    """

    def __init__(
        self,
        min_frames: int = 5,
        max_dist: float = 0.35,
        *,
        max_gap: int = 3,
        band: tuple[float, float] = (0.2, 0.7),
        widen: float = 0.3,
    ) -> None:
        if min_frames < 1:
            raise ValueError("min_frames must be >= 1")
        self.min_frames = min_frames
        self.max_dist = max_dist
        self.max_gap = max_gap
        self.band = band
        self.widen = widen
        self._holder: _Run | None = None
        self._challenger: _Run | None = None
        self._segments: list[dict] = []

    def candidate(self, ball_xy: np.ndarray | None, players: sv.Detections) -> int | None:
        """The tracker ID of the player nearest the ball this frame (within ``max_dist``), or None."""
        if ball_xy is None or len(players) == 0 or players.tracker_id is None:
            return None
        xyxy = np.asarray(players.xyxy, np.float64)
        h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
        region = hands_regions(xyxy, self.band, self.widen)
        x, y = float(ball_xy[0]), float(ball_xy[1])
        dx = np.maximum.reduce([region[:, 0] - x, np.zeros(len(region)), x - region[:, 2]])
        dy = np.maximum.reduce([region[:, 1] - y, np.zeros(len(region)), y - region[:, 3]])
        dist = np.hypot(dx, dy) / h
        tie_break = np.abs((xyxy[:, 0] + xyxy[:, 2]) / 2 - x) / h
        order = np.lexsort((tie_break, np.round(dist, 3)))
        best = int(order[0])
        return int(players.tracker_id[best]) if dist[best] <= self.max_dist else None

    def update(self, frame_index: int, ball_xy: np.ndarray | None, players: sv.Detections,
               time: float | None = None) -> int | None:
        """One frame: the current holder's tracker ID, or None.

        ``time``: the frame's timestamp in seconds (its real presentation time; frame rates
        vary), reported as the segments' ``start_time`` / ``end_time``.
        """
        cand = self.candidate(ball_xy, players)
        holder, challenger = self._holder, self._challenger
        if cand is not None and holder is not None and cand == holder.player_id:
            holder.last, holder.last_time = frame_index, time
            self._challenger = None
        elif cand is not None:
            same = challenger is not None and challenger.player_id == cand
            if same and frame_index - challenger.last <= self.max_gap + 1:
                challenger.last, challenger.last_time = frame_index, time
                challenger.length += 1
            else:
                challenger = self._challenger = _Run(cand, frame_index, frame_index, time, time)
            if challenger.length >= self.min_frames:
                self._close()
                self._holder, self._challenger = challenger, None
        if self._holder is not None and frame_index - self._holder.last > self.max_gap:
            self._close()
        return None if self._holder is None else self._holder.player_id

    @property
    def holder(self) -> int | None:
        return None if self._holder is None else self._holder.player_id

    def _close(self) -> None:
        if self._holder is not None:
            self._segments.append(self._segment(self._holder))
            self._holder = None

    @staticmethod
    def _segment(run: _Run) -> dict:
        return {"player_id": run.player_id, "start_frame": run.start, "end_frame": run.last,
                "start_time": run.start_time, "end_time": run.last_time}

    def segments(self) -> list[dict]:
        """Possession segments so far (the open one included), in time order:
        ``[{"player_id", "start_frame", "end_frame", "start_time", "end_time"}]`` (frames
        inclusive; times are those :meth:`update` was given for those frames, None without)."""
        out = list(self._segments)
        if self._holder is not None:
            out.append(self._segment(self._holder))
        return out

    def share_by_team(self, team_of: Callable[[int], str | None]) -> dict[str, float]:
        """Share of possession frames per team label (``"unknown"`` for players without one).

        Shares sum to 1 (empty dict when nobody held the ball).
        """
        frames: dict[str, int] = defaultdict(int)
        for seg in self.segments():
            team = team_of(seg["player_id"])
            frames[team if team is not None else "unknown"] += seg["end_frame"] - seg["start_frame"] + 1
        total = sum(frames.values())
        return {team: n / total for team, n in sorted(frames.items())} if total else {}
