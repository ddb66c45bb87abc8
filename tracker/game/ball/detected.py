"""The detector's own ball: :class:`BallTracker` follows the COCO "sports ball" detections with a small
constant-velocity Kalman filter (filterpy) on the ball's centre: it bridges short misses with the
prediction, and when several balls are detected it takes the one nearest the prediction (gated, so
a spare ball on the sideline does not capture the track unless the real one stays lost). On broadcast
footage the detector rarely fires on the ball: :class:`~tracker.game.ball.finder.BallFinder` is what
the pipeline runs; this is the baseline ``bench/ball_recall.py`` compares it with."""

from __future__ import annotations

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
