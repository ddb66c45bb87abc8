"""What each person wears: colour descriptors of the torso and the shorts.

Per detection, an appearance descriptor from two regions: the *torso* -- the
central part of the upper half of the box (below the head, inside the arms) --
and the *shorts* (a referee's black trousers). Each region gives a 16-bin colour
histogram -- 12 hue bins for chromatic pixels plus 4 lightness bins (black, dark
grey, light grey, white) for achromatic ones -- after masking out pixels close to
the floor's colour (the floor shows through between arm and torso). The histograms
are square-rooted and scaled so that the Euclidean distance between descriptors is
the root mean square of the two regions' Hellinger distances (0 = same colours,
sqrt(2) = disjoint colours). A torso hidden behind a nearer player is skipped.

:class:`ColourDescriber` makes them for all the people of a frame at once;
:class:`~tracker.game.teams.assigner.TeamAssigner` clusters them into teams.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from tracker.game.court import FloorEstimate, estimate_floor, lab_distance, to_lab

HUE_BINS = 12
GREY_BINS = 4
HISTOGRAM_SIZE = HUE_BINS + GREY_BINS
#: torso histogram then shorts histogram, each square-rooted and scaled by 1/sqrt(2) (unit norm)
DESCRIPTOR_SIZE = 2 * HISTOGRAM_SIZE
#: :meth:`ColourDescriber.describe`'s answer for one frame's rows: ``(N, 32)`` descriptors, ``(N,)`` usable.
Described = tuple[np.ndarray, np.ndarray]


def box_part(xyxy: np.ndarray, side: float, top: float, bottom: float) -> np.ndarray:
    """``(N, 4)`` boxes -> ``(N, 4)`` their parts: ``side`` of the width off each side, rows from
    ``top`` to ``bottom`` of the height below the top."""
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [xyxy[:, 0] + side * w, xyxy[:, 1] + top * h, xyxy[:, 2] - side * w, xyxy[:, 1] + bottom * h], axis=1
    )


def torso_box(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` person boxes -> ``(N, 4)`` torso boxes: centre of the upper half.

    x: the central 40 % of the width (inside the arms); y: from 15 % to 48 % of the
    height below the top (below the head, above the shorts).
    """
    return box_part(xyxy, 0.3, 0.15, 0.48)


