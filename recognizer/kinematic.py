"""The default action recogniser: no learned weights, labels from each player's speed.

Each window's speed is measured in body heights per second, which makes it
independent of resolution and of how far the player is from the camera:

1. The player's feet point (bottom centre of the box) on every frame of the window
   is moved into the coordinates of the window's last frame by composing the
   frame-to-frame camera motion (:mod:`tracker.tracking.camera_motion`), so a pan or zoom
   does not read as running.
2. A least-squares line through those points over time gives the velocity; its
   norm divided by the mean box height is the speed ``v`` (body heights / s).
3. ``v`` is turned into SpaceJam's labels with two soft thresholds on ``log v``:

   ==========  =====================  ==============================================
   label       speed (body heights/s) reasoning (a ~2 m player)
   ==========  =====================  ==============================================
   no_action   < 0.3                  standing, shuffling: < 0.6 m/s
   walk        0.3 - 1.2              walking 0.6 - 2.4 m/s
   run         >= 1.2                 jogging and sprinting: > 2.4 m/s
   ==========  =====================  ==============================================

   ``p(>= t) = sigmoid(sharpness * ln(v / t))`` per threshold, so the confidence
   shown is low near a threshold and close to 1 far from it.

It cannot see dribbles, passes or shots: for those, train an R(2+1)D model
(``bball-train``) and pass it with ``--action-model``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from tracker.tracking.camera_motion import IDENTITY, CameraMotionEstimator, apply, compose
from tracker.tracking.tubes import ClipWindow

#: Speed thresholds in body heights per second.
WALK_MIN_BH_S = 0.3
RUN_MIN_BH_S = 1.2


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def speed_probs(speed: float, walk_min: float, run_min: float, sharpness: float = 6.0) -> np.ndarray:
    """``[p(no_action), p(walk), p(run)]`` for a speed in body heights per second."""
    v = max(float(speed), 1e-6)
    above_walk = _sigmoid(sharpness * np.log(v / walk_min))
    above_run = _sigmoid(sharpness * np.log(v / run_min))
    p = np.array([1.0 - above_walk, max(above_walk - above_run, 0.0), above_run], dtype=np.float32)
    return p / p.sum()


class KinematicRecognizer(ActionRecognizer):
    """run / walk / no_action from camera-compensated speed (see the module docs).

    Args:
        compensate_camera: estimate and remove camera motion. Off saves the optical flow (a few
            ms a frame) and is right only for a fixed camera: on a panning broadcast every player
            would read as running with the pan.
        walk_min: speed (body heights per second, > 0) from which a player walks rather than stands
            (``no_action``). Raising it calls slow shuffles ``no_action``; lowering it lets box jitter
            read as walking.
        run_min: speed (body heights per second, > ``walk_min``) from which a player runs. Raising it
            labels jogs ``walk``; lowering it labels brisk walks ``run``.
        estimator: the camera-motion estimator (its own knobs: features, RANSAC threshold); the
            per-frame estimates are cached with the frames in the :class:`FrameBuffer`, so one
            recogniser serves any number of videos, one after another, with no state between them.
    """

    name = "kinematic (speed: run/walk/no_action)"
    labels = ["no_action", "walk", "run"]
    checkpoint_sha256 = None

    def __init__(
        self,
        compensate_camera: bool = True,
        walk_min: float = WALK_MIN_BH_S,
        run_min: float = RUN_MIN_BH_S,
        estimator: CameraMotionEstimator | None = None,
    ) -> None:
        if not 0 < walk_min < run_min:
            raise ValueError("need 0 < walk_min < run_min")
        self.compensate_camera = compensate_camera
        self.walk_min, self.run_min = walk_min, run_min
        self.estimator = estimator or CameraMotionEstimator()

    def _step(self, k: int, frames: FrameBuffer) -> np.ndarray:
        """Camera motion from frame ``k - 1`` to ``k`` (cached with frame ``k`` in the buffer)."""
        if not self.compensate_camera or (k - 1) not in frames or k not in frames:
            return IDENTITY
        return frames.derived("camera_step", k, lambda: self.estimator.estimate(
            frames.image(k - 1), frames.image(k), frames.detections(k - 1).xyxy))

    def speed(self, window: ClipWindow, frames: FrameBuffer) -> float:
        """Camera-compensated speed of the window's player, body heights per second."""
        idx, first = np.unique(window.frame_indices, return_index=True)
        boxes = window.boxes[first].astype(np.float64)
        if len(idx) < 2:
            return 0.0
        feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        # Map each sample into the last frame's coordinates, composing backwards.
        to_last = IDENTITY
        mapped = np.empty_like(feet)
        mapped[-1] = feet[-1]
        j = len(idx) - 1
        for k in range(int(idx[-1]), int(idx[0]), -1):
            to_last = compose(self._step(k, frames), to_last)
            if j > 0 and idx[j - 1] == k - 1:
                j -= 1
                mapped[j] = apply(to_last, feet[j])[0]
        t = idx / frames.fps
        velocity = np.polyfit(t - t.mean(), mapped, 1)[0]
        height = float(np.mean(boxes[:, 3] - boxes[:, 1]))
        return float(np.linalg.norm(velocity) / max(height, 1.0))

    def predict(self, windows: Sequence[ClipWindow], frames: FrameBuffer, context=None) -> list[WindowPrediction]:
        return [
            WindowPrediction(w.track_id, w.frame_indices, speed_probs(self.speed(w, frames), self.walk_min, self.run_min))
            for w in windows
        ]
