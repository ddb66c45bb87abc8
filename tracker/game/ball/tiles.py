"""The detector's ``sports ball`` class run again on a few higher-resolution tiles around the upper
bodies of the players nearest the ball (or the predicted ball), batched, only every ``every``
frames: on a CPU one 640 tile costs about as much as a frame (measured in ``bench/ball_recall.py``)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import supervision as sv

from tracker.common.coco import SPORTS_BALL
from tracker.game.ball.candidates import BallCandidates


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
