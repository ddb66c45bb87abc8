"""Detect on every N-th frame only; in between, predict the players' boxes (``--detect-every N``).

On a CPU the detector's forward pass is most of a frame's cost. With ``every = N`` the detector
runs on frames ``0, N, 2N, ...`` (the *key frames*); on the frames between, a
:class:`BoxPredictor` makes the "detections" the tracker receives: each person detected on the
last key frame (after the on-court filter), his box

1. carried along by the camera motion (:class:`tracker.tracking.camera_motion.CameraMotionEstimator`,
   frame to frame; the pipeline gives the same estimates to the kinematic recogniser), and
2. moved by his own velocity in camera-compensated coordinates, measured between his last two
   key-frame boxes (box corners, so a player walking towards the camera also grows); a key-frame
   detection is the same player as an earlier one when it overlaps that one's prediction most.

The predicted boxes go through the tracker like detections, so the tracker, the tubes, the clip
windows and the exports stay one consistent stream; every predicted row carries
``data["predicted"] = True`` (detected rows ``False``), and the JSON lists per player the frames
whose box was predicted. A player first seen on a key frame has no velocity until the next key
frame: until then he is carried by the camera only. The predictor is tracker-agnostic (SORT and
ByteTrack get the same boxes): ByteTrack's own Kalman filter, updated with no detections, would
keep its tracks alive but report none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from tracker.tracking.camera_motion import CameraMotionEstimator, apply
from tracker.common.coco import PERSON

#: Key of the per-row flag in ``sv.Detections.data``.
PREDICTED = "predicted"


def is_key_frame(index: int, every: int) -> bool:
    """Whether the detector runs on frame ``index`` (0-based) when detecting every ``every`` frames."""
    return every <= 1 or index % every == 0


def move_boxes(affine: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` xyxy boxes through a ``(2, 3)`` partial affine (rotation is small between frames:
    the two corners are moved and the box is their span)."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if not len(xyxy):
        return xyxy
    a = apply(affine, xyxy[:, :2])
    b = apply(affine, xyxy[:, 2:])
    return np.concatenate([np.minimum(a, b), np.maximum(a, b)], axis=1)


@dataclass
class _Track:
    box: np.ndarray  # (4,) last key-frame box, carried to the current frame by the camera motion
    frame: int  # its key frame
    velocity: np.ndarray  # (4,) px per frame, camera-compensated (zeros until two key frames)
    confidence: float


class BoxPredictor:
    """Between key frames, each player's box moved by the camera and by his own velocity.

    Call, on every frame in order: :meth:`step` (it estimates the camera motion from the frame
    before); on a frame the detector skipped, :meth:`predict` for the detections to give the
    tracker; then :meth:`observe` with the detections the tracker was given.

    Args:
        every: the detector runs on every ``every``-th frame (>= 1; 1 makes this a no-op).
        estimator: camera-motion estimator. Default: frames analysed 320 pixels wide, 200 corners,
            Lucas-Kanade 15x15 on 2 pyramid levels: 3.6 ms of CPU a frame on the shared NBA clip
            against 12.9 ms for the recogniser's own 640 / 400 / 21x21 / 3 levels, and within
            0.07-0.08 px a frame of it on both shared clips. The pipeline hands these estimates to
            the kinematic recogniser, so the motion is estimated once per frame.
        velocity: also move each box by the player's own velocity (else by the camera only).
        velocity_smoothing: weight of the previous velocity when a new key frame measures one (0.7:
            on the shared NBA clip at N = 3, mean IoU 0.777 against 0.771 with 0.3 and fragmentation
            1.59 against 1.80; the detector's box jitter makes one key-frame pair a noisy velocity).
        min_iou: least overlap between a key-frame detection and an earlier player's predicted box
            for the two to be the same player (for the velocity, and the carried score).
        carry_confidence: a key-frame detection of a player seen on the key frame before gets the
            higher of the two scores (see :meth:`observe`). On the shared NBA clip at N = 3 (vm,
            ``bench/actions_vs_labels.py --detect-every 3``, ``bball-annotate --detect-every 3``):
            12 -> 11 IDs, fragmentation 1.935 -> 1.754, kinematic frame accuracy on the labelled
            players 61 -> 76 % (78 % at N = 1); the court clip and N = 2, 4 unchanged.
    """

    def __init__(self, every: int, estimator: CameraMotionEstimator | None = None, velocity: bool = True,
                 velocity_smoothing: float = 0.7, min_iou: float = 0.1, carry_confidence: bool = True) -> None:
        if int(every) < 1:
            raise ValueError("every must be >= 1")
        self.every = int(every)
        self.estimator = estimator or CameraMotionEstimator(work_width=320, max_corners=200, win_size=15,
                                                            max_level=2)
        self.velocity = velocity
        self.smoothing = float(velocity_smoothing)
        self.min_iou = float(min_iou)
        self.carry_confidence = bool(carry_confidence)
        self._tracks: dict[int, _Track] = {}
        self._prev: tuple[np.ndarray, float] | None = None
        self._prev_boxes = np.zeros((0, 4))
        self._frame = -1
        self.last_motion: np.ndarray | None = None  # the camera motion into the last frame stepped

    def reset(self) -> None:
        self._tracks.clear()
        self._prev, self._prev_boxes, self._frame = None, np.zeros((0, 4)), -1

    def is_key_frame(self, index: int) -> bool:
        return is_key_frame(index, self.every)

    def step(self, index: int, image: np.ndarray) -> np.ndarray:
        """Frame ``index`` (``(H, W, 3)`` uint8 BGR) arrives: carry every track's box by the camera
        motion since the frame before; returns that ``(2, 3)`` affine (identity on the first frame,
        or when frames were skipped)."""
        grey = self.estimator.prepare(image)
        affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        if self._prev is not None and index == self._frame + 1:
            affine = self.estimator.estimate_prepared(self._prev[0], grey[0], grey[1], self._prev_boxes)
            for t in self._tracks.values():
                t.box = move_boxes(affine, t.box)[0]
                t.velocity[:2] = affine[:, :2] @ t.velocity[:2]
                t.velocity[2:] = affine[:, :2] @ t.velocity[2:]
        self._prev, self._frame, self.last_motion = grey, index, affine
        return affine

    def camera(self, prev: np.ndarray, cur: np.ndarray, prev_boxes: np.ndarray | None = None) -> np.ndarray:
        """The camera motion into the frame last given to :meth:`step`, with the signature of
        :meth:`~tracker.tracking.camera_motion.CameraMotionEstimator.estimate` (the frames are not looked at
        again), so other consumers of the same frame reuse the estimate."""
        return self.last_motion if self.last_motion is not None else np.array([[1.0, 0, 0], [0, 1.0, 0]])

    def predict(self, index: int, frame_size: tuple[int, int] | None = None) -> sv.Detections:
        """The predicted boxes of frame ``index`` (after :meth:`step`): every person detected on the last
        key frame, as person detections with ``tracker_id`` unset and ``data["predicted"]`` True;
        boxes clipped to ``frame_size`` ``(width, height)`` when given (empty ones are left out)."""
        if not self._tracks:
            return _empty()
        xyxy = np.stack([t.box + (t.velocity * (index - t.frame) if self.velocity else 0.0)
                         for t in self._tracks.values()])
        if frame_size is not None:
            w, h = frame_size
            xyxy = np.clip(xyxy, 0, [w, h, w, h])
        keep = (xyxy[:, 2] - xyxy[:, 0] > 1) & (xyxy[:, 3] - xyxy[:, 1] > 1)
        conf = np.array([t.confidence for t in self._tracks.values()], np.float32)
        out = sv.Detections(xyxy=xyxy[keep].astype(np.float32), confidence=conf[keep],
                            class_id=np.full(int(keep.sum()), PERSON, int))
        out.data[PREDICTED] = np.ones(len(out), bool)
        return out

    def observe(self, index: int, people: sv.Detections) -> sv.Detections:
        """The person detections for the tracker on frame ``index`` (detected or predicted); returns
        what to give it.

        On a key frame they become the new anchors: each is matched to the old anchor whose
        prediction overlaps it most (IoU >= ``min_iou``, greedy, best first), and the pair measures
        that player's velocity; unmatched ones start with none. A matched detection keeps the higher
        of its score and the anchor's (``carry_confidence``): the tracker sees a player's score on
        one frame in ``every`` only, and ByteTrack matches a low-score detection only after the
        high-score ones, so one low key-frame score would let a neighbour's confident box, a third
        of a body width away, take the player's track (on the shared NBA clip at N = 3: a defender
        took the ball handler's ID). The returned rows are ``people``'s, scores carried (a copy when
        any changed). On any frame the boxes are masked out of the next camera-motion estimate."""
        boxes = np.asarray(people.xyxy, np.float64).reshape(-1, 4)
        self._prev_boxes = boxes
        if not self.is_key_frame(index):
            return people
        conf = people.confidence if people.confidence is not None else np.ones(len(people), np.float32)
        old = list(self._tracks.values())
        match: dict[int, _Track] = {}
        if old and len(boxes):
            from supervision.detection.utils.iou_and_nms import box_iou_batch

            guess = np.stack([t.box + t.velocity * (index - t.frame) for t in old])
            iou = box_iou_batch(boxes, guess)
            for flat in np.argsort(-iou, axis=None):
                i, j = np.unravel_index(flat, iou.shape)
                if iou[i, j] < self.min_iou:
                    break
                if i not in match and all(m is not old[j] for m in match.values()):
                    match[int(i)] = old[j]
        tracks: dict[int, _Track] = {}
        carried = np.asarray(conf, np.float32).copy()
        for i, (box, c) in enumerate(zip(boxes, conf.tolist())):
            prev = match.get(i)
            velocity = np.zeros(4)
            if prev is not None and index > prev.frame:
                measured = (box - prev.box) / (index - prev.frame)
                velocity = measured if not prev.velocity.any() else \
                    self.smoothing * prev.velocity + (1.0 - self.smoothing) * measured
            if prev is not None and self.carry_confidence:
                carried[i] = max(c, prev.confidence)
            tracks[i] = _Track(box.copy(), index, velocity, float(c))  # its own score: carried one interval only
        self._tracks = tracks
        if people.confidence is None or np.array_equal(carried, people.confidence):
            return people
        out = people[np.arange(len(people))]  # a copy, rows and data as they were
        out.confidence = carried
        return out


def _empty() -> sv.Detections:
    out = sv.Detections(xyxy=np.zeros((0, 4), np.float32), confidence=np.zeros(0, np.float32),
                        class_id=np.zeros(0, int))
    out.data[PREDICTED] = np.zeros(0, bool)
    return out


#: ``--detect-every`` when the detector runs on a CPU (measured: docs/benchmarks.md, "Real time on a CPU").
CPU_DETECT_EVERY = 3


def default_detect_every(device: str | None) -> int:
    """The default ``--detect-every``: 1 on a GPU (the detector costs about a millisecond a frame
    there, predicting would only lose accuracy), :data:`CPU_DETECT_EVERY` on a CPU."""
    return 1 if str(device or "cpu").startswith("cuda") else CPU_DETECT_EVERY
