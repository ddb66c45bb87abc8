"""Synthetic training data for :class:`~.net.BallNet`: real background crops (three consecutive distinct
frames of a real video: real players, skin, crowd, camera motion) with a rendered basketball pasted in
along a plausible three-frame path, then degraded like video.

The backgrounds may contain the real ball now and then (it is not labelled: such a crop teaches the
net a little that the real ball is background; with one ball among ~10^5 background pixels a crop this
is rare, and we say so rather than hide it).

:func:`render_ball` draws one ball; :class:`Backgrounds` holds a video's distinct frames;
:class:`SampleMaker` makes ``(9, S, S)`` inputs and ``(S/2, S/2)`` targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.common.errors import InputVideoError
from tracker.game.ball.net import STRIDE, heatmap_target, make_input

SUPER = 4  # supersampling of the rendered ball


def render_ball(diameter: float, rng: np.random.Generator, hsv: tuple[float, float, float] | None = None,
                angle: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One basketball, centred in a square patch of side ``ceil(diameter) + 4`` (odd):
    ``(BGR float32 (n, n, 3) in 0-255, alpha float32 (n, n) in [0, 1])``. Orange-brown leather
    (``hsv``: OpenCV hue 0-180, saturation and value 0-255; random when None) lit from a random
    side (``angle``), with dark seam lines (one near-straight, two curved), anti-aliased edge."""
    n = int(np.ceil(diameter)) + 4
    n += 1 - n % 2
    big = n * SUPER
    if hsv is None:
        hsv = (rng.uniform(2, 18), rng.uniform(90, 230), rng.uniform(90, 220))
    base = cv2.cvtColor(np.uint8([[hsv]]), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    c = (big - 1) / 2
    r = diameter * SUPER / 2
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32)
    dx, dy = (xx - c) / r, (yy - c) / r
    rho2 = dx * dx + dy * dy
    inside = rho2 <= 1
    dz = np.sqrt(np.clip(1 - rho2, 0, 1))
    a = rng.uniform(0, 2 * np.pi) if angle is None else angle
    light = np.array([np.cos(a) * 0.6, np.sin(a) * 0.6, 0.8])
    light /= np.linalg.norm(light)
    shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0, 1)
    shade = 0.45 + 0.75 * shade  # ambient + diffuse
    img = base[None, None, :] * shade[..., None]
    # seams: a great circle seen at a random tilt (a near-straight line) and two curved ones
    t = rng.uniform(0, np.pi)
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    width = max(0.06, 0.9 / max(diameter, 1))  # ~1 px wide at any size
    seam = np.abs(u * rng.uniform(0.7, 1.0)) < width
    bend = rng.uniform(0.4, 0.9)
    for sgn in (-1, 1):
        seam |= np.abs(v - sgn * (bend - 0.5 * bend * u * u)) < width
    dark = rng.uniform(0.25, 0.5)
    img = np.where((seam & inside)[..., None], img * dark, img)
    img = np.clip(img, 0, 255)
    alpha = inside.astype(np.float32)
    img = cv2.resize(img * alpha[..., None], (n, n), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (n, n), interpolation=cv2.INTER_AREA)
    img = img / np.maximum(alpha[..., None], 1e-6)  # un-premultiply
    return img.astype(np.float32), alpha.astype(np.float32)


def paste(frame: np.ndarray, ball: np.ndarray, alpha: np.ndarray, xy: tuple[float, float],
          blur: tuple[float, float] = (0.0, 0.0), occlude: np.ndarray | None = None) -> np.ndarray:
    """``frame`` (uint8 BGR) with the ball composited centred at ``xy`` (sub-pixel), smeared along the
    motion ``blur`` (dx, dy pixels covered during the exposure); ``occlude`` a float mask of the
    ball patch's size (1 = the background stays in front). A new float32 image."""
    out = frame.astype(np.float32)
    n = ball.shape[0]
    steps = max(1, int(np.ceil(np.hypot(*blur))))
    acc_c = np.zeros_like(out)
    acc_a = np.zeros(out.shape[:2], np.float32)
    a_in = alpha * (1 - occlude) if occlude is not None else alpha
    for k in range(steps):
        f = (k + 0.5) / steps - 0.5
        cx, cy = xy[0] + f * blur[0], xy[1] + f * blur[1]
        m = np.float32([[1, 0, cx - (n - 1) / 2], [0, 1, cy - (n - 1) / 2]])
        size = (out.shape[1], out.shape[0])
        a = cv2.warpAffine(a_in, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
        c = cv2.warpAffine(ball * a_in[..., None], m, size, flags=cv2.INTER_LINEAR, borderValue=0)
        acc_a += a / steps
        acc_c += c / steps
    return out * (1 - acc_a[..., None]) + acc_c


class Backgrounds:
    """A video's frames kept in memory, frames that repeat the previous one (max grey difference
    <= ``duplicate`` after a 5x5 blur) left out; optionally downscaled so the width is at most
    ``max_width``. ``frames`` is a list of BGR uint8 images."""

    def __init__(self, path: str, max_width: int | None = None, duplicate: float = 2.0,
                 limit: int | None = None) -> None:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise InputVideoError(path, "cannot open the video")
        self.frames: list[np.ndarray] = []
        prev = None
        while limit is None or len(self.frames) < limit:
            ok, im = cap.read()
            if not ok:
                break
            if max_width is not None and im.shape[1] > max_width:
                s = max_width / im.shape[1]
                im = cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            g = cv2.GaussianBlur(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), (5, 5), 0)
            if prev is not None and cv2.norm(g, prev, cv2.NORM_INF) <= duplicate:
                continue
            prev = g
            self.frames.append(im)
        if len(self.frames) < 3:
            raise InputVideoError(path, f"needs at least 3 distinct frames for backgrounds, has {len(self.frames)}")

    @classmethod
    def from_frames(cls, frames: list[np.ndarray]) -> Backgrounds:
        b = cls.__new__(cls)
        b.frames = list(frames)
        return b


