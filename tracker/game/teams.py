"""Teams by jersey colour, and the referees, from tracked people.

Per detection, an appearance descriptor from two regions: the *torso* -- the
central part of the upper half of the box (below the head, inside the arms) --
and the *shorts* (a referee's black trousers). Each region gives a 16-bin colour
histogram -- 12 hue bins for chromatic pixels plus 4 lightness bins (black, dark
grey, light grey, white) for achromatic ones -- after masking out pixels close to
the floor's colour (the floor shows through between arm and torso). The histograms
are square-rooted and scaled so that the Euclidean distance between descriptors is
the root mean square of the two regions' Hellinger distances (0 = same colours,
sqrt(2) = disjoint colours). A torso hidden behind a nearer player is skipped.

Per video, while it streams, the tracks' mean descriptors are clustered with
scikit-learn's KMeans into two teams plus, when there is one, a referee group:
the smallest of three clusters, its torsos mostly achromatic (grey, black, white
or striped), well apart from both teams, and only when the others do split into
two teams. When the two team clusters are not apart (everyone wears the same
colour) all players are team "A" and nobody is a referee.

Each track's team is the majority vote of its frames (each frame's descriptor
goes to the nearest cluster centre), with hysteresis: once given, a label only
changes when another gets ``switch_ratio`` times its votes. Cluster names are
kept across re-clusterings by matching new centres to the previous ones
(Hungarian assignment), so "A" and "B" never swap mid-video.

Labels: ``"A"``, ``"B"``, ``"referee"``, or ``None`` while undecided.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from tracker.common.coco import PERSON
from tracker.game.court import FloorEstimate, estimate_floor, lab_distance, person_rows, to_lab

TEAM_A = "A"
TEAM_B = "B"
REFEREE = "referee"
LABELS = (TEAM_A, TEAM_B, REFEREE)

HUE_BINS = 12
GREY_BINS = 4
HISTOGRAM_SIZE = HUE_BINS + GREY_BINS
#: torso histogram then shorts histogram, each square-rooted and scaled by 1/sqrt(2) (unit norm)
DESCRIPTOR_SIZE = 2 * HISTOGRAM_SIZE
#: :meth:`TeamAssigner.descriptors`' answer for one frame's rows: ``(N, 32)`` descriptors, ``(N,)`` usable.
Described = tuple[np.ndarray, np.ndarray]

#: Box colours when a cluster's jersey colour is unknown; referees are always drawn in magenta.
FALLBACK_COLORS: dict[str | None, sv.Color] = {
    TEAM_A: sv.Color.from_hex("#1f77ff"),
    TEAM_B: sv.Color.from_hex("#ff7f0e"),
    REFEREE: sv.Color.from_hex("#ff00ff"),
    None: sv.Color.from_hex("#9e9e9e"),
}


def torso_box(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` person boxes -> ``(N, 4)`` torso boxes: centre of the upper half.

    x: the central 40 % of the width (inside the arms); y: from 15 % to 48 % of the
    height below the top (below the head, above the shorts).
    """
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [xyxy[:, 0] + 0.3 * w, xyxy[:, 1] + 0.15 * h, xyxy[:, 2] - 0.3 * w, xyxy[:, 1] + 0.48 * h], axis=1
    )


