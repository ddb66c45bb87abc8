"""Finding the ball on broadcast footage, where the person detector's ``sports ball`` class rarely fires.

Three small pieces, each usable alone, combined by :class:`BallFinder`:

* :class:`ColourCandidates` -- orange-brown, round blobs whose size fits the ball size predicted
  from the nearest player's height (a ball is about :data:`BALL_TO_BODY` of a body height), scored
  by how much they move against the camera-compensated previous frame (a court logo or a static
  ball on the sideline does not move; a sneaker is not round).
* :class:`TileBallDetector` -- the detector's ``sports ball`` class run again on a few
  higher-resolution tiles around the upper bodies of the players nearest the ball (or the
  predicted ball), batched, only every ``every`` frames: on a CPU one 640 tile costs about
  as much as a frame.
* :class:`BallStateTracker` -- a constant-velocity Kalman filter (filterpy) over those candidates,
  moved with the camera each frame, gated, confirmed only by a moving candidate, with the state
  ``held`` (at a player's hands), ``flight`` (away from every player's hands) or ``lost``
  (no candidate for a while, out of frame, occluded). While held and unseen, the possessor's
  hands are its measurement (a weak one). Every position has a confidence (what fed it, how
  long since the track was last seen moving like a ball, how much its blob looks like the ball
  learned in flight); :class:`BallFinder` reports only confident ones, ``lost`` otherwise.

All positions are image pixels of the full frame, ``(x, y)`` of the ball centre.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import supervision as sv
from filterpy.kalman import KalmanFilter

from tracker.common.coco import SPORTS_BALL
from tracker.game.ball import hands_regions

#: Ball diameter as a fraction of a standing player's box height (24 cm ball, ~2 m box).
BALL_TO_BODY = 0.12

HELD, FLIGHT, LOST = "held", "flight", "lost"
STATES = (HELD, FLIGHT, LOST)


@dataclass(frozen=True)
class BallCandidates:
    """Possible balls on one frame.

    Attributes:
        xy: ``(N, 2)`` float64 centres (full-frame pixels).
        diameter: ``(N,)`` float64 pixels.
        score: ``(N,)`` float64 in [0, 1] (colour x shape x size fit, or the detector's confidence).
        moving: ``(N,)`` bool, moved against the camera-compensated background (detector hits: True).
        detected: ``(N,)`` bool, the detector's ``sports ball`` (trusted: starts a track at once).
        look: ``(N, 2)`` float64 mean CIELAB ``(a, b)`` (OpenCV's 0-255 scale) over the blob's
            pixels; NaN for detector rows (None: all NaN).
    """

    xy: np.ndarray
    diameter: np.ndarray
    score: np.ndarray
    moving: np.ndarray
    detected: np.ndarray
    look: np.ndarray | None = None

    FIELDS = ("xy", "diameter", "score", "moving", "detected", "look")

    def __post_init__(self) -> None:
        if self.look is None:
            object.__setattr__(self, "look", np.full((len(self.xy), 2), np.nan))

    @staticmethod
    def empty() -> BallCandidates:
        return BallCandidates(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool))

    @staticmethod
    def from_detections(dets: sv.Detections, offset: tuple[float, float] = (0.0, 0.0)) -> BallCandidates:
        """Detector ``sports ball`` rows (boxes offset by ``offset``, e.g. a tile's corner) as candidates."""
        b = dets.xyxy.astype(np.float64) + [offset[0], offset[1], offset[0], offset[1]]
        conf = dets.confidence.astype(np.float64) if dets.confidence is not None else np.ones(len(b))
        return BallCandidates((b[:, :2] + b[:, 2:]) / 2, np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), conf,
                              np.ones(len(b), bool), np.ones(len(b), bool))

    def subset(self, keep: np.ndarray) -> BallCandidates:
        return BallCandidates(*(getattr(self, f)[keep] for f in self.FIELDS))

    def __len__(self) -> int:
        return len(self.xy)

    @staticmethod
    def concat(parts: Sequence[BallCandidates]) -> BallCandidates:
        parts = [p for p in parts if len(p)]
        if not parts:
            return BallCandidates.empty()
        return BallCandidates(*(np.concatenate([getattr(p, f) for p in parts]) for f in BallCandidates.FIELDS))


def expected_diameter(xy: np.ndarray, players_xyxy: np.ndarray, default: float | None = None) -> np.ndarray:
    """``(N,)`` ball diameter expected at each of ``(N, 2)`` points: :data:`BALL_TO_BODY` times the
    height of the nearest player (by horizontal distance to his box, then vertical); ``default``
    (NaN when None) without players."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    boxes = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.full(len(xy), np.nan if default is None else default)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    d = np.hypot(xy[:, :1] - cx[None], xy[:, 1:] - cy[None])
    return BALL_TO_BODY * (boxes[:, 3] - boxes[:, 1])[np.argmin(d, axis=1)]


class ColourCandidates:
    """Orange-brown round blobs of a plausible size, and whether they move (see the module docs).

    Args:
        hue: OpenCV hue range (0-180) of a basketball's orange-brown (with ``red_wrap``: a contiguous
            range across the red end; an earlier (2, 22) left hues 0-1 out, where much of a compressed
            ball's leather lies).
        min_sat, min_val, max_val: saturation / value bounds (a lit wooden floor shares the hue but is
            brighter than the ball's leather; skin shares the hue but is paler: on the court clip the
            ball's pixels read saturation 105-200 (median ~140), bare arms 88-114, the floor 93-105,
            so 115 keeps most of the ball and drops most arms and floor -- chosen on that clip).
        min_fill: blob area over its bounding box area (a disc fills pi/4).
        max_aspect: longest over shortest side of the blob's box (motion blur stretches a ball).
        size_range: accepted diameter over the expected one (perspective, blur, partly hidden).
        min_motion: mean absolute (blurred) grey difference (0-255) over the blob's pixels against the
            camera-compensated previous frame for it to count as moving.
        work_width: frames wider than this are analysed downscaled (results in full pixels).
        max_candidates: best-scored blobs kept.
        red_wrap: hues within this of 180 count too (dark red-brown ball in flight).
        reach, far_weight: a blob's score is weighed by :meth:`within_reach` (1 on a player, 0.6 at
            half a body height from his box, ``far_weight`` far away) before the best
            ``max_candidates`` are kept: under a panning broadcast camera the crowd and the benches
            give dozens of moving ball-coloured specks a frame (47-74 blobs pass the colour, shape and
            size tests on the 480p broadcast clip), which crowded the ball out of the 16 kept.
        head_band: blobs in this top fraction of a player's box (the middle half of its width) are
            taken for heads (skin and hair share the ball's hue) and dropped.
    """

    def __init__(self, hue: tuple[int, int] = (0, 22), min_sat: int = 115, min_val: int = 45, max_val: int = 175,
                 min_fill: float = 0.45, max_aspect: float = 2.2, size_range: tuple[float, float] = (0.4, 2.2),
                 min_motion: float = 12.0, work_width: int = 960, max_candidates: int = 16, red_wrap: int = 8,
                 head_band: float = 0.2, min_new: float = 0.2, reach: float = 0.5, far_weight: float = 0.1) -> None:
        self.reach, self.far_weight = reach, far_weight
        self.red_wrap, self.head_band, self.min_new = red_wrap, head_band, min_new
        self.hue, self.min_sat, self.min_val, self.max_val = hue, min_sat, min_val, max_val
        self.min_fill, self.max_aspect, self.size_range = min_fill, max_aspect, size_range
        self.min_motion, self.work_width, self.max_candidates = min_motion, work_width, max_candidates

    def scale(self, image: np.ndarray) -> float:
        return min(1.0, self.work_width / image.shape[1])

    @staticmethod
    def grey(small: np.ndarray) -> np.ndarray:
        """Blurred grey image for the motion test (a blur keeps sub-pixel misregistration of texture
        from reading as motion)."""
        return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)

    def mask(self, small: np.ndarray) -> np.ndarray:
        """``(h, w)`` uint8 0/1 ball-coloured pixels of a (downscaled) BGR image."""
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        m = cv2.inRange(hsv, (self.hue[0], self.min_sat, self.min_val), (self.hue[1], 255, self.max_val))
        if self.red_wrap:  # a ball in shadow or flying past a light wall reads dark red (hue wraps at 180)
            m |= cv2.inRange(hsv, (180 - self.red_wrap, self.min_sat, self.min_val), (180, 255, self.max_val))
        return m // 255

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """``image`` -> (ball-colour mask, blurred grey, scale, BGR image), the images at
        :meth:`scale` (one per frame)."""
        s = self.scale(image)
        small = image if s == 1.0 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        return self.mask(small), self.grey(small), s, small

    def __call__(self, image: np.ndarray, players_xyxy: np.ndarray, prev_grey_warped: np.ndarray | None,
                 prev_mask_warped: np.ndarray | None = None) -> BallCandidates:
        """Args: ``image`` ``(H, W, 3)`` uint8 BGR; ``players_xyxy`` ``(P, 4)`` full-frame boxes;
        ``prev_grey_warped`` / ``prev_mask_warped``: the previous frame's :meth:`prepare` outputs warped
        by the camera motion onto this one (None on the first frame: nothing counts as moving)."""
        return self.candidates(self.prepare(image), players_xyxy, prev_grey_warped, prev_mask_warped)

    def within_reach(self, xy: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(N,)`` in [``far_weight``, 1]: where a ball can be. 1 within a player's box, falling
        off as ``exp(-d^2 / 2 reach^2)`` with ``d`` the distance to the nearest box in that player's
        heights, never below ``far_weight`` (a ball flies far from everyone; the crowd's and the
        benches' orange specks are far from the players too). 1 everywhere without players."""
        if not len(boxes) or not self.reach:
            return np.ones(len(xy))
        dx = np.maximum(np.maximum(boxes[None, :, 0] - xy[:, :1], 0), xy[:, :1] - boxes[None, :, 2])
        dy = np.maximum(np.maximum(boxes[None, :, 1] - xy[:, 1:], 0), xy[:, 1:] - boxes[None, :, 3])
        d = (np.hypot(dx, dy) / np.maximum(boxes[None, :, 3] - boxes[None, :, 1], 1)).min(axis=1)
        return np.maximum(self.far_weight, np.exp(-d**2 / (2 * self.reach**2)))

    def candidates(self, prepared: tuple[np.ndarray, np.ndarray, float, np.ndarray], players_xyxy: np.ndarray,
                   prev_grey_warped: np.ndarray | None, prev_mask_warped: np.ndarray | None = None
                   ) -> BallCandidates:
        """Candidates from this frame's :meth:`prepare` output. A blob *moves* when at least
        ``min_new`` of its pixels were not ball-coloured on the camera-compensated previous frame
        (any contrast), or its grey level changed by ``min_motion`` on average."""
        mask, grey, s, small = prepared
        n, labels, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return BallCandidates.empty()
        st = stats[1:].astype(np.float64)
        w, h, area = st[:, 2], st[:, 3], st[:, 4]
        dia = np.maximum(w, h) / s
        xy = cents[1:] / s
        fill = area / np.maximum(w * h, 1)
        aspect = np.maximum(w, h) / np.maximum(np.minimum(w, h), 1)
        want = expected_diameter(xy, players_xyxy)
        ratio = np.where(np.isfinite(want), dia / np.maximum(want, 1), 1.0)
        ok = (fill >= self.min_fill) & (aspect <= self.max_aspect) & (ratio >= self.size_range[0]) \
            & (ratio <= self.size_range[1]) & (np.maximum(w, h) >= 2)
        boxes = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
        if len(boxes) and self.head_band > 0:
            bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            in_head = ((xy[:, :1] >= boxes[None, :, 0] + 0.2 * bw) & (xy[:, :1] <= boxes[None, :, 2] - 0.2 * bw)
                       & (xy[:, 1:] >= boxes[None, :, 1] - 0.02 * bh) & (xy[:, 1:] <= boxes[None, :, 1] + self.head_band * bh))
            ok &= ~in_head.any(axis=1)
        if not ok.any():
            return BallCandidates.empty()
        idx = np.flatnonzero(ok)
        size_fit = np.exp(-np.log(np.maximum(ratio[idx], 1e-3)) ** 2 / (2 * 0.5**2))
        score = np.clip(fill[idx] / (np.pi / 4), 0, 1) * (1 / aspect[idx]) ** 0.5 * size_fit
        score = score * self.within_reach(xy[idx], boxes)
        moving = np.zeros(len(idx), bool)
        on = mask.view(bool)  # per-blob means over its own pixels, all blobs at once
        flat = labels[on]
        count = np.bincount(flat, minlength=n)[idx + 1]
        lab = cv2.cvtColor(small[on][None], cv2.COLOR_BGR2LAB)[0]  # the ball-coloured pixels only
        look = np.stack([np.bincount(flat, lab[:, c], minlength=n)[idx + 1] / count for c in (1, 2)], axis=1)
        if prev_grey_warped is not None:
            diff = np.bincount(flat, cv2.absdiff(grey, prev_grey_warped)[on], minlength=n)[idx + 1] / count
            moving = diff >= self.min_motion
            if prev_mask_warped is not None:
                new = np.bincount(flat, prev_mask_warped[on] == 0, minlength=n)[idx + 1] / count
                moving |= new >= self.min_new
        order = np.lexsort((-score, ~moving))[: self.max_candidates]  # moving blobs first
        return BallCandidates(xy[idx][order], dia[idx][order], score[order], moving[order], np.zeros(len(order), bool),
                              look[order])


def upper_body_tiles(players_xyxy: np.ndarray, focus_xy: np.ndarray | None, image_size: tuple[int, int],
                     max_tiles: int = 2, span: float = 1.2) -> np.ndarray:
    """``(K, 4)`` int square tiles (xyxy) around the upper bodies of the ``max_tiles`` players nearest
    ``focus_xy`` (all players' order when None). A tile's side is ``span`` times the player's height,
    centred at his hands band (a third of the way down the box), clipped to the frame."""
    boxes = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, 4), int)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = boxes[:, 1] + 0.35 * (boxes[:, 3] - boxes[:, 1])
    order = np.arange(len(boxes)) if focus_xy is None else np.argsort(np.hypot(cx - focus_xy[0], cy - focus_xy[1]))
    w_img, h_img = image_size
    tiles = []
    for i in order[:max_tiles]:
        side = max(32.0, span * (boxes[i, 3] - boxes[i, 1]))
        x1 = int(np.clip(cx[i] - side / 2, 0, max(0, w_img - side)))
        y1 = int(np.clip(cy[i] - side / 2, 0, max(0, h_img - side)))
        tiles.append([x1, y1, min(w_img, int(x1 + side)), min(h_img, int(y1 + side))])
    return np.array(tiles, int)