@dataclass
class SampleMaker:
    """Makes training samples from :class:`Backgrounds`.

    Args:
        backgrounds: one or more sources of frames.
        size: crop side (multiple of 4), in net input pixels.
        diameter: ball diameter range (pixels in the crop).
        positive: share of crops with a ball.
        scale: background crops are ``size * s`` source pixels resized to ``size``, ``s`` log-uniform in
            this range (a 720p clip's players at 480p scale and back).
        motion_bias: share of crops centred where the frames move (players, not empty floor).
        defocus: share of balls blurred (Gaussian, sigma 0.5-1.5 px) before pasting: a far ball on a
            broadcast is soft, not a crisp disc.
        fade: the ball's opacity, uniform in this range (below 1: a low-contrast ball that lets the
            background through, as a small compressed ball does).
    """

    backgrounds: list[Backgrounds]
    size: int = 96
    diameter: tuple[float, float] = (6.0, 24.0)
    positive: float = 0.7
    scale: tuple[float, float] = (0.6, 1.6)
    motion_bias: float = 0.6
    defocus: float = 0.0
    fade: tuple[float, float] = (1.0, 1.0)

    def crop(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Three consecutive distinct frames' crops ``(size, size, 3)`` uint8, same window."""
        bg = self.backgrounds[rng.integers(len(self.backgrounds))]
        t = int(rng.integers(2, len(bg.frames)))
        f0, f1, f2 = bg.frames[t - 2], bg.frames[t - 1], bg.frames[t]
        h, w = f2.shape[:2]
        s = float(np.exp(rng.uniform(np.log(self.scale[0]), np.log(self.scale[1]))))
        side = int(min(round(self.size * s), h, w))
        if rng.random() < self.motion_bias:
            d = cv2.absdiff(cv2.cvtColor(f2, cv2.COLOR_BGR2GRAY)[::8, ::8], cv2.cvtColor(f1, cv2.COLOR_BGR2GRAY)[::8, ::8])
            p = d.astype(np.float64).ravel() + 1.0
            k = rng.choice(len(p), p=p / p.sum())
            cy, cx = (k // d.shape[1]) * 8, (k % d.shape[1]) * 8
            x0 = int(np.clip(cx - side // 2 + rng.integers(-side // 4, side // 4 + 1), 0, w - side))
            y0 = int(np.clip(cy - side // 2 + rng.integers(-side // 4, side // 4 + 1), 0, h - side))
        else:
            x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        out = []
        for f in (f0, f1, f2):
            c = f[y0:y0 + side, x0:x0 + side]
            out.append(c if side == self.size else cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA))
        return out

    @staticmethod
    def path(rng: np.random.Generator, end: np.ndarray, diameter: float) -> tuple[np.ndarray, str]:
        """Three centres ``(3, 2)`` ending at ``end`` (frames t-2, t-1, t) and the kind: ``flight`` (fast,
        a little gravity), ``bounce`` (vertical speed flips between the frames), ``held`` (near still)."""
        kind = rng.choice(["flight", "bounce", "held"], p=[0.45, 0.2, 0.35])
        if kind == "held":
            v = rng.normal(0, 0.8, 2)
            p1 = end - v
            p0 = p1 - v + rng.normal(0, 0.5, 2)
            return np.stack([p0, p1, end]), kind
        speed = rng.uniform(0.3, 2.0) * max(diameter, 8)
        ang = rng.uniform(0, 2 * np.pi)
        v = speed * np.array([np.cos(ang), np.sin(ang)])
        g = np.array([0, rng.uniform(0, 0.15) * max(diameter, 8)])
        if kind == "bounce":
            v1 = v.copy()
            v0 = np.array([v[0], -abs(v[1]) * rng.uniform(0.6, 1.0)]) if v[1] < 0 else np.array([v[0], -v[1]])
            p1 = end - v1
            p0 = p1 - v0
            return np.stack([p0, p1, end]), kind
        p1 = end - v
        p0 = p1 - (v - g)
        return np.stack([p0, p1, end]), kind

    def degrade(self, rng: np.random.Generator, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Video-like loss, the same for the three frames: down/up-scaling, JPEG round trip, noise."""
        f = rng.uniform(1.0, 2.0) if rng.random() < 0.6 else 1.0
        q = int(rng.integers(30, 90)) if rng.random() < 0.8 else None
        sigma = rng.uniform(0, 4)
        out = []
        for im in frames:
            im = np.clip(im, 0, 255).astype(np.uint8)
            if f > 1.0:
                small = cv2.resize(im, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA)
                im = cv2.resize(small, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
            if q is not None:
                im = cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
            if sigma > 0.3:
                im = np.clip(im + rng.normal(0, sigma, im.shape), 0, 255).astype(np.uint8)
            out.append(im)
        return out

    def ball_look(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """A ball colour (OpenCV HSV): mostly orange-brown leather, sometimes desaturated (a far ball over
        the crowd) or wood-like (pale, against the floor), or dark (in shadow)."""
        r = rng.random()
        if r < 0.55:
            return rng.uniform(3, 16), rng.uniform(120, 230), rng.uniform(110, 220)
        if r < 0.75:
            return rng.uniform(0, 20), rng.uniform(40, 120), rng.uniform(90, 200)  # desaturated
        if r < 0.9:
            return rng.uniform(8, 20), rng.uniform(70, 150), rng.uniform(150, 235)  # wood-like
        return rng.uniform(0, 14), rng.uniform(100, 220), rng.uniform(45, 110)  # dark, in shadow

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(9, S, S)`` float32 input, ``(S/2, S/2)`` float32 target, info ``{"xy", "diameter", "kind"}``
        (``xy`` None for a crop without a ball)."""
        frames = [f.astype(np.float32) for f in self.crop(rng)]
        info = {"xy": None, "diameter": 0.0, "kind": "none"}
        if rng.random() < self.positive:
            d = float(np.exp(rng.uniform(np.log(self.diameter[0]), np.log(self.diameter[1]))))
            m = 4.0
            end = rng.uniform(m, self.size - m, 2)
            pts, kind = self.path(rng, end, d)
            ball, alpha = render_ball(d, rng, self.ball_look(rng))
            if rng.random() < self.defocus:
                sig = rng.uniform(0.5, 1.5)
                pad = int(np.ceil(2 * sig))
                ball = cv2.GaussianBlur(cv2.copyMakeBorder(ball * alpha[..., None], pad, pad, pad, pad,
                                                           cv2.BORDER_CONSTANT), (0, 0), sig)
                alpha = cv2.GaussianBlur(cv2.copyMakeBorder(alpha, pad, pad, pad, pad, cv2.BORDER_CONSTANT), (0, 0), sig)
                ball = ball / np.maximum(alpha[..., None], 1e-6)
            alpha = alpha * rng.uniform(*self.fade)
            occ = None
            if rng.random() < 0.25:  # a hand / body in front of part of the ball: a half-plane cut
                n = ball.shape[0]
                yy, xx = np.mgrid[0:n, 0:n] - (n - 1) / 2
                a = rng.uniform(0, 2 * np.pi)
                cut = rng.uniform(-0.1, 0.5) * d
                occ = ((xx * np.cos(a) + yy * np.sin(a)) > cut).astype(np.float32)
            for k in range(3):
                step = pts[k] - pts[k - 1] if k > 0 else pts[1] - pts[0]
                blur = tuple(step * rng.uniform(0.2, 0.8)) if kind != "held" else (0.0, 0.0)
                # held: the ball moves with the hand; the crop's background may pan: no extra blur
                frames[k] = paste(frames[k], ball, alpha, tuple(pts[k]), blur, occ if k == 2 or rng.random() < 0.5 else None)
            info = {"xy": (float(end[0]), float(end[1])), "diameter": d, "kind": str(kind)}
        frames = self.degrade(rng, frames)
        target = heatmap_target(None if info["xy"] is None else np.array(info["xy"]), info["diameter"],
                                (self.size // STRIDE, self.size // STRIDE))
        return make_input(frames), target, info

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        xs, ys, infos = zip(*(self.sample(rng) for _ in range(n)))
        return np.stack(xs), np.stack(ys)[:, None], list(infos)
