"""Global camera motion between consecutive frames, from feature tracks outside the player boxes."""

from __future__ import annotations

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class CameraMotionEstimator:
    """Estimates the 2x3 partial-affine (rotation, uniform scale, translation) that maps
    points of the previous frame to the current one.

    Method: Shi-Tomasi corners in the previous frame (masked outside the player
    boxes, which move on their own), pyramidal Lucas-Kanade flow to the current
    frame, ``cv2.estimateAffinePartial2D`` with RANSAC. Frames are analysed at
    ``work_width`` pixels wide for speed; the result is in full-resolution pixels.
    Falls back to the identity when too few features survive (flat frames).
    """

    def __init__(self, work_width: int = 640, max_corners: int = 400, min_inliers: int = 12,
                 win_size: int = 21, max_level: int = 3) -> None:
        self.work_width = work_width
        self.max_corners = max_corners
        self.min_inliers = min_inliers
        self.win_size, self.max_level = win_size, max_level  # Lucas-Kanade window (px) and pyramid levels

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """``(H, W, 3)`` uint8 BGR -> (grey image at ``work_width``, its scale ``s`` = work / full)."""
        h, w = image.shape[:2]
        s = min(1.0, self.work_width / w)
        size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if s < 1.0 else image
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), s

    def estimate(self, prev: np.ndarray, cur: np.ndarray, prev_boxes: np.ndarray | None = None) -> np.ndarray:
        """Args: ``prev``/``cur`` ``(H, W, 3)`` uint8 BGR; ``prev_boxes`` ``(N, 4)`` xyxy to ignore.

        Returns: ``(2, 3)`` float64 affine, ``cur_xy = A @ [x, y, 1]``.
        """
        (g0, s), (g1, _) = self.prepare(prev), self.prepare(cur)
        return self.estimate_prepared(g0, g1, s, prev_boxes)

    def estimate_prepared(self, g0: np.ndarray, g1: np.ndarray, s: float,
                          prev_boxes: np.ndarray | None = None) -> np.ndarray:
        """:meth:`estimate` on two frames already made by :meth:`prepare` (scale ``s``), so a
        caller that sees every frame prepares each one once."""
        mask = np.full(g0.shape, 255, np.uint8)
        if prev_boxes is not None:
            for x1, y1, x2, y2 in np.asarray(prev_boxes, dtype=np.float64).reshape(-1, 4) * s:
                pad = 0.1 * (y2 - y1)
                mask[max(0, int(y1 - pad)) : int(y2 + pad) + 1, max(0, int(x1 - pad)) : int(x2 + pad) + 1] = 0
        pts = cv2.goodFeaturesToTrack(g0, self.max_corners, 0.01, 7, mask=mask)
        if pts is None or len(pts) < self.min_inliers:
            return IDENTITY.copy()
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(g0, g1, pts, None, winSize=(self.win_size, self.win_size),
                                                maxLevel=self.max_level)
        ok = status.reshape(-1) == 1
        if ok.sum() < self.min_inliers:
            return IDENTITY.copy()
        a, inliers = cv2.estimateAffinePartial2D(
            pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=500, confidence=0.99
        )
        if a is None or inliers is None or inliers.sum() < self.min_inliers:
            return IDENTITY.copy()
        a = a.astype(np.float64)
        a[:, 2] /= s  # translation back to full resolution; rotation/scale are size-free
        return a


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine ``b after a`` (apply ``a`` first), both ``(2, 3)``."""
    m = np.vstack([b, [0, 0, 1]]) @ np.vstack([a, [0, 0, 1]])
    return m[:2]


def apply(a: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(N, 2)`` points."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return xy @ a[:, :2].T + a[:, 2]