class TileBallDetector:
    """The detector's ``sports ball`` class on upscaled tiles around players' upper bodies.

    Measured (``bench/ball_recall.py --tile-raw``, shared int8 YOLOv8n, a tile around every player
    on the labelled frames, 2-core CPU): on the 720p court clip (ball ~20 px, players ~155 px) tiles
    of 2 body heights find the ball on 12 % of the frames where it is visible at confidence >= 0.1,
    with no false ball (16 % / 88 % at 0.05); tiles of 1.2 body heights (the ball upscaled ~3.5x)
    find it on 2 %, of 3 body heights 19 % / 56 %. On the 480p broadcast clip (ball ~10 px) no tile
    finds it. Each 640 tile costs about a full frame's detection (60-130 ms on that CPU). So tiles
    are trusted candidates when they fire (a track starts at once), but rare: the pipeline runs them
    only on a GPU (batched, ``every=1``); on a CPU they are off, their ~12 % of frames not worth a
    detector pass per tile -- ``every`` and ``max_tiles`` bound the cost (``every=5, max_tiles=1``:
    a fifth of a frame's detection per frame) for who wants them anyway.

    Args:
        detector: a callable ``(list of BGR images) -> list[sv.Detections]`` made with the ball
            class on (``Detector(..., ball=True)``): the same model, batched over the tiles, on the
            GPU when the detector is.
        every: run on one frame in ``every`` (the others get no tile candidates).
        max_tiles: tiles per run (the players nearest the ball, or the predicted ball).
        min_conf: lowest ball confidence kept.
        tile_px: every tile is resized to this square before detection (the detector then scales
            it to its input size).
        span: tile side in body heights, around the hands band (see :func:`upper_body_tiles`).
    """

    def __init__(self, detector: Callable[[list[np.ndarray]], list[sv.Detections]], every: int = 5,
                 max_tiles: int = 2, min_conf: float = 0.1, tile_px: int = 320, span: float = 2.0) -> None:
        self.detector, self.every, self.max_tiles, self.min_conf = detector, max(1, every), max_tiles, min_conf
        self.tile_px, self.span = tile_px, span

    def __call__(self, frame_index: int, image: np.ndarray, players_xyxy: np.ndarray,
                 focus_xy: np.ndarray | None) -> BallCandidates:
        if frame_index % self.every:
            return BallCandidates.empty()
        tiles = upper_body_tiles(players_xyxy, focus_xy, (image.shape[1], image.shape[0]), self.max_tiles, self.span)
        if not len(tiles):
            return BallCandidates.empty()
        s = self.tile_px  # one size for all tiles: one batch, also for the detector's GPU tensor path
        results = self.detector([cv2.resize(image[y1:y2, x1:x2], (s, s), interpolation=cv2.INTER_LINEAR)
                                 for x1, y1, x2, y2 in tiles])
        parts = []
        for (x1, y1, x2, y2), dets in zip(tiles, results):
            if dets.class_id is not None and len(dets):
                dets = dets[(dets.class_id == SPORTS_BALL) & (dets.confidence >= self.min_conf)]
            if not len(dets):
                continue
            dets.xyxy = (dets.xyxy * np.array([(x2 - x1) / s, (y2 - y1) / s] * 2)).astype(np.float32)
            parts.append(BallCandidates.from_detections(dets, (x1, y1)))
        return BallCandidates.concat(parts)


