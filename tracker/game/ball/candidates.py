"""Ball candidates from colour and motion: orange-brown, round blobs whose size fits the ball size
predicted from the nearest player's height (a ball is about :data:`BALL_TO_BODY` of a body height),
scored by how much they move against the camera-compensated previous frame (a court logo or a
static ball on the sideline does not move; a sneaker is not round) and by where a ball can be.

All positions are image pixels of the full frame, ``(x, y)`` of the ball centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

#: Ball diameter as a fraction of a standing player's box height (24 cm ball, ~2 m box).
BALL_TO_BODY = 0.12


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
