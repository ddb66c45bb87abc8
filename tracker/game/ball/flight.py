"""A ball in flight from motion alone: ball-sized blobs of a camera-compensated three-frame difference,
followed by many hypotheses at once, confirmed when one moves like a thrown ball.

Over a crowd or a wooden floor a compressed broadcast ball loses its colour (saturation 38-60 on the
480p broadcast clip), but it still moves against the camera-compensated background. Such motion blobs
are many (crowd, limbs, compression flicker under a pan: 60-160 a frame on that clip), so one is kept
only when a chain of them, over a few frames, moves like a ball in flight: in image space, after the
camera is taken out, a parabola (near-constant horizontal velocity, near-constant vertical acceleration
close to gravity), travelling fast against the players.

The search is causal (frame ``t`` is answered from frames up to ``t``): :class:`MotionBlobs` finds
the object of frame ``t`` where ``|g_t - warp(g_{t-1})|`` and ``|g_t - warp(g_{t-2})|`` both exceed a
threshold (the ghosts of the earlier positions appear in one difference only); :class:`FlightTracker`
grows chains of blobs frame to frame (every pair within a speed gate starts one, each extends to the
blob nearest its parabolic prediction) and reports the current position of the best chain that passes
the flight tests. All rules are in ball diameters, body heights and seconds (a body height is the
ball diameter over :data:`~.candidates.BALL_TO_BODY`).

All positions are image pixels of the full frame, ``(x, y)`` of the ball centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv

from tracker.game.ball.candidates import BALL_TO_BODY, BallCandidates, expected_diameter
from tracker.tracking.camera_motion import IDENTITY, apply, compose

#: Gravity in body heights per second squared (9.8 m/s^2 over a ~2 m player box).
GRAVITY_BODY = 4.9


class MotionBlobs:
    """Ball-sized blobs of the camera-compensated three-frame difference (see the module docs).

    Args:
        threshold: grey difference (0-255, blurred grey) for a pixel to change; both differences must
            reach it. Lower: more of a faint ball over a crowd, and more flicker blobs.
        size_range: accepted blob size over the expected ball diameter (the nearest player's height
            times :data:`~.candidates.BALL_TO_BODY`). Wider: blurred or half-hidden balls, and limbs.
        max_aspect: longest over shortest side of the blob's box (motion blur stretches a ball).
        min_fill: blob area over its box area.
        max_clutter: changed pixels allowed in a ring one blob size wide around the blob, as a
            fraction of the ring (a swinging arm or a head comes with its moving body; a ball in
            flight moves alone). Lower: fewer limb blobs, and a ball passing by a player is missed;
            1 turns the test off.
    """

    def __init__(self, threshold: float = 18.0, size_range: tuple[float, float] = (0.4, 2.5),
                 max_aspect: float = 3.0, min_fill: float = 0.3, max_clutter: float = 0.1) -> None:
        self.max_clutter = max_clutter
        self.threshold, self.size_range, self.max_aspect, self.min_fill = threshold, size_range, max_aspect, min_fill
        self._greys: list[np.ndarray] = []  # the last two greys, oldest first
        self._steps: list[np.ndarray] = []  # (2, 3) affines (work scale) from each grey to the next

    def reset(self) -> None:
        self._greys, self._steps = [], []

    def __call__(self, grey: np.ndarray, s: float, camera: np.ndarray | None,
                 players_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Args: ``grey`` this frame's blurred grey at scale ``s`` of the full frame; ``camera`` the
        ``(2, 3)`` full-frame affine previous -> this frame (None: static); ``players_xyxy`` ``(P, 4)``.
        Returns ``(xy (N, 2), diameter (N,))`` in full-frame pixels (empty for the first two frames)."""
        m = IDENTITY.copy() if camera is None else np.array(camera, np.float64)
        m[:, 2] *= s  # translation to the work scale
        if self._greys and self._greys[-1].shape != grey.shape:
            self.reset()
        self._steps.append(m)
        self._greys.append(grey)
        self._steps, self._greys = self._steps[-2:], self._greys[-3:]
        if len(self._greys) < 3:
            return np.zeros((0, 2)), np.zeros(0)
        size = (grey.shape[1], grey.shape[0])
        two_steps = compose(self._steps[0], self._steps[1])
        w1 = cv2.warpAffine(self._greys[1], self._steps[1], size, borderMode=cv2.BORDER_REPLICATE)
        w2 = cv2.warpAffine(self._greys[0], two_steps, size, borderMode=cv2.BORDER_REPLICATE)
        th = int(np.ceil(self.threshold))
        mask = ((cv2.absdiff(grey, w1) >= th) & (cv2.absdiff(grey, w2) >= th)).astype(np.uint8)
        if camera is not None:  # what came into view (no earlier pixel there) is not motion
            hh, ww = grey.shape
            corners = np.array([[0, 0], [ww, 0], [0, hh], [ww, hh]], np.float64)
            x0, y0, x1, y1 = 0.0, 0.0, float(ww), float(hh)
            for m in (self._steps[1], two_steps):  # the earlier frames' edges
                c = apply(m, corners)
                x0, y0 = max(x0, c[0, 0], c[2, 0]), max(y0, c[0, 1], c[1, 1])
                x1, y1 = min(x1, c[1, 0], c[3, 0]), min(y1, c[2, 1], c[3, 1])
            inner = np.zeros_like(mask)
            inner[max(0, int(np.ceil(y0)) + 2):max(0, int(y1) - 2), max(0, int(np.ceil(x0)) + 2):max(0, int(x1) - 2)] = 1
            mask &= inner
        self._greys = self._greys[1:]
        n, _, st, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return np.zeros((0, 2)), np.zeros(0)
        st = st[1:].astype(np.float64)
        w, h, area = st[:, 2], st[:, 3], st[:, 4]
        xy, dia = cents[1:] / s, np.maximum(w, h) / s
        want = expected_diameter(xy, players_xyxy)
        ratio = np.where(np.isfinite(want), dia / np.maximum(want, 1), 1.0)
        ok = (ratio >= self.size_range[0]) & (ratio <= self.size_range[1]) & (np.maximum(w, h) >= 2) \
            & (np.maximum(w, h) / np.maximum(np.minimum(w, h), 1) <= self.max_aspect) \
            & (area / np.maximum(w * h, 1) >= self.min_fill)
        if self.max_clutter < 1 and ok.any():
            # changed pixels in a ring of one blob size around the blob's box: a limb is part of a
            # moving body, a ball in flight moves alone
            integral = cv2.integral(mask)
            x0, y0 = st[ok, 0], st[ok, 1]
            m = np.maximum(w[ok], h[ok])
            hh, ww = mask.shape
            ax0, ay0 = np.clip(x0 - m, 0, ww).astype(int), np.clip(y0 - m, 0, hh).astype(int)
            ax1, ay1 = np.clip(x0 + w[ok] + m, 0, ww).astype(int), np.clip(y0 + h[ok] + m, 0, hh).astype(int)
            changed = integral[ay1, ax1] - integral[ay0, ax1] - integral[ay1, ax0] + integral[ay0, ax0]
            ring = (ax1 - ax0) * (ay1 - ay0) - w[ok] * h[ok]
            clutter = (changed - area[ok]) / np.maximum(ring, 1)
            ok[np.flatnonzero(ok)[clutter > self.max_clutter]] = False
        return xy[ok], np.where(np.isfinite(want[ok]), want[ok], dia[ok])