def shorts_box(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` person boxes -> ``(N, 4)`` shorts boxes: central 50 % of the width,
    50 % to 68 % of the height (team shorts; a referee's black trousers)."""
    return box_part(xyxy, 0.25, 0.5, 0.68)


def torso_part(descriptor: np.ndarray) -> np.ndarray:
    """The torso half ``(..., 16)`` of descriptors ``(..., 32)``, as a square-root histogram."""
    return np.asarray(descriptor)[..., :HISTOGRAM_SIZE] * np.sqrt(2.0)


def occlusion(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` person boxes of one frame -> ``(N,)`` share of each torso-and-shorts
    region covered by the boxes of people nearer the camera (lower feet), capped at 1.

    A torso hidden behind someone else shows the other's jersey; such samples are skipped.
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    torso = torso_box(xyxy).astype(np.float64)
    torso[:, 3] = shorts_box(xyxy)[:, 3]  # down to the shorts' bottom
    ix1 = np.maximum(torso[:, None, 0], xyxy[None, :, 0])
    iy1 = np.maximum(torso[:, None, 1], xyxy[None, :, 1])
    ix2 = np.minimum(torso[:, None, 2], xyxy[None, :, 2])
    iy2 = np.minimum(torso[:, None, 3], xyxy[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    nearer = xyxy[None, :, 3] > xyxy[:, None, 3]
    area = np.maximum((torso[:, 2] - torso[:, 0]) * (torso[:, 3] - torso[:, 1]), 1e-9)
    return np.minimum(1.0, (inter * nearer).sum(axis=1) / area)


def colour_histogram(pixels_hsv: np.ndarray, min_saturation: int = 60, min_value: int = 50) -> np.ndarray:
    """``(P, 3)`` uint8 OpenCV HSV pixels -> ``(16,)`` float32 histogram summing to 1.

    Bins 0-11: hue of chromatic pixels (S >= ``min_saturation`` and V >= ``min_value``);
    bins 12-15: value (black .. white) of the achromatic rest.
    """
    hist = np.bincount(colour_bins(pixels_hsv, min_saturation, min_value), minlength=HISTOGRAM_SIZE)
    hist = hist.astype(np.float32)
    return hist / max(1.0, float(hist.sum()))


def colour_bins(pixels_hsv: np.ndarray, min_saturation: int = 60, min_value: int = 50) -> np.ndarray:
    """``(P, 3)`` uint8 OpenCV HSV pixels -> ``(P,)`` int64 bin of each (see :func:`colour_histogram`)."""
    hsv = pixels_hsv.reshape(-1, 3).astype(np.int64)
    chroma = (hsv[:, 1] >= min_saturation) & (hsv[:, 2] >= min_value)
    hue = np.minimum(hsv[:, 0] * HUE_BINS // 180, HUE_BINS - 1)
    grey = HUE_BINS + np.minimum(hsv[:, 2] * GREY_BINS // 256, GREY_BINS - 1)
    return np.where(chroma, hue, grey)


def achromatic_share(descriptor: np.ndarray) -> float:
    """Share of grey/black/white pixels on the torso of a descriptor."""
    hist = np.square(torso_part(descriptor))
    return float(hist[HUE_BINS:].sum() / max(float(hist.sum()), 1e-9))



def appearance(described: Described) -> np.ndarray:
    """``(N, 32)`` float32 copy of :meth:`ColourDescriber.describe`'s descriptors with the unusable
    rows NaN: what :class:`tracker.game.relink.relinker.IdRelinker` reads under
    :data:`~tracker.game.identity.APPEARANCE_KEY`."""
    desc, valid = described
    desc = np.array(desc, np.float32, copy=True).reshape(-1, DESCRIPTOR_SIZE)
    desc[~np.asarray(valid, bool)] = np.nan
    return desc

class ColourDescriber:
    """Colour descriptors of all the people of a frame, with the floor's colour masked out.

    The floor colour is the one seen by the last :meth:`observe`; call it once per frame
    (:meth:`~tracker.game.teams.assigner.TeamAssigner.update` does), after describing that
    frame's people.

    Args:
        min_pixels: a region with fewer usable (non-floor) pixels is unusable. Raising it
            skips small, distant players (fewer but steadier samples); lowering it reads
            even a few pixels, so far-away torsos add noisy samples.
        sample_pixels: a region larger than this is read on a regular grid of about this
            many pixels (a histogram of a 1080p torso needs no more; it keeps the cost per
            player flat in the video's resolution). Raising it reads more pixels per torso
            (slower, marginally steadier histograms); lowering it makes it faster and noisier.
        max_occlusion: a torso more covered than this share by nearer people
            (:func:`occlusion`) is skipped. Raising it keeps samples of players partly
            behind others (more samples, some showing the other player's jersey);
            lowering it keeps only clear views (cleaner, fewer samples in crowded frames).
        floor_tolerance: Lab distance to the floor colour under which a torso pixel is
            taken for floor showing through (ignored when most of the torso is that colour:
            then the jersey is floor-coloured). Raising it masks more pixels (jerseys close
            to the floor's colour lose pixels); lowering it lets more floor into the histograms.
        floor_refresh: frames between floor-colour re-estimates when there is no
            ``floor_from``. Raising it is cheaper but follows a changing floor more slowly.
        floor_from: where to read the floor from instead of estimating it here, e.g.
            ``lambda: court.floor`` of the :class:`~tracker.game.court.CourtFilter` that already
            estimates it for the same frames (``floor_refresh`` is then unused).
        rgb: frames are RGB rather than BGR.
    """

    def __init__(
        self,
        *,
        min_pixels: int = 12,
        sample_pixels: int = 600,
        max_occlusion: float = 0.25,
        floor_tolerance: float = 14.0,
        floor_refresh: int = 15,
        floor_from: Callable[[], FloorEstimate | None] | None = None,
        rgb: bool = False,
    ) -> None:
        self.min_pixels = min_pixels
        self.sample_pixels = max(1, sample_pixels)
        self.max_occlusion = max_occlusion
        self.floor_tolerance = floor_tolerance
        self.floor_refresh = max(1, floor_refresh)
        self.floor_from = floor_from
        self.rgb = rgb
        self._observed = 0
        self._floor_colour: np.ndarray | None = None

    def observe(self, frame: np.ndarray) -> None:
        """Take the floor colour for the next descriptions: from ``floor_from``, or estimated
        from ``frame`` every ``floor_refresh`` calls."""
        if self.floor_from is not None:
            floor = self.floor_from()
            found = floor is not None and floor.found
            self._floor_colour = floor.colour_lab if found else np.full(3, np.nan, np.float32)
        elif self._observed % self.floor_refresh == 0 or self._floor_colour is None:
            floor = estimate_floor(frame, rgb=self.rgb)
            self._floor_colour = floor.colour_lab if floor.found else np.full(3, np.nan, np.float32)
        self._observed += 1

    def _regions(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pixels of ``(R, 4)`` regions, each read on a grid of at most about ``sample_pixels``.

        Returns ``(M, 3)`` uint8 pixels, ``(M,)`` their region, and ``(R,)`` the pixels each
        sampled pixel stands for (the grid step squared; 0 for a region too small to read).
        """
        height, width = frame.shape[:2]
        boxes = np.round(boxes).astype(int)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        pixels, owner = [], []
        weight = np.zeros(len(boxes), np.int64)
        for r, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            step = max(1, int(np.ceil(np.sqrt((x2 - x1) * (y2 - y1) / self.sample_pixels))))
            crop = frame[y1:y2:step, x1:x2:step].reshape(-1, 3)
            pixels.append(crop)
            owner.append(np.full(len(crop), r))
            weight[r] = step * step
        if not pixels:
            return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64), weight
        return np.concatenate(pixels), np.concatenate(owner), weight

    def _histograms(self, frame: np.ndarray, boxes: np.ndarray, floor_colour: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Square-root colour histograms ``(R, 16)`` of ``(R, 4)`` regions with floor pixels masked,
        and ``(R,)`` bool: enough pixels left. All regions of a frame in one pass (one colour conversion)."""
        pixels, owner, weight = self._regions(frame, boxes)
        n = len(boxes)
        if len(pixels) and floor_colour is not None:
            lab = to_lab(pixels.reshape(-1, 1, 3), rgb=self.rgb).reshape(-1, 3)
            not_floor = lab_distance(lab, floor_colour) > self.floor_tolerance
            share = np.bincount(owner, weights=not_floor, minlength=n) / np.maximum(np.bincount(owner, minlength=n), 1)
            keep = not_floor | (share[owner] < 0.3)  # a region mostly floor-coloured is a floor-coloured jersey
            pixels, owner = pixels[keep], owner[keep]
        usable = np.bincount(owner, minlength=n) * weight >= self.min_pixels
        if not len(pixels):
            return np.zeros((n, HISTOGRAM_SIZE), np.float32), usable
        hsv = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV if self.rgb else cv2.COLOR_BGR2HSV)
        hist = np.bincount(owner * HISTOGRAM_SIZE + colour_bins(hsv), minlength=n * HISTOGRAM_SIZE)
        hist = hist.reshape(n, HISTOGRAM_SIZE).astype(np.float32)
        hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1.0)
        return np.sqrt(hist), usable

    def describe(self, frame: np.ndarray, xyxy: np.ndarray) -> Described:
        """Appearance descriptors of ``(N, 4)`` boxes in ``frame`` (all the people of that frame).

        Each is the torso's square-root colour histogram (:func:`torso_box`) followed by
        the shorts' (:func:`shorts_box`; the torso's again when the shorts region is
        unusable), both scaled by 1/sqrt(2), so descriptors have unit norm and Euclidean
        distance is the mean Hellinger distance of the two regions. Pixels close to the
        floor colour seen by the last :meth:`observe` are masked out.

        Returns ``(N, 32)`` float32 descriptors and ``(N,)`` bool: usable (enough
        non-floor torso pixels, not hidden behind a nearer person); unusable rows are zero.
        """
        floor_colour = self._floor_colour
        if floor_colour is not None and np.isnan(floor_colour).any():
            floor_colour = None
        xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        out = np.zeros((n, DESCRIPTOR_SIZE), np.float32)
        valid = np.zeros(n, bool)
        hidden = occlusion(xyxy) > self.max_occlusion
        if n == 0 or hidden.all():
            return out, valid
        rows = np.flatnonzero(~hidden)
        hist, usable = self._histograms(frame, np.concatenate([torso_box(xyxy[rows]), shorts_box(xyxy[rows])]),
                                        floor_colour)
        top, bottom = hist[: len(rows)], hist[len(rows):]
        bottom = np.where(usable[len(rows):, None], bottom, top)  # no usable shorts: the torso twice
        valid[rows] = usable[: len(rows)]
        out[rows] = np.concatenate([top, bottom], axis=1) / np.sqrt(2.0)
        out[~valid] = 0.0
        return out, valid