@dataclass(frozen=True)
class BallObservation:
    """The ball on one frame.

    Attributes:
        frame_index: the frame.
        xy: ``(x, y)`` centre in pixels, or None when lost.
        diameter: pixels (last measured).
        state: ``"held"``, ``"flight"`` or ``"lost"``.
        measured: a candidate was matched on this frame (else a prediction or the hands prior).
        confidence: in [0, 1], how much this position is to be believed (see
            :meth:`BallStateTracker.confidence`); 0 when lost. :class:`BallFinder` reports a
            position only at or above its ``min_confidence``.
    """

    frame_index: int
    xy: tuple[float, float] | None
    diameter: float
    state: str
    measured: bool
    confidence: float = 0.0

    def to_dict(self) -> dict:
        return {"frame": self.frame_index, "xy": None if self.xy is None else [round(v, 1) for v in self.xy],
                "state": self.state}


class BallStateTracker:
    """Kalman track of the ball over candidates, with held / flight / lost (see the module docs).

    Args:
        gate: a candidate is accepted within ``gate`` ball diameters of the prediction (growing
            by ``gate`` per missed frame, up to 3 times), and at least ``min_gate_px``.
        confirm: moving candidates in a row (each within the gate of the last) that start a track.
        max_misses: frames without a candidate before the ball is lost (while held, the
            possessor's hands keep it for ``max_held_misses``).
        max_static: frames a held ball may be fed by a candidate that does not move (a player
            standing with the ball) before only moving candidates count.
        hold_dist: the ball is held when within this many box heights of a player's hands region.
        process_noise, measurement_noise, hands_noise: Kalman noise (pixels); ``hands_noise`` is
            the hands prior's.
        half_life: frames after which the confidence of a track not seen *as a ball* (a detector
            hit, or a moving blob whose track travels: see :meth:`_travels`) halves: a track fed
            by blobs that keep their place on a player's body, or coasting, is believed less and
            less (see :meth:`confidence`).
        look_sigma, look_samples: the ball's colour (mean CIELAB a, b of its blob) is learned from
            the frames it is seen in flight; after ``look_samples`` of them, a blob ``look_sigma``
            away in (a, b) matches at 0.6 (skin and shoes sit about 10 away from a red-brown ball):
            the match weighs the choice of candidate and the confidence, and keeps a held ball
            that looks like the ball believed (see :meth:`confidence`).
        min_speed: a moving blob counts as seen as a ball only while the track travels at least
            this many diameters a frame against the (camera-compensated) background, and while
            held against its player's box.
    """

    def __init__(self, gate: float = 4.0, min_gate_px: float = 20.0, confirm: int = 3, max_misses: int = 8,
                 max_held_misses: int = 45, max_static: int = 20, hold_dist: float = 0.15, process_noise: float = 6.0,
                 measurement_noise: float = 2.0, hands_noise: float = 25.0, half_life: float = 30.0,
                 min_speed: float = 0.2, look_sigma: float = 8.0, look_samples: int = 3) -> None:
        self.half_life, self.min_speed = half_life, min_speed
        self.look_sigma, self.look_samples = look_sigma, look_samples
        self._look: np.ndarray | None = None  # the ball's mean CIELAB (a, b), learned in flight
        self._look_n = 0
        self._match: float | None = None  # this frame's measurement's look match (None: unseen / unknown)
        # recent (position, player ids, player centres), moved with the camera (see _travels)
        self._path: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._since_ball = 0  # frames since the track was last seen as a ball (see confidence)
        self._evidence = 0.0  # what fed it this frame: a confidence before the half-life decay
        self.gate, self.min_gate_px, self.confirm = gate, min_gate_px, confirm
        self.max_misses, self.max_held_misses, self.hold_dist = max_misses, max_held_misses, hold_dist
        self.max_static = max_static
        self.q, self.r, self.r_hands = process_noise, measurement_noise, hands_noise
        self._kf: KalmanFilter | None = None
        self._diameter = 10.0
        self._misses = 0
        self._state = LOST
        self._seeds: list[tuple[np.ndarray, float]] = []  # unconfirmed moving candidates in a row
        self._seed_gap = 0
        self._boxes_at_seeds: list[np.ndarray] = []  # the players' boxes when the seed chain started
        self._seed_look = np.full(2, np.nan)  # the last seed's colour
        self._static = 0  # frames in a row the track was fed only by candidates that did not move

    def _filter(self, xy: np.ndarray, velocity: np.ndarray) -> KalmanFilter:
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = np.array([xy[0], xy[1], velocity[0], velocity[1]], np.float64)
        kf.F = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]])
        kf.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        kf.P = np.diag([self.r**2] * 2 + [15.0**2] * 2)
        kf.Q = np.diag([self.q**2 / 4] * 2 + [self.q**2] * 2)
        return kf

    def _seed(self, cands: BallCandidates, players_xyxy: np.ndarray) -> None:
        """Grow the chain of moving candidates that confirms a new track."""
        detected = np.flatnonzero(cands.detected)
        if len(detected):  # the detector saw it: no confirmation needed
            best = detected[int(np.argmax(cands.score[detected]))]
            self._kf, self._path = self._filter(cands.xy[best], np.zeros(2)), []
            self._diameter, self._misses, self._seeds, self._static = float(cands.diameter[best]), 0, [], 0
            self._since_ball, self._evidence = 0, self.DETECTED
            return
        moving = np.flatnonzero(cands.moving)
        if not len(moving):
            self._seed_gap += 1
            if self._seed_gap > 1:  # one frame without a candidate is bridged (blur, compression)
                self._seeds = []
            return
        self._seed_gap = 0
        if self._seeds:
            last, d = self._seeds[-1]
            if len(self._seeds) >= 2:  # a ball moves smoothly: the next one is near the extrapolation
                # (give or take half a step: frame-rate conversion makes the steps uneven)
                step = float(np.linalg.norm(last - self._seeds[-2][0]))
                expect, radius = 2 * last - self._seeds[-2][0], max(0.5 * self.min_gate_px, 1.5 * d + 0.5 * step)
            else:
                expect, radius = last, max(self.min_gate_px, 2 * self.gate * d)
            dist = np.linalg.norm(cands.xy[moving] - expect, axis=1)
            k = int(np.argmin(dist))
            step = float(np.linalg.norm(cands.xy[moving[k]] - last))
            if dist[k] <= radius and step >= 0.2 * d:
                self._seeds.append((cands.xy[moving[k]], float(cands.diameter[moving[k]])))
                self._seed_look = cands.look[moving[k]]
            else:
                self._seeds = []
        if not self._seeds:
            best = moving[int(np.argmax(cands.score[moving] * self.look_match(cands.look[moving])))]
            self._seeds = [(cands.xy[best], float(cands.diameter[best]))]
            self._seed_look = cands.look[best]
            self._boxes_at_seeds = [np.asarray(players_xyxy, np.float64).reshape(-1, 4)]
        if len(self._seeds) >= self.confirm and not self._moves_with_a_player(players_xyxy):
            xy, d = self._seeds[-1]
            self._kf = self._filter(xy, xy - self._seeds[-2][0])
            self._path = []
            self._diameter, self._misses, self._seeds, self._static = d, 0, [], 0
            # half believed until it is seen travelling in flight (an arm, a sneaker or a floor
            # speck flickering as the camera pans can make a chain too)
            self._since_ball = self.half_life
            self._evidence = self.MOVING
            if self._look_n >= self.look_samples and np.isfinite(self._seed_look).all():
                self._match = float(self.look_match(self._seed_look[None])[0])

    def _moves_with_a_player(self, players_xyxy: np.ndarray) -> bool:
        """The seed chain keeps its place on the nearest player's box (a jersey patch, a sneaker, skin):
        a ball leaving the hands, bouncing or flying moves against the player."""
        boxes = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
        if not len(boxes) or not self._boxes_at_seeds or not len(self._boxes_at_seeds[0]):
            return False
        (first, b0), (last, b1) = (self._seeds[0][0], self._boxes_at_seeds[0]), (self._seeds[-1][0], boxes)
        centres0 = (b0[:, :2] + b0[:, 2:]) / 2
        k = int(np.argmin(np.linalg.norm(centres0 - first, axis=1)))
        centres1 = (b1[:, :2] + b1[:, 2:]) / 2
        j = int(np.argmin(np.linalg.norm(centres1 - centres0[k], axis=1)))  # the same player, a few frames on
        rel0, rel1 = first - centres0[k], last - centres1[j]
        return float(np.linalg.norm(rel1 - rel0)) < max(2.0, 0.5 * self._seeds[-1][1])

    def update(self, frame_index: int, cands: BallCandidates, players: sv.Detections,
               camera: np.ndarray | None = None, possessor: int | None = None,
               image_size: tuple[int, int] | None = None) -> BallObservation:
        """One frame.

        Args:
            cands: this frame's candidates.
            players: tracked players (``tracker_id`` set), referees left out by the caller.
            camera: ``(2, 3)`` affine mapping the previous frame's pixels to this one's (None: static).
            possessor: the current ball holder's ``tracker_id`` (from the possession tracker), if any.
            image_size: ``(width, height)``; a ball predicted outside is lost (out of frame).
        """
        measured, self._match = False, None
        if self._kf is None:
            self._seed(cands, players.xyxy)
            if self._kf is None:
                return BallObservation(frame_index, None, self._diameter, LOST, False)
            measured = True
        else:
            if camera is not None:  # move the state with the camera before predicting
                a = np.asarray(camera, np.float64)
                self._kf.x[:2] = a[:, :2] @ self._kf.x[:2] + a[:, 2]
                self._kf.x[2:] = a[:, :2] @ self._kf.x[2:]
                self._path = [(a[:, :2] @ p + a[:, 2], i, c @ a[:, :2].T + a[:, 2]) for p, i, c in self._path]
            self._kf.predict()
            if len(cands):
                dist = np.linalg.norm(cands.xy - self._kf.x[:2], axis=1)
                gate = max(self.min_gate_px, self.gate * self._diameter * (1 + min(self._misses, 2)))
                # nearest gated candidate, preferring better scores among near ties
                match = self.look_match(cands.look)
                cost = dist / gate - 0.3 * cands.score + 0.5 * ~cands.moving + 0.5 * (1 - match)
                k = int(np.argmin(cost))
                # a blob that does not move only feeds a held ball, close to where it was, for a while
                # (not a rim, a logo, a ball on the sideline, a player's shorts)
                still_ok = self._state == HELD and dist[k] <= 1.5 * self._diameter and self._static < self.max_static
                # a ball in flight over something of its colour (the rim, a backboard's frame) or
                # slow at the top of its arc can read as not moving for a frame or two
                still_ok |= self._state == FLIGHT and dist[k] <= 2 * self._diameter and self._static < self.confirm - 1
                if dist[k] <= gate and (cands.moving[k] or still_ok):
                    self._static = 0 if cands.moving[k] else self._static + 1
                    self._kf.R = np.eye(2) * self.r**2
                    self._kf.update(cands.xy[k])
                    # seen as a ball: the detector's, or a moving blob that travels (a
                    # flickering floor speck or a logo moves only with the camera)
                    seen_as_ball = cands.detected[k] or (cands.moving[k] and self._travels(players))
                    self._since_ball = 0 if seen_as_ball else self._since_ball + 1
                    self._evidence = self.DETECTED if cands.detected[k] else self.MOVING if cands.moving[k] else self.STILL
                    known = self._look_n >= self.look_samples and np.isfinite(cands.look[k]).all()
                    self._match = float(match[k]) if known else None
                    # learn what the ball looks like, in flight only (held, it touches skin and shirt),
                    # and not from a blob unlike it
                    if seen_as_ball and self._state == FLIGHT and np.isfinite(cands.look[k]).all() \
                            and (not known or match[k] >= 0.5):
                        self._look_n += 1
                        rate = max(1.0 / self._look_n, 0.1)
                        self._look = cands.look[k].copy() if self._look is None else \
                            self._look + rate * (cands.look[k] - self._look)
                    self._diameter = 0.7 * self._diameter + 0.3 * float(cands.diameter[k])
                    self._misses, measured = 0, True
            if cands.detected.any() and not (measured and cands.detected[k]) and (not measured or self._since_ball):
                # the detector sees a ball elsewhere and this track was not seen as one this frame:
                # the detection wins at once (a colour track may be on a jersey edge)
                self._kf = None
                self._seed(cands.subset(cands.detected), players.xyxy)
                measured, k, cands = True, 0, cands.subset(cands.detected)
            # weak: fed by still blobs, or none, or by a blob that does not look like the ball
            unlike = self._match is not None and self._match < 0.5
            weak = self._static >= self.confirm or self._misses + 1 >= self.confirm or unlike
            if measured and (cands.detected[k] or (self._state == FLIGHT and not self._static and not unlike)):
                self._seeds = []  # the detector saw it, or it flies on: nothing to take over
            elif weak or self._state == HELD:
                # a held ball, or a track fed by still blobs (or none), yields to a smooth chain of
                # moving candidates elsewhere: the ball leaving the hands
                others = cands if not measured else cands.subset(np.arange(len(cands)) != k)
                kf, kept = self._kf, (self._diameter, self._misses, self._static, self._since_ball, self._evidence)
                self._kf = None
                self._seed(others, players.xyxy)
                if self._kf is not None:
                    measured, self._state = True, FLIGHT
                else:
                    self._kf = kf
                    self._diameter, self._misses, self._static, self._since_ball, self._evidence = kept
            if not measured:
                self._misses += 1
                self._since_ball += 1
                self._evidence = self.UNSEEN * 0.75 ** (self._misses - 1)
                if self._misses > 2:  # coasting: do not let a noisy velocity carry it across the frame
                    self._kf.x[2:] *= 0.7
                hands = self._hands(players, possessor)
                if hands is not None and self._state == HELD:
                    self._kf.R = np.eye(2) * self.r_hands**2
                    self._kf.update(hands)
                    self._kf.x[2:] *= 0.5
        xy = self._kf.x[:2].copy()
        w, h = image_size if image_size is not None else (np.inf, np.inf)
        outside = not (-self._diameter <= xy[0] <= w + self._diameter and -self._diameter <= xy[1] <= h + self._diameter)
        limit = self.max_held_misses if self._state == HELD and possessor is not None else self.max_misses
        if outside or self._misses > limit:
            self._kf, self._state, self._misses = None, LOST, 0
            return BallObservation(frame_index, None, self._diameter, LOST, False)
        self._path = (self._path + [(xy, *self._centres(players))])[-self.PATH:]
        self._state = HELD if self._near_hands(xy, players.xyxy) else FLIGHT
        return BallObservation(frame_index, (float(xy[0]), float(xy[1])), self._diameter, self._state, measured,
                               self.confidence())

    #: Confidence of what fed the track on a frame, before the decay (see :meth:`confidence`).
    DETECTED, MOVING, STILL, UNSEEN = 0.95, 0.85, 0.6, 0.5

    #: Frames of camera-compensated track positions kept to tell travel from jitter.
    PATH = 5

    @staticmethod
    def _centres(players: sv.Detections) -> tuple[np.ndarray, np.ndarray]:
        xyxy = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        ids = players.tracker_id if players.tracker_id is not None else np.arange(len(xyxy))
        return np.asarray(ids), (xyxy[:, :2] + xyxy[:, 2:]) / 2

    def _travels(self, players: sv.Detections) -> bool:
        """The track moved at least ``min_speed`` diameters a frame over its last :data:`PATH`
        positions, camera-compensated -- and, while held, against the nearest player's box (a
        dribble does; a speck flickering in place, a logo moving only with the camera, or a shirt
        patch or sneaker moving with its player do not)."""
        if len(self._path) < 3:
            return False
        steps = len(self._path)  # the newest position is this frame's, not in the path yet
        now, (xy0, ids0, c0) = self._kf.x[:2], self._path[0]
        move = now - xy0
        if self._state == HELD:
            ids, c = self._centres(players)
            if not len(c):
                return False
            j = int(np.argmin(np.linalg.norm(c - now, axis=1)))
            same = np.flatnonzero(ids0 == ids[j])
            if not len(same):
                return False
            move = move - (c[j] - c0[same[0]])
        return bool(np.linalg.norm(move) >= self.min_speed * self._diameter * steps)

    def confidence(self) -> float:
        """How much the current position is to be believed, in [0, 1]: what fed it this frame
        (the detector's ball :attr:`DETECTED`, a moving colour blob :attr:`MOVING`, a blob that did
        not move :attr:`STILL`, nothing -- a prediction or the holder's hands -- :attr:`UNSEEN`,
        times 0.75 per further frame unseen), halved every ``half_life`` frames since the track was
        last seen *as a ball* (a detector hit or a moving blob in flight). Skin, a sneaker or a
        shirt patch that took a held track over moves with a player and is never seen in flight:
        its confidence fades."""
        if self._kf is None:
            return 0.0
        decay = 0.5 ** (self._since_ball / max(self.half_life, 1e-6))
        if self._match is None:  # unseen this frame, or the ball's look not learned yet
            return float(self._evidence * decay)
        return float(self._evidence * max(decay, self._match) * self._match ** 0.5)

    def look_match(self, look: np.ndarray) -> np.ndarray:
        """``(N,)`` in [0, 1]: how well candidates' mean colours ``(N, 2)`` match the ball's colour
        learned while it was seen in flight (1 before ``look_samples`` such frames, and for
        detector rows): ``exp(-d^2 / 2 look_sigma^2)``, ``d`` the CIELAB (a, b) distance."""
        if self._look is None or self._look_n < self.look_samples:
            return np.ones(len(look))
        d2 = ((np.asarray(look, np.float64) - self._look) ** 2).sum(axis=1)
        return np.where(np.isfinite(d2), np.exp(-d2 / (2 * self.look_sigma**2)), 1.0)

    @staticmethod
    def _hands(players: sv.Detections, possessor: int | None) -> np.ndarray | None:
        if possessor is None or not len(players) or players.tracker_id is None:
            return None
        hit = np.flatnonzero(players.tracker_id == possessor)
        if not len(hit):
            return None
        r = hands_regions(players.xyxy[hit[:1]], band=(0.3, 0.55), widen=0.0)[0]
        return np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2])

    def _near_hands(self, xy: np.ndarray, players_xyxy: np.ndarray) -> bool:
        xyxy = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
        if not len(xyxy):
            return False
        region = hands_regions(xyxy, band=(0.15, 0.95), widen=0.35)
        dx = np.maximum.reduce([region[:, 0] - xy[0], np.zeros(len(region)), xy[0] - region[:, 2]])
        dy = np.maximum.reduce([region[:, 1] - xy[1], np.zeros(len(region)), xy[1] - region[:, 3]])
        return bool((np.hypot(dx, dy) / np.maximum(xyxy[:, 3] - xyxy[:, 1], 1)).min() <= self.hold_dist)


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
        duplicate: a frame whose blurred grey differs from the previous one nowhere by more than
            this (0-255) is a repeat (frame-rate conversion, re-encoded: a few grey levels of noise):
            it gets the previous answer (51 of the court clip's 321 frames are such repeats).
    """

    def __init__(self, colour: ColourCandidates | None = None, tiles: TileBallDetector | None = None,
                 tracker: BallStateTracker | None = None,
                 camera: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
                 min_confidence: float = 0.6, duplicate: float = 2.0) -> None:
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
        if self.tiles is not None:
            focus = None if self._last is None or self._last.xy is None else np.array(self._last.xy)
            parts.append(self.tiles(frame_index, image, xyxy, focus))
        obs = self.tracker.update(frame_index, BallCandidates.concat(parts), players, a, possessor,
                                  (image.shape[1], image.shape[0]))
        self._prev, self._prev_small, self._prev_boxes, self._last = image, prepared, xyxy, obs
        return self._report(obs)

    def _report(self, obs: BallObservation) -> BallObservation:
        if obs.xy is not None and obs.confidence < self.min_confidence:
            return BallObservation(obs.frame_index, None, obs.diameter, LOST, obs.measured, obs.confidence)
        return obs