@dataclass
class _Chain:
    t: list[int] = field(default_factory=list)  # frame numbers (the tracker's own count)
    xy: list[np.ndarray] = field(default_factory=list)  # in the current frame's coordinates
    d: list[float] = field(default_factory=list)
    raw: list[np.ndarray] = field(default_factory=list)  # on screen, as found (not moved with the camera)


@dataclass(frozen=True)
class Flight:
    """A confirmed ball in flight on the current frame.

    Attributes:
        xy: ``(x, y)`` full-frame pixels.
        diameter: pixels (the expected ball size there).
        frames: how many frames of the window the chain was seen on.
        residual: rms distance of the chain to its parabola, in ball diameters.
        confidence: in [0, 1] (more frames, smaller residual: higher).
    """

    xy: tuple[float, float]
    diameter: float
    frames: int
    residual: float
    confidence: float


class FlightTracker:
    """Many chains of motion blobs at once; the best one that moves like a thrown ball (see the
    module docs). Causal: :meth:`update` answers the current frame.

    Args:
        fps: frame rate (the speeds and gravity below are per second).
        window: frames a chain keeps and is fitted over (0.3 s at 30 fps).
            Longer: surer flights, fewer short ones (a bounce pass breaks the parabola).
        min_frames: points within the window for a chain to be judged a flight.
            Higher: fewer false flights, later and fewer confirmations.
        max_speed: fastest ball, body heights a second (a hard pass ~15 m/s ~ 7.5; a start pair's gate).
        min_speed: slowest flight, body heights a second against the background (a walk ~0.7, a run
            ~2). Lower: slow lobs and the top of a shot's arc, and swinging arms.
        min_relative: body heights a second the chain must move against the nearest player (a
            dribbled or carried ball, an arm, moves with its player). Lower: the same trade-off.
        gate: extension gate around the parabolic prediction, ball diameters (plus a quarter of a step).
            Wider: blurred balls kept, and more chains jumping between flicker blobs.
        max_residual: rms distance to the fitted parabola, ball diameters. Higher: more false flights.
        gravity: accepted image vertical acceleration, in multiples of :data:`GRAVITY_BODY` (a
            panning camera and perspective bend it); horizontal acceleration up to ``gravity[1]``
            too in magnitude.
        max_inside: fraction of a chain's points allowed inside a player's box (the release and the
            catch are; a flight is away from the bodies). Higher: passes caught early, and chains along
            legs and arms.
        margin: the boxes are widened by this many ball diameters for ``max_inside`` (a detector box
            often stops short of the feet and hands).
        min_screen: the chain must also move on screen by this fraction of ``min_speed`` (a
            broadcast overlay is still on screen and moves against the compensated background).
        branch: a chain grows into up to this many blobs within its gate, nearest first (a speck next
            to the ball does not steal its chain). Higher: more work, more chains.
        max_chains: chains kept (longest first): a bound on the work per frame.
    """

    def __init__(self, fps: float = 30.0, window: int = 9, min_frames: int = 6, max_speed: float = 10.0,
                 min_speed: float = 2.0, min_relative: float = 1.5, gate: float = 1.0, max_residual: float = 0.35,
                 gravity: tuple[float, float] = (-1.0, 3.0), max_inside: float = 0.34,
                 margin: float = 1.0, min_screen: float = 0.5, branch: int = 2, max_chains: int = 3000) -> None:
        self.branch = branch
        self.margin, self.min_screen = margin, min_screen
        self.max_inside = max_inside
        self.fps, self.window, self.min_frames = fps, window, min_frames
        self.max_speed, self.min_speed, self.min_relative = max_speed, min_speed, min_relative
        self.gate, self.max_residual, self.gravity, self.max_chains = gate, max_residual, gravity, max_chains
        self._t = -1
        self._chains: list[_Chain] = []
        self._last = (np.zeros((0, 2)), np.zeros(0))  # the previous frame's blobs
        self._players: list[tuple[np.ndarray, np.ndarray]] = []  # per frame of the window: (ids, boxes)

    def reset(self) -> None:
        self._t, self._chains, self._last, self._players = -1, [], (np.zeros((0, 2)), np.zeros(0)), []

    def update(self, xy: np.ndarray, diameter: np.ndarray, players: sv.Detections,
               camera: np.ndarray | None = None) -> Flight | None:
        """One frame: this frame's motion blobs (:class:`MotionBlobs`), the tracked players, the
        ``(2, 3)`` camera affine previous -> this frame. Returns the confirmed flight, if any."""
        self._t += 1
        t = self._t
        a = np.eye(3)[:2] if camera is None else np.asarray(camera, np.float64)
        move = lambda p: p @ a[:, :2].T + a[:, 2]  # noqa: E731
        for c in self._chains:
            c.xy = [move(p) for p in c.xy]
        self._players = [(i, move(b.reshape(-1, 2)).reshape(-1, 4)) for i, b in self._players][-(self.window - 1):]
        boxes = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        ids = np.asarray(players.tracker_id if players.tracker_id is not None else np.arange(len(boxes)))
        self._players.append((ids, boxes))
        prev_xy, prev_d = self._last
        prev_xy = move(prev_xy) if len(prev_xy) else prev_xy
        xy, diameter = np.asarray(xy, np.float64).reshape(-1, 2), np.asarray(diameter, np.float64)
        # extend the chains
        kept: list[_Chain] = []
        ends: set[tuple[int, int]] = set()
        for c in self._chains:
            if t - c.t[-1] > 2:
                continue
            grown = False
            if len(xy):
                pred = self._predict(c, t)
                step = np.linalg.norm(c.xy[-1] - c.xy[-2]) / max(c.t[-1] - c.t[-2], 1)
                dist = np.linalg.norm(xy - pred, axis=1)
                near = np.argsort(dist)[: self.branch]
                for k in near[dist[near] <= self.gate * c.d[-1] + 0.25 * step * (t - c.t[-1])]:
                    # two chains through the same last two blobs: keep the longer (sorted first)
                    key = (int(k), c.t[-1], *np.round(c.xy[-1]).astype(int))
                    if key in ends:
                        continue
                    ends.add(key)
                    n = _Chain(c.t + [t], c.xy + [xy[k]], c.d + [float(diameter[k])], c.raw + [xy[k]])
                    while n.t[0] <= t - self.window:
                        n.t.pop(0), n.xy.pop(0), n.d.pop(0), n.raw.pop(0)
                    kept.append(n)
                    grown = True
            if not grown:
                kept.append(c)
        # new chains: every pair (previous blob, this blob) within the speed gate
        if len(xy) and len(prev_xy):
            body = np.maximum(diameter, 1) / BALL_TO_BODY
            dist = np.linalg.norm(xy[:, None] - prev_xy[None], axis=2)
            lo = self.min_speed / self.fps * body[:, None] * 0.5
            hi = self.max_speed / self.fps * body[:, None]
            for i, j in zip(*np.nonzero((dist >= lo) & (dist <= hi))):
                if (int(i), t - 1, *np.round(prev_xy[j]).astype(int)) in ends:
                    continue  # already the last two points of a longer chain
                kept.append(_Chain([t - 1, t], [prev_xy[j], xy[i]], [float(prev_d[j]), float(diameter[i])],
                                   [self._last[0][j], xy[i]]))
        kept.sort(key=lambda c: -len(c.t))
        self._chains = kept[: self.max_chains]
        self._last = (xy, diameter)
        best = None
        for c in self._chains:
            if len(c.t) < self.min_frames:
                break
            if c.t[-1] != t:
                continue
            f = self._judge(c)
            if f is not None and (best is None or f.confidence > best.confidence):
                best = f
        return best

    _PINV: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}  # frame offsets -> (pseudo-inverse, design)

    @classmethod
    def _fit(cls, c: _Chain) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares parabola per axis over the chain's points: ``(3, 2)`` coefficients of
        ``p(dt) = c0 + c1 dt + c2 dt^2`` (``dt`` frames from the last point; a line below 4 points)
        and the residuals."""
        key = tuple(t - c.t[-1] for t in c.t)
        if key not in cls._PINV:  # a few offset patterns only: the fit is a small product
            dt = np.asarray(key, np.float64)
            v = np.vander(dt, 3, increasing=True)
            fit = v if len(dt) >= 4 else v[:, :2]
            pinv = np.linalg.pinv(fit)
            cls._PINV[key] = (pinv if len(dt) >= 4 else np.vstack([pinv, np.zeros((1, len(dt)))]), v)
        pinv, v = cls._PINV[key]
        p = np.asarray(c.xy)
        coef = pinv @ p
        return coef, p - v @ coef

    def _predict(self, c: _Chain, t: int) -> np.ndarray:
        if len(c.t) == 2:
            return c.xy[-1] + (c.xy[-1] - c.xy[-2]) * (t - c.t[-1]) / max(c.t[-1] - c.t[-2], 1)
        coef, _ = self._fit(c)
        dt = t - c.t[-1]
        return coef[0] + coef[1] * dt + coef[2] * dt**2

    def _judge(self, c: _Chain) -> Flight | None:
        coef, res = self._fit(c)
        d = float(np.median(c.d))
        body = d / BALL_TO_BODY
        rms = float(np.sqrt((res**2).sum(axis=1).mean())) / d
        if rms > self.max_residual:
            return None
        g = GRAVITY_BODY * body / self.fps**2  # pixels per frame^2
        acc = 2 * coef[2]
        if not (self.gravity[0] * g <= acc[1] <= self.gravity[1] * g) or abs(acc[0]) > self.gravity[1] * g:
            return None
        span = c.t[-1] - c.t[0]
        travel = np.asarray(c.xy[-1]) - np.asarray(c.xy[0])
        if np.linalg.norm(travel) / span < self.min_speed * body / self.fps:
            return None
        # and on screen: a score overlay or a ticker stays put on screen while the camera pans
        if np.linalg.norm(c.raw[-1] - c.raw[0]) / span < self.min_screen * self.min_speed * body / self.fps:
            return None
        # mostly away from the players' bodies (chains along a leg, a sneaker, an arm)
        inside = 0
        for t, p in zip(c.t, c.xy):
            back = self._t - t
            if back < len(self._players):
                b = self._players[-1 - back][1]
                m = self.margin * d
                inside += bool(((b[:, 0] - m <= p[0]) & (p[0] <= b[:, 2] + m) & (b[:, 1] - m <= p[1])
                                & (p[1] <= b[:, 3] + m)).any())
        if inside > self.max_inside * len(c.t):
            return None
        # against the nearest player (by his box centre, the same player at both ends)
        (ids1, b1) = self._players[-1]
        if len(ids1) and span < len(self._players):
            ids0, b0 = self._players[-1 - span]
            cen1 = (b1[:, :2] + b1[:, 2:]) / 2
            j = int(np.argmin(np.linalg.norm(cen1 - c.xy[-1], axis=1)))
            k = np.flatnonzero(ids0 == ids1[j])
            if len(k):
                rel = travel - (cen1[j] - (b0[k[0], :2] + b0[k[0], 2:]) / 2)
                if np.linalg.norm(rel) / span < self.min_relative * body / self.fps:
                    return None
        conf = min(1.0, 0.6 + 0.1 * (len(c.t) - self.min_frames)) * (1 - 0.5 * rms / self.max_residual)
        return Flight((float(c.xy[-1][0]), float(c.xy[-1][1])), d, len(c.t), rms, conf)


class FlightFinder:
    """:class:`MotionBlobs` -> :class:`FlightTracker`, as ball candidates for the state tracker: a
    confirmed flight is a strong candidate (``detected``: it starts or takes over a track at once,
    as a detector hit does). Fed the finder's grey (:meth:`ColourCandidates.prepare`)."""

    def __init__(self, blobs: MotionBlobs | None = None, tracker: FlightTracker | None = None) -> None:
        self.blobs = blobs or MotionBlobs()
        self.tracker = tracker or FlightTracker()
        self.last: Flight | None = None

    def reset(self) -> None:
        """Forget every frame seen (a camera cut)."""
        self.blobs.reset()
        self.tracker.reset()
        self.last = None

    def __call__(self, grey: np.ndarray, s: float, camera: np.ndarray | None, players: sv.Detections) -> BallCandidates:
        xyxy = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        xy, d = self.blobs(grey, s, camera, xyxy)
        self.last = f = self.tracker.update(xy, d, players, camera)
        if f is None:
            return BallCandidates.empty()
        return BallCandidates(np.array([f.xy]), np.array([f.diameter]), np.array([f.confidence]),
                              np.ones(1, bool), np.ones(1, bool))
