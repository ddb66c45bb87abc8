"""One video's ball, the stage the pipeline runs: camera motion -> colour (+ tile detector, + full-frame
detector) candidates -> the state tracker; only confident positions are reported, ``lost`` otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import supervision as sv

from tracker.common.coco import SPORTS_BALL
from tracker.game.ball.candidates import BallCandidates, ColourCandidates
from tracker.game.ball.flight import FlightFinder
from tracker.game.ball.net import NetCandidates
from tracker.game.ball.state import LOST, BallObservation, BallStateTracker
from tracker.game.ball.tiles import TileBallDetector


class BallFinder:
    """One video's ball: camera motion -> colour (+ tile detector, + full-frame detector) candidates ->
    :class:`BallStateTracker`. A fresh one per video.

    Args:
        colour: colour/motion candidates, or None to skip them.
        tiles: tile detector, or None (the pipeline adds one on a GPU, see ``PlayerTracking.build``).
        tracker: the ball state tracker.
        camera: ``(prev, cur, prev_boxes) -> (2, 3)`` affine (``CameraMotionEstimator.estimate``),
            or None for a static camera.
        min_confidence: a position is reported only when the tracker's confidence
            (:meth:`BallStateTracker.confidence`) reaches this; below it the frame says ``lost``
            (the track goes on inside). Higher: fewer wrong positions, fewer frames with a ball
            (``bench/ball_recall.py`` prints the recall / precision at each threshold).
        flight: motion-only flights (:class:`~.flight.FlightFinder`: a camera-compensated frame
            difference, chains that move like a thrown ball) as strong candidates, or None (off).
        duplicate: a frame whose blurred grey differs from the previous one nowhere by more than
            this (0-255) is a repeat (frame-rate conversion, re-encoded: a few grey levels of noise):
            it gets the previous answer (51 of the court clip's 321 frames are such repeats).
        net: ball heatmap net peaks as candidates (:class:`~.net.NetCandidates`, trained on synthetic
            balls by :mod:`.net_train`), or None (off; opt-in, see docs/benchmarks.md for what it finds).
    """

    def __init__(self, colour: ColourCandidates | None = None, tiles: TileBallDetector | None = None,
                 tracker: BallStateTracker | None = None,
                 camera: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
                 min_confidence: float = 0.6, duplicate: float = 2.0, flight: FlightFinder | None = None,
                 net: NetCandidates | None = None) -> None:
        self.flight, self.net = flight, net
        self.min_confidence, self.duplicate = min_confidence, duplicate
        self.colour = colour if colour is not None else ColourCandidates()
        self.tiles, self.camera = tiles, camera
        self.tracker = tracker or BallStateTracker()
        self._prev: np.ndarray | None = None
        self._prev_small: tuple | None = None  # its ColourCandidates.prepare output
        self._prev_boxes = np.zeros((0, 4))
        self._last: BallObservation | None = None

    def update(self, frame_index: int, image: np.ndarray, players: sv.Detections,
               detections: sv.Detections | None = None, possessor: int | None = None) -> BallObservation:
        """One frame: ``players`` tracked (referees out), ``detections`` the detector's full-frame rows
        (its ``sports ball`` rows become candidates too)."""
        prepared = self.colour.prepare(image)
        if self._last is not None and self._prev_small is not None and prepared[1].shape == self._prev_small[1].shape \
                and cv2.norm(prepared[1], self._prev_small[1], cv2.NORM_INF) <= self.duplicate:
            # a repeated frame (frame-rate conversion): nothing moved, and differencing against it
            # would make the ball stand still: the last answer again, the reference kept
            return self._report(replace(self._last, frame_index=frame_index))
        a = None
        if self._prev is not None and self.camera is not None:
            a = self.camera(self._prev, image, self._prev_boxes)
        warped = warped_mask = None
        if self._prev_small is not None:
            prev_mask, warped, s = self._prev_small[:3]
            warped_mask = prev_mask
            if a is not None:
                m = a.copy()
                m[:, 2] *= s
                size = (warped.shape[1], warped.shape[0])
                warped = cv2.warpAffine(warped, m, size, borderMode=cv2.BORDER_REPLICATE)
                warped_mask = cv2.warpAffine(prev_mask, m, size, flags=cv2.INTER_NEAREST,
                                             borderMode=cv2.BORDER_REPLICATE)
            warped_mask = cv2.dilate(warped_mask, np.ones((3, 3), np.uint8))  # sub-pixel shifts, ragged edges
        xyxy = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        parts = [self.colour.candidates(prepared, xyxy, warped, warped_mask)]
        if detections is not None and len(detections) and detections.class_id is not None:
            balls = detections[detections.class_id == SPORTS_BALL]
            if len(balls):
                parts.append(BallCandidates.from_detections(balls))
        if self.flight is not None:
            parts.append(self.flight(prepared[1], prepared[2], a, players))
        if self.net is not None:
            parts.append(self.net(image, xyxy))
        if self.tiles is not None:
            focus = None if self._last is None or self._last.xy is None else np.array(self._last.xy)
            parts.append(self.tiles(frame_index, image, xyxy, focus))
        obs = self.tracker.update(frame_index, BallCandidates.concat(parts), players, a, possessor,
                                  (image.shape[1], image.shape[0]))
        self._prev, self._prev_small, self._prev_boxes, self._last = image, prepared, xyxy, obs
        return self._report(obs)

    def fresh(self) -> BallFinder:
        """A finder with the same stages and settings and no history (after a camera cut: no previous
        frame to difference against, no track)."""
        if self.flight is not None:
            self.flight.reset()
        if self.net is not None:
            self.net.reset()
        return BallFinder(colour=self.colour, tiles=self.tiles, camera=self.camera, min_confidence=self.min_confidence,
                          duplicate=self.duplicate, flight=self.flight, net=self.net)

    def _report(self, obs: BallObservation) -> BallObservation:
        if obs.xy is not None and obs.confidence < self.min_confidence:
            return BallObservation(obs.frame_index, None, obs.diameter, LOST, obs.measured, obs.confidence)
        return obs
