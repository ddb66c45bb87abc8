"""On-court filter: keep the people standing on the playing floor, drop spectators and the bench.

The floor is estimated from the frame itself, no hand-made masks:

1. the frame is shrunk to ``work_width`` pixels and converted to Lab;
2. the *dominant floor colour* is the peak of a coarse Lab histogram of the lower
   part of the frame (where the floor of a basketball shot lies), refined as the
   mean of the pixels near that peak;
3. pixels close to that colour (lightness weighted down, so shading and glare
   on a wooden floor still count) form a mask, closed over court lines and
   opened against speckle; its largest connected region is the floor;
4. painted areas are added to it (:func:`_add_paint`): a region of another colour
   (the key, a logo, a painted corner) that is smooth like a floor and whose
   border lies mostly on the wood (frame edges aside) is part of the playing
   surface, even where it reaches the frame's edge and the wood does not surround it;
5. the convex hull of the result (filling the holes made by players, paint and logos)
   is the floor mask, scaled back to the frame size.

:class:`CourtFilter` refreshes that mask every ``refresh_every`` frames, so it
follows a panning broadcast camera, and keeps a person only when the feet point
(bottom centre of the box, nudged up a little) is on the floor, the box's
height fits the others on the floor (size prior), and the feet are in view (a box
cut by the frame's bottom edge is a front-row spectator in broadcast footage). When no floor can be found
(a plain frame, a close-up), it keeps everyone rather than dropping all.

Frames are ``(H, W, 3)`` uint8 in OpenCV's BGR order unless ``rgb=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
import supervision as sv

from tracker.common.coco import PERSON



@dataclass(frozen=True)
class FloorEstimate:
    """One estimate of the playing floor.

    The masks are kept at the working resolution the floor was found at (a 1080p frame
    is shrunk to about 192x108); :attr:`mask` and :attr:`support` are the frame-sized
    versions, made on first use, and :meth:`at` reads the small ones at frame points.

    Attributes:
        small_mask: ``(h, w)`` bool, True on the floor: the hull (all True when ``found`` is False).
        small_support: ``(h, w)`` bool, the floor-coloured region itself (holes filled), before
            the hull; a player's feet must touch it.
        frame_shape: ``(H, W)`` of the frame.
        colour_lab: ``(3,)`` float32, the floor's dominant colour in OpenCV 8-bit Lab
            (L, a, b each in 0..255, neutral a/b = 128).
        found: whether a floor region was found at all.
        area_fraction: the floor hull's share of the frame (0..1).
        extent: ``(4,)`` float32 ``xyxy`` bounding box of the floor in frame pixels.
    """

    small_mask: np.ndarray
    small_support: np.ndarray
    frame_shape: tuple[int, int]
    colour_lab: np.ndarray
    found: bool
    area_fraction: float
    extent: np.ndarray

    @cached_property
    def mask(self) -> np.ndarray:
        """``(H, W)`` bool :attr:`small_mask` at frame size."""
        return _frame_sized(self.small_mask, self.frame_shape)

    @cached_property
    def support(self) -> np.ndarray:
        """``(H, W)`` bool :attr:`small_support` at frame size."""
        return _frame_sized(self.small_support, self.frame_shape)

    def at(self, small: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values of a working-resolution mask ``small`` at frame pixels ``(x, y)`` (integer arrays),
        as the frame-sized mask would give them (nearest neighbour)."""
        (height, width), (h, w) = self.frame_shape, small.shape
        sx = np.clip((np.asarray(x) * w) // width, 0, w - 1)
        sy = np.clip((np.asarray(y) * h) // height, 0, h - 1)
        return small[sy, sx]


def _frame_sized(small: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    height, width = frame_shape
    return cv2.resize(small.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def to_lab(frame: np.ndarray, rgb: bool = False) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR (or RGB) -> ``(H, W, 3)`` float32 OpenCV Lab."""
    code = cv2.COLOR_RGB2LAB if rgb else cv2.COLOR_BGR2LAB
    return cv2.cvtColor(frame, code).astype(np.float32)


def lab_distance(lab: np.ndarray, colour: np.ndarray, lightness_weight: float = 0.5) -> np.ndarray:
    """Distance of every Lab pixel ``(..., 3)`` to one colour ``(3,)``; lightness weighted down.

    Returns ``(...)`` float32. Chroma (a, b) matters most, so a floor in shade or
    under glare stays close to its own colour while a different hue does not.
    """
    diff = lab - colour.astype(np.float32)
    diff[..., 0] *= lightness_weight
    return np.sqrt((diff**2).sum(axis=-1))


def candidate_colours(
    lab: np.ndarray, count: int = 4, lower_fraction: float = 0.6, bins: tuple[int, int, int] = (4, 12, 12)
) -> list[np.ndarray]:
    """Candidate floor colours: the ``count`` highest peaks of a coarse Lab histogram.

    Only the lower ``lower_fraction`` of the rows is searched, and rows are weighted
    linearly from 0 (top of that part) to 1 (bottom row): the floor is nearer the
    camera than walls and stands.

    Args:
        lab: ``(H, W, 3)`` float32 Lab image (small; a few hundred pixels wide).

    Returns:
        up to ``count`` ``(3,)`` float32 colours: each bin's mean, moved by two
        mean-shift steps to the mean of the pixels near it.
    """
    h, w = lab.shape[:2]
    top = int(h * (1.0 - lower_fraction))
    region = lab[top:].reshape(-1, 3)
    row_weight = np.repeat(np.linspace(0.0, 1.0, h - top, dtype=np.float32), w)
    hist, edges = np.histogramdd(region, bins=bins, range=[(0, 256)] * 3, weights=row_weight)
    index = np.stack(
        [np.clip(np.digitize(region[:, axis], edges[axis][1:-1]), 0, bins[axis] - 1) for axis in range(3)], axis=1
    )
    flat = np.ravel_multi_index(index.T, bins)
    colours = []
    for peak in np.argsort(hist, axis=None)[::-1][:count]:
        if hist.flat[peak] <= 0:
            break
        colour = region[flat == peak].mean(axis=0)
        for _ in range(2):  # mean-shift steps: the bin edges cut the colour's spread arbitrarily
            near = region[lab_distance(region, colour) <= 12.0]
            if len(near):
                colour = near.mean(axis=0)
        colours.append(colour.astype(np.float32))
    return colours


def _hull(region: np.ndarray) -> np.ndarray:
    """Convex hull of a non-empty uint8 mask, from its outer contours (the same hull as of all its pixels)."""
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return cv2.convexHull(np.concatenate(contours))


def _floor_region(lab: np.ndarray, edges: np.ndarray, colour: np.ndarray, tolerance: float) -> tuple[np.ndarray, float]:
    """Largest connected region of pixels near ``colour`` (closed over lines, holes filled).

    Returns the ``(h, w)`` uint8 region and its score: row-weighted area (lower rows
    weigh more) times solidity squared (area / convex hull area) times smoothness
    squared (1 - share of ``edges`` pixels inside). A floor is one big, convex-ish,
    fairly smooth sheet; a crowd of similar darkness is ragged and busy.
    """
    close_to = (lab_distance(lab, colour) <= tolerance).astype(np.uint8)
    sh, sw = close_to.shape
    k = max(3, (round(sw / 40) // 2) * 2 + 1)  # odd kernel, ~2.5% of the width: bridges court lines
    close_to = cv2.morphologyEx(close_to, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    close_to = cv2.morphologyEx(close_to, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(close_to, connectivity=8)
    if count <= 1:
        return np.zeros_like(close_to), 0.0
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    # fill interior holes (players, logos, paint): flood the outside from a padded border
    padded = cv2.copyMakeBorder(1 - region, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    region = np.where(flood[1:-1, 1:-1] == 2, 0, 1).astype(np.uint8)
    row_weight = np.linspace(0.5, 1.0, sh, dtype=np.float32)[:, None]
    hull_area = cv2.contourArea(_hull(region))
    solidity = min(1.0, float(region.sum()) / max(hull_area, 1.0))
    smoothness = 1.0 - float(edges[region > 0].mean())
    return region, float((region * row_weight).sum()) * solidity**2 * smoothness**2


def _add_paint(
    lab: np.ndarray,
    edges: np.ndarray,
    region: np.ndarray,
    colours: list[np.ndarray],
    floor_colour: np.ndarray,
    tolerance: float,
    *,
    min_wood_above: float = 0.5,
    min_wood_beside: float = 0.3,
    min_area_fraction: float = 0.004,
    max_edge_density: float = 0.25,
) -> np.ndarray:
    """``region`` (the wood, ``(h, w)`` uint8) plus the painted areas that belong to it.

    A connected region of one of the other candidate ``colours`` joins the floor when

    * in at least ``min_wood_above`` of its columns the wood lies just above its top
      pixel (within a court line's width), and just below its bottom pixel or the frame
      ends there: paint is drawn *on* the floor, so the floor goes on beyond its far
      edge, while an out-of-bounds band, the bench's strip and the stands lie beyond the
      floor, and a broadcast overlay has the crowd below it;
    * in at least ``min_wood_beside`` of its rows the wood lies just left or right of it: paint
      has the floor beside it too, while a band on the near side of the court (between the
      camera and the floor) or a broadcast overlay at the bottom of the picture does not;
    * it does not start above the floor's top row;
    * it is smooth: at most ``max_edge_density`` of its pixels are edges (a crowd is busy);
    * it covers at least ``min_area_fraction`` of the frame.

    The test holds where the paint runs into the frame's edges (the camera looks at one
    basket and the key fills a corner), which the wood's hull alone does not cover.
    """
    sh, sw = region.shape
    out = region.copy()
    rows = np.flatnonzero(region.any(axis=1))
    if not len(rows):
        return out
    floor_top = int(rows[0])
    k = max(3, (round(sw / 40) // 2) * 2 + 1)
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    reach = k  # rows above the paint searched for wood: a court line and a little
    # wood[y, x]: some wood within ``reach`` rows above (y, x), inclusive; a vertical max filter
    wood = cv2.dilate(region, np.ones((reach, 1), np.uint8), anchor=(0, reach - 1))
    below = cv2.dilate(region, np.ones((reach, 1), np.uint8), anchor=(0, 0))  # wood within reach below
    beside = cv2.dilate(region, np.ones((1, 2 * reach + 1), np.uint8)).astype(bool)  # wood within reach left/right
    for colour in colours:
        if lab_distance(colour, floor_colour) <= tolerance:
            continue
        near = (lab_distance(lab, colour) <= tolerance).astype(np.uint8)
        near = cv2.morphologyEx(near, cv2.MORPH_CLOSE, close)
        near[region > 0] = 0
        count, labels, stats, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
        for c in range(1, count):
            if stats[c, cv2.CC_STAT_AREA] < min_area_fraction * sh * sw or stats[c, cv2.CC_STAT_TOP] < floor_top:
                continue
            part = labels == c
            if edges[part].mean() > max_edge_density:
                continue
            columns = np.flatnonzero(part.any(axis=0))
            tops = part[:, columns].argmax(axis=0)
            above = wood[np.maximum(tops - 1, 0), columns].astype(bool) & (tops > 0)
            bottoms = sh - 1 - part[::-1, columns].argmax(axis=0)
            under = (bottoms == sh - 1) | below[np.minimum(bottoms + 1, sh - 1), columns].astype(bool)
            if above.mean() < min_wood_above or under.mean() < min_wood_above:
                continue
            rows = np.flatnonzero(part.any(axis=1))
            left = part[rows].argmax(axis=1)
            right = sw - 1 - part[rows, ::-1].argmax(axis=1)
            side = (beside[rows, np.maximum(left - 1, 0)] & (left > 0)) | (
                beside[rows, np.minimum(right + 1, sw - 1)] & (right < sw - 1))
            if side.mean() >= min_wood_beside:
                out[part] = 1
    return out


def estimate_floor(
    frame: np.ndarray,
    *,
    rgb: bool = False,
    work_width: int = 192,
    colour_tolerance: float = 20.0,
    min_area_fraction: float = 0.08,
    max_area_fraction: float = 0.97,
    prefer: np.ndarray | None = None,
    prefer_bonus: float = 1.5,
    paint: bool = True,
) -> FloorEstimate:
    """Estimate the playing floor of one frame (see the module docstring for the steps).

    Each candidate colour (:func:`candidate_colours`) is grown into its largest
    connected region; the colour whose region is largest (lower rows weighing more)
    scores best (:func:`_floor_region`) is the floor.

    Args:
        frame: ``(H, W, 3)`` uint8 image.
        rgb: True when ``frame`` is RGB rather than BGR.
        work_width: the width the frame is shrunk to before segmentation.
        colour_tolerance: Lab distance (:func:`lab_distance`) that still counts as floor.
        min_area_fraction: a floor hull smaller than this share of the frame is "not found".
        max_area_fraction: a hull larger than this share means the whole frame is one
            colour (nothing to tell floor from stands): also "not found".
        prefer: ``(3,)`` Lab colour of the floor found before (the floor's colour does not
            change as the camera pans); a candidate near it has its score times ``prefer_bonus``.
        paint: add painted areas (key, logos) to the floor (:func:`_add_paint`); False is the
            wood-only model (kept to measure the difference).

    Returns:
        A :class:`FloorEstimate`; its masks are all True when no floor was found.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"estimate_floor wants an (H, W, 3) frame, got {frame.shape}")
    height, width = frame.shape[:2]
    scale = min(1.0, work_width / width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    lab = to_lab(cv2.GaussianBlur(small, (3, 3), 0), rgb=rgb)
    edges = cv2.Canny(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY if rgb else cv2.COLOR_BGR2GRAY), 50, 150) > 0
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    colours = candidate_colours(lab, count=6)
    for colour in colours[:4]:
        region, score = _floor_region(lab, edges, colour, colour_tolerance)
        if prefer is not None and np.isfinite(prefer).all() and lab_distance(colour, prefer) <= colour_tolerance:
            score *= prefer_bonus
        if best is None or score > best[0]:
            best = (score, region, colour)
    everything = np.ones(size[::-1], dtype=bool)
    whole = np.array([0, 0, width, height], dtype=np.float32)
    if best is None or best[0] <= 0:
        return FloorEstimate(everything, everything, (height, width), np.zeros(3, np.float32), False, 1.0, whole)
    _, region, colour = best
    if paint:
        region = _add_paint(lab, edges, region, colours, colour, colour_tolerance)
    hull = _hull(region)
    small_mask = np.zeros_like(region)
    cv2.fillConvexPoly(small_mask, hull, 1)
    fraction = float(small_mask.mean())
    if not (min_area_fraction <= fraction <= max_area_fraction):
        return FloorEstimate(everything, everything, (height, width), colour, False, fraction, whole)
    x, y, w, h = cv2.boundingRect(hull)
    extent = np.array([x, y, x + w, y + h], dtype=np.float32) / np.float32(scale)
    return FloorEstimate(small_mask.astype(bool), region.astype(bool), (height, width), colour, True, fraction, extent)


def expected_heights(feet_y: np.ndarray, heights: np.ndarray, query_y: np.ndarray, frame_height: int) -> np.ndarray:
    """Height a person standing at each ``query_y`` feet row should have, ``(M,)``.

    Fits ``h = a + b * y`` (b >= 0: nearer the camera, taller) to the ``(N,)`` feet
    rows and box heights of the people on the floor by exhaustive RANSAC: the line
    through two of them that agrees (within 25 %) with the most others, refitted by
    least squares to those. Robust to front-row spectators, merged boxes and crouching
    players, which sit at the edges and would drag a plain fit. Falls back to the
    median height when there are fewer than four people, their feet rows span less
    than 5 % of the frame height, or no line agrees with at least half of them.
    The result is at least 0.3 x the median height.
    """
    feet_y = np.asarray(feet_y, np.float64)
    heights = np.asarray(heights, np.float64)
    median = float(np.median(heights))
    flat = np.full(len(query_y), median)
    n = len(heights)
    if n < 4 or np.ptp(feet_y) < 0.05 * frame_height:
        return flat
    i, j = np.triu_indices(n, k=1)
    dy = feet_y[j] - feet_y[i]
    usable = np.abs(dy) > 1e-6
    slope = np.where(usable, (heights[j] - heights[i]) / np.where(usable, dy, 1.0), -1.0)
    intercept = heights[i] - slope * feet_y[i]
    pred = intercept[:, None] + slope[:, None] * feet_y[None, :]  # (pairs, n)
    agree = (np.abs(heights[None, :] - pred) <= 0.25 * np.maximum(pred, 1.0)) & (slope[:, None] >= 0)
    best = int(np.argmax(agree.sum(axis=1)))
    inliers = agree[best]
    if inliers.sum() < max(3, n / 2):
        return flat
    b, a = np.polyfit(feet_y[inliers], heights[inliers], 1)
    if b < 0:
        return flat
    return np.maximum(a + b * np.asarray(query_y, np.float64), 0.3 * median)


def person_rows(detections: sv.Detections, person_class_ids: tuple[int, ...]) -> np.ndarray:
    """``(N,)`` bool: the rows that are people (every row when ``class_id`` is None)."""
    if detections.class_id is None:
        return np.ones(len(detections), dtype=bool)
    return np.isin(detections.class_id, person_class_ids)


class CourtFilter:
    """Keeps the people on the playing floor; a stage between the detector and the tracker.

    Args:
        refresh_every: frames between floor re-estimates (the camera may pan). Raising it
            is cheaper but follows a panning camera with a lag (people at the edge of the
            floor may be judged against a stale mask); lowering it re-estimates more often.
        feet_nudge: the feet point is moved up by this share of the box height
            (feet boxes end a little below the soles, and a foot on a line still counts).
            Raising it keeps players whose boxes overhang the floor's edge (and spectators
            standing right at it); lowering it judges the very bottom of the box.
        margin: the floor mask is grown by this share of the frame height before the
            feet test, so players on the boundary lines are kept. Raising it keeps people
            further off the floor (bench, courtside seats); lowering it is stricter.
        min_rel_height, max_rel_height: size prior; a box whose height is outside
            ``[min, max] x`` the height expected for its feet row is dropped (applied when
            at least ``min_people_for_size`` people are on the floor). The expected height
            is a line ``h = a + b * feet_y`` fitted to the on-floor people (perspective:
            nearer the camera, taller), or their median height when the line cannot be
            trusted (fewer than four people, feet rows too close together, b < 0); see
            :func:`expected_heights`. Widening ``[min, max]`` keeps crouching or jumping
            players (and more mis-sized boxes: distant spectators, merged pairs); narrowing
            it drops them.
        min_people_for_size: people on the floor needed before the size prior applies.
            Raising it applies the prior only in crowded frames; lowering it applies it
            from few (less reliable) references.
        max_floor_height_ratio: a box taller than this times the floor's vertical
            extent is dropped (a close-up spectator in front of the camera). Raising it
            keeps taller boxes (close-up shots of players); lowering it drops them.
        drop_cut_at_bottom: drop boxes that reach the frame's bottom edge (within 1 % of
            the height): their feet are not in view, and in broadcast footage these are
            the front-row spectators between the camera and the court. Turn it off for
            footage where players walk out of the bottom of the view.
        person_class_ids: rows of these classes are filtered; other rows (the ball)
            pass through untouched. When ``class_id`` is None every row is a person.
        rgb: frames are RGB rather than BGR.
        work_width: the width frames are shrunk to for the floor estimate
            (:func:`estimate_floor`). Raising it gives finer floor edges at a higher cost;
            lowering it is cheaper and coarser.
        colour_tolerance: Lab distance that still counts as floor (:func:`estimate_floor`).
            Raising it grows the floor over shadows and glare (and into similar-coloured
            stands); lowering it gives a tighter floor that may lose its shaded parts.
        paint: add painted areas (key, logos) to the floor (:func:`estimate_floor`). Off is the
            wood-only model: players standing in a differently painted key may be dropped.
    """

    def __init__(
        self,
        refresh_every: int = 15,
        *,
        feet_nudge: float = 0.04,
        margin: float = 0.01,
        min_rel_height: float = 0.5,
        max_rel_height: float = 1.8,
        min_people_for_size: int = 3,
        max_floor_height_ratio: float = 1.5,
        drop_cut_at_bottom: bool = True,
        person_class_ids: tuple[int, ...] = (PERSON,),
        rgb: bool = False,
        work_width: int = 192,
        colour_tolerance: float = 20.0,
        paint: bool = True,
    ) -> None:
        if refresh_every < 1:
            raise ValueError("refresh_every must be >= 1")
        self.refresh_every = refresh_every
        self.feet_nudge = feet_nudge
        self.margin = margin
        self.min_rel_height = min_rel_height
        self.max_rel_height = max_rel_height
        self.min_people_for_size = min_people_for_size
        self.max_floor_height_ratio = max_floor_height_ratio
        self.drop_cut_at_bottom = drop_cut_at_bottom
        self.person_class_ids = tuple(person_class_ids)
        self.rgb = rgb
        self.work_width = work_width
        self.colour_tolerance = colour_tolerance
        self.paint = paint
        self._calls = 0
        self._floor: FloorEstimate | None = None
        self._test_mask: np.ndarray | None = None

    @property
    def floor(self) -> FloorEstimate | None:
        """The current floor estimate (None before the first frame)."""
        return self._floor

    def estimate(self, frame: np.ndarray) -> FloorEstimate:
        """A fresh :class:`FloorEstimate` for ``frame`` (does not change the filter's state;
        prefers the colour of the floor found last, when there is one)."""
        prefer = self._floor.colour_lab if self._floor is not None and self._floor.found else None
        return estimate_floor(
            frame, rgb=self.rgb, work_width=self.work_width, colour_tolerance=self.colour_tolerance, prefer=prefer,
            paint=self.paint,
        )

    def floor_mask(self, frame: np.ndarray) -> np.ndarray:
        """``(H, W)`` bool floor mask of ``frame``; all True when no floor is found."""
        return self.estimate(frame).mask

    def _refresh(self, frame: np.ndarray) -> None:
        stale = self._floor is None or self._floor.frame_shape != frame.shape[:2]
        if stale or self._calls % self.refresh_every == 0:
            self._floor = self.estimate(frame)
            small = self._floor.small_mask
            grow = max(1, round(self.margin * small.shape[0])) * 2 + 1  # the margin, at the mask's scale
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
            self._test_mask = cv2.dilate(small.astype(np.uint8), kernel).astype(bool)
        self._calls += 1

    def on_floor(self, frame: np.ndarray, detections: sv.Detections) -> np.ndarray:
        """``(N,)`` bool: which rows are kept (non-person rows are always True)."""
        self._refresh(frame)
        floor = self._floor
        n = len(detections)
        keep = np.ones(n, dtype=bool)
        if n == 0 or floor is None or not floor.found:
            return keep
        people = person_rows(detections, self.person_class_ids)
        if not people.any():
            return keep
        height, width = floor.frame_shape
        xyxy = detections.xyxy[people].astype(np.float64)
        box_h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
        fx = np.clip(np.round((xyxy[:, 0] + xyxy[:, 2]) / 2), 0, width - 1).astype(int)
        fy = np.clip(np.round(xyxy[:, 3] - np.maximum(2.0, self.feet_nudge * box_h)), 0, height - 1).astype(int)
        ok = floor.at(self._test_mask, fx, fy)
        if self.drop_cut_at_bottom:
            ok &= xyxy[:, 3] < height - max(1.0, 0.01 * height)
        ok &= box_h <= self.max_floor_height_ratio * max(1.0, float(floor.extent[3] - floor.extent[1]))
        if ok.sum() >= self.min_people_for_size:
            expected = expected_heights(xyxy[ok, 3], box_h[ok], xyxy[:, 3], frame_height=height)
            ok &= (box_h >= self.min_rel_height * expected) & (box_h <= self.max_rel_height * expected)
        keep[np.flatnonzero(people)] = ok
        return keep

    def __call__(self, frame: np.ndarray, detections: sv.Detections) -> sv.Detections:
        """The rows of ``detections`` that are on the floor (and all non-person rows)."""
        return detections[self.on_floor(frame, detections)]