def shorts_box(xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` person boxes -> ``(N, 4)`` shorts boxes: central 50 % of the width,
    50 % to 68 % of the height (team shorts; a referee's black trousers)."""
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [xyxy[:, 0] + 0.25 * w, xyxy[:, 1] + 0.5 * h, xyxy[:, 2] - 0.25 * w, xyxy[:, 1] + 0.68 * h], axis=1
    )


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


def display_colour(descriptor: np.ndarray) -> sv.Color:
    """A vivid box colour for a descriptor: the torso's dominant hue at full
    saturation, or its dominant grey level when mostly achromatic."""
    hist = np.square(torso_part(np.asarray(descriptor, np.float64)))
    if hist[HUE_BINS:].sum() > hist[:HUE_BINS].sum():
        level = int(round((int(hist[HUE_BINS:].argmax()) + 0.5) * 256 / GREY_BINS))
        level = min(max(level, 96), 240)  # black jerseys drawn dark grey, visible on dark floors
        return sv.Color(r=level, g=level, b=level)
    hue = (int(hist[:HUE_BINS].argmax()) + 0.5) * 180 / HUE_BINS
    b, g, r = cv2.cvtColor(np.uint8([[[round(hue), 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return sv.Color(r=int(r), g=int(g), b=int(b))


def _nearest(descriptors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(N,)`` index of the nearest of ``(K, 32)`` centres for ``(N, 32)`` descriptors."""
    return np.linalg.norm(descriptors[:, None] - centres[None], axis=2).argmin(axis=1)


@dataclass
class _Track:
    """One track's torso samples: running sums for the mean, the recent samples for votes.

    ``nearest`` holds each recent sample's nearest cluster centre and ``votes`` their
    counts, kept up to date as samples come and go, so a vote costs the same at the
    end of a long game as at its start; both are recounted when the centres move.
    """

    first_frame: int
    last_frame: int = -1
    count: int = 0
    sum_descriptor: np.ndarray = field(default_factory=lambda: np.zeros(DESCRIPTOR_SIZE, np.float64))
    samples: deque = field(default_factory=lambda: deque(maxlen=600))
    nearest: deque = field(default_factory=lambda: deque(maxlen=600))
    votes: np.ndarray | None = None
    label: str | None = None

    def add(self, descriptor: np.ndarray, nearest: int) -> None:
        """Add a sample and the index of its nearest centre (-1 while there are none)."""
        if self.votes is not None and len(self.nearest) == self.nearest.maxlen and self.nearest[0] >= 0:
            self.votes[self.nearest[0]] -= 1  # the oldest sample leaves with its vote
        self.count += 1
        self.sum_descriptor += descriptor
        self.samples.append(descriptor)
        self.nearest.append(nearest)
        if self.votes is not None and nearest >= 0:
            self.votes[nearest] += 1

    def recount(self, centres: np.ndarray) -> None:
        """Re-assign every recent sample to the nearest of ``(K, 32)`` centres."""
        if not self.samples:
            self.nearest.clear()
            self.votes = np.zeros(len(centres), np.int64)
            return
        nearest = _nearest(np.stack(self.samples), centres)
        self.nearest = deque(nearest.tolist(), maxlen=self.nearest.maxlen)
        self.votes = np.bincount(nearest, minlength=len(centres))

    def forget_samples(self) -> None:
        self.samples.clear()
        self.nearest.clear()
        self.votes = None

    @property
    def mean(self) -> np.ndarray:
        """``(32,)`` float32 mean descriptor over the track's life."""
        return (self.sum_descriptor / max(1, self.count)).astype(np.float32)


class TeamAssigner:
    """Streams tracked people and assigns each track to team A, B, or the referees.

    Args:
        warmup_frames: frames before the first clustering.
        recluster_every: frames between re-clusterings.
        min_track_frames: a track joins the clustering once it has this many usable
            torso samples.
        min_label_frames: ... and gets a label (by votes) once it has this many.
        min_pixels: a torso crop with fewer usable (non-floor) pixels is skipped.
        sample_pixels: a region larger than this is read on a regular grid of about this
            many pixels (a histogram of a 1080p torso needs no more; it keeps the cost
            per player flat in the video's resolution).
        max_occlusion: a torso more covered than this by nearer people (:func:`occlusion`)
            is skipped.
        team_separation: Hellinger distance between the two team centres below which
            everybody is one team ("A").
        referee_separation: a referee cluster must be at least this far from both teams.
        referee_max_share: ... and hold at most this share of the track-weighted samples.
        referee_min_achromatic: ... and have at least this share of grey/black/white pixels.
        switch_ratio: votes another label needs, relative to the current one, to replace it.
        floor_tolerance: Lab distance to the floor colour under which a torso pixel is
            taken for floor showing through (ignored when most of the torso is that colour:
            then the jersey is floor-coloured).
        floor_refresh: frames between floor-colour re-estimates.
        floor_from: where to read the floor from instead of estimating it here, e.g.
            ``lambda: court.floor`` of the :class:`~tracker.game.court.CourtFilter` that already
            estimates it for the same frames.
        person_class_ids: rows of other classes (the ball) are ignored.
        forget_after: frames after a track's last sample when its per-frame samples are
            dropped (its mean descriptor and label stay), so memory does not grow with
            the video's length.
        rgb: frames are RGB rather than BGR.
        random_state: KMeans seed (results are deterministic for a given stream).
    """

    def __init__(
        self,
        *,
        warmup_frames: int = 30,
        recluster_every: int = 15,
        min_track_frames: int = 5,
        min_label_frames: int = 2,
        min_pixels: int = 12,
        sample_pixels: int = 600,
        max_occlusion: float = 0.25,
        team_separation: float = 0.65,
        referee_separation: float = 0.45,
        referee_max_share: float = 0.34,
        referee_min_achromatic: float = 0.6,
        switch_ratio: float = 2.0,
        floor_tolerance: float = 14.0,
        floor_refresh: int = 15,
        floor_from: Callable[[], FloorEstimate | None] | None = None,
        person_class_ids: tuple[int, ...] = (PERSON,),
        forget_after: int = 300,
        rgb: bool = False,
        random_state: int = 0,
    ) -> None:
        self.forget_after = forget_after
        self.warmup_frames = warmup_frames
        self.recluster_every = max(1, recluster_every)
        self.min_track_frames = max(1, min_track_frames)
        self.min_label_frames = max(1, min_label_frames)
        self.min_pixels = min_pixels
        self.sample_pixels = max(1, sample_pixels)
        self.max_occlusion = max_occlusion
        self.team_separation = team_separation
        self.referee_separation = referee_separation
        self.referee_max_share = referee_max_share
        self.referee_min_achromatic = referee_min_achromatic
        self.switch_ratio = switch_ratio
        self.floor_tolerance = floor_tolerance
        self.floor_refresh = max(1, floor_refresh)
        self.floor_from = floor_from
        self.person_class_ids = tuple(person_class_ids)
        self.rgb = rgb
        self.random_state = random_state
        self._tracks: dict[int, _Track] = {}
        self._frames_seen = 0
        self._floor_colour: np.ndarray | None = None
        self._centres: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- descriptors
    def _floor(self, frame: np.ndarray) -> np.ndarray | None:
        if self.floor_from is not None:
            floor = self.floor_from()
            found = floor is not None and floor.found
            self._floor_colour = floor.colour_lab if found else np.full(3, np.nan, np.float32)
        elif self._frames_seen % self.floor_refresh == 0 or self._floor_colour is None:
            floor = estimate_floor(frame, rgb=self.rgb)
            self._floor_colour = floor.colour_lab if floor.found else np.full(3, np.nan, np.float32)
        return None if np.isnan(self._floor_colour).any() else self._floor_colour

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

    def descriptors(self, frame: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Appearance descriptors of ``(N, 4)`` boxes in ``frame`` (all the people of that frame).

        Each is the torso's square-root colour histogram (:func:`torso_box`) followed by
        the shorts' (:func:`shorts_box`; the torso's again when the shorts region is
        unusable), both scaled by 1/sqrt(2), so descriptors have unit norm and Euclidean
        distance is the mean Hellinger distance of the two regions. Pixels close to the
        floor colour seen by the last :meth:`update` are masked out.

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

    # ---------------------------------------------------------------- streaming
    def update(self, frame_index: int, frame: np.ndarray, detections: sv.Detections,
               described: Described | None = None) -> None:
        """Add one frame's tracked people (``tracker_id`` set; negative IDs ignored).

        ``described``: :meth:`descriptors` of all of ``detections``' rows when already made
        for this frame (by :meth:`classify` or :meth:`appearance`); else they are made here.
        """
        self._floor(frame)
        self._frames_seen += 1
        if len(detections) and detections.tracker_id is not None:
            rows = detections.tracker_id >= 0
            if detections.class_id is not None:
                rows &= np.isin(detections.class_id, self.person_class_ids)
            if rows.any():
                desc, valid = described if described is not None else self.descriptors(frame, detections.xyxy)
                desc, valid = desc[rows], valid[rows]
                centres = np.stack(list(self._centres.values())) if self._centres else None
                nearest = _nearest(desc, centres) if centres is not None else np.full(len(desc), -1)
                for tid, d, ok, k in zip(detections.tracker_id[rows], desc, valid, nearest.tolist()):
                    if not ok:
                        continue
                    track = self._tracks.setdefault(int(tid), _Track(first_frame=frame_index))
                    track.last_frame = frame_index
                    if centres is not None and track.votes is None:
                        track.recount(centres)
                    track.add(d, k)
                    if self._centres:
                        self._vote(track)
        since_warmup = self._frames_seen - self.warmup_frames
        if since_warmup >= 0 and since_warmup % self.recluster_every == 0:
            for track in self._tracks.values():  # memory stays flat: ended tracks keep mean and label only
                if track.samples and frame_index - track.last_frame > self.forget_after:
                    track.forget_samples()
            self._cluster()

    def team_of(self, track_id: int) -> str | None:
        """``"A"``, ``"B"``, ``"referee"``, or None while undecided."""
        track = self._tracks.get(int(track_id))
        return None if track is None else track.label

    def classify(self, frame: np.ndarray, detections: sv.Detections,
                 described: Described | None = None) -> list[str | None]:
        """Each row's label from this frame alone (nearest cluster centre), None when unknown.

        Does not change any state; useful as a per-detection team hint (e.g. for
        :class:`tracker.game.relink.IdRelinker`).
        """
        if not self._centres or len(detections) == 0:
            return [None] * len(detections)
        desc, valid = described if described is not None else self.descriptors(frame, detections.xyxy)
        names = list(self._centres)
        centres = np.stack([self._centres[k] for k in names])
        nearest = np.linalg.norm(desc[:, None] - centres[None], axis=2).argmin(axis=1)
        people = person_rows(detections, self.person_class_ids)
        return [names[j] if ok and p else None for j, ok, p in zip(nearest, valid, people)]

    def appearance(self, frame: np.ndarray, detections: sv.Detections,
                   described: Described | None = None) -> np.ndarray:
        """``(N, 32)`` float32 descriptors (:meth:`descriptors`) of the rows, NaN where unusable.

        Meant for ``detections.data["appearance"]`` (:class:`tracker.game.relink.IdRelinker`).
        """
        if len(detections) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        desc, valid = described if described is not None else self.descriptors(frame, detections.xyxy)
        desc = desc.copy()
        desc[~valid] = np.nan
        return desc

    def colors(self) -> dict[str | None, sv.Color]:
        """Box colour per label: each team's jersey colour (:func:`display_colour` of its
        cluster centre), magenta for referees, grey for undecided; before clustering,
        :data:`FALLBACK_COLORS`."""
        out = dict(FALLBACK_COLORS)
        for name in (TEAM_A, TEAM_B):
            if name in self._centres:
                out[name] = display_colour(self._centres[name])
        return out

    def summary(self) -> dict:
        """``{"mode": "two teams" | "one team" | "undecided", "teams": {label: {"tracks", "samples",
        "color"}}, "undecided_tracks": n}``; colours as ``#rrggbb``."""
        colors = self.colors()
        teams: dict[str, dict] = {}
        undecided = 0
        for track in self._tracks.values():
            if track.label is None:
                undecided += 1
                continue
            entry = teams.setdefault(track.label, {"tracks": 0, "samples": 0, "color": colors[track.label].as_hex()})
            entry["tracks"] += 1
            entry["samples"] += track.count
        mode = "undecided" if not self._centres else ("two teams" if TEAM_B in self._centres else "one team")
        return {"mode": mode, "teams": dict(sorted(teams.items())), "undecided_tracks": undecided}

    @property
    def labels(self) -> dict[int, str | None]:
        """Every track seen so far and its label."""
        return {tid: t.label for tid, t in self._tracks.items()}

    # ---------------------------------------------------------------- clustering
    def _vote(self, track: _Track) -> None:
        """Re-decide a track's label from its frames' votes (majority, with hysteresis)."""
        if track.count < self.min_label_frames or not track.samples:
            return
        names = list(self._centres)
        if track.votes is None:
            track.recount(np.stack(list(self._centres.values())))
        votes = track.votes
        best = names[int(votes.argmax())]
        current = names.index(track.label) if track.label in names else None
        if current is None or votes.max() >= self.switch_ratio * max(1, votes[current]):
            track.label = best

    def _cluster(self) -> None:
        ids = [tid for tid, t in self._tracks.items() if t.count >= self.min_track_frames]
        if len(ids) < 2:
            return
        x = np.stack([self._tracks[t].mean for t in ids])
        weight = np.array([min(self._tracks[t].count, 150) for t in ids], np.float64)
        centres: dict[str, np.ndarray] = {}
        teams = None
        if len(ids) >= 3:
            km = KMeans(3, n_init=4, random_state=self.random_state).fit(x, sample_weight=weight)
            referee = self._referee_cluster(km.cluster_centers_, km.labels_, weight)
            if referee is not None:
                rest = km.labels_ != referee
                teams = self._split_teams(x[rest], weight[rest])
                if len(teams) == 2:  # referees are looked for only between two teams
                    centres[REFEREE] = km.cluster_centers_[referee].astype(np.float32)
                else:
                    teams = None
        if teams is None:
            teams = self._split_teams(x, weight)
        names = self._name_teams([c for c, _ in teams], [w for _, w in teams])
        for name, (centre, _) in zip(names, teams):
            centres[name] = np.asarray(centre, np.float32)
        self._centres = centres
        stacked = np.stack(list(centres.values()))
        for track in self._tracks.values():
            track.recount(stacked)
            self._vote(track)

    def _split_teams(self, x: np.ndarray, weight: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Two ``(centre, weight)`` teams, or one when the two clusters are not apart."""
        if len(x) >= 2:
            km = KMeans(2, n_init=4, random_state=self.random_state).fit(x, sample_weight=weight)
            c = km.cluster_centers_
            if np.linalg.norm(c[0] - c[1]) >= self.team_separation:
                return [(c[k], float(weight[km.labels_ == k].sum())) for k in (0, 1)]
        return [(np.average(x, axis=0, weights=weight), float(weight.sum()))]

    def _referee_cluster(self, centres: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> int | None:
        share = np.array([weight[labels == k].sum() for k in range(3)]) / weight.sum()
        k = int(share.argmin())
        others = [j for j in range(3) if j != k]
        if share[k] > self.referee_max_share or achromatic_share(centres[k]) < self.referee_min_achromatic:
            return None
        if min(np.linalg.norm(centres[k] - centres[j]) for j in others) < self.referee_separation:
            return None
        return k

    def _name_teams(self, centres: list[np.ndarray], weights: list[float]) -> list[str]:
        """Names for new team centres: matched to the previous A/B when there were any."""
        previous = [(name, self._centres[name]) for name in (TEAM_A, TEAM_B) if name in self._centres]
        if not previous:
            order = np.argsort(-np.asarray(weights), kind="stable")
            names = [""] * len(centres)
            for rank, idx in enumerate(order):
                names[idx] = (TEAM_A, TEAM_B)[rank]
            return names
        cost = np.array([[np.linalg.norm(c - p) for _, p in previous] for c in centres])
        rows, cols = linear_sum_assignment(cost)
        names = [""] * len(centres)
        for r, c in zip(rows, cols):
            names[r] = previous[c][0]
        free = [n for n in (TEAM_A, TEAM_B) if n not in names]
        for i, n in enumerate(names):
            if not n:
                names[i] = free.pop(0)
        return names
