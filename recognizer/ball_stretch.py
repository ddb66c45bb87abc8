"""A stretch of consecutive game frames as arrays, and what is measured on it for the ball rules.

:class:`Stretch` lays the frames (:class:`~recognizer.context.GameFrame`) out as ``(n, 2)`` ball
positions and ``(P, n, 4)`` player boxes (a player the detector misses for a moment keeps his
interpolated box: :func:`fill_gaps`), with the ball's place on each box; :func:`region_distance`
measures the ball against the players' hands regions, :func:`ball_jumps` finds the ball finder's
jumps to another object, :func:`relative_speed` the ball's speed against each box. The rules
themselves are :mod:`recognizer.ball_roles`'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from tracker.game.ball.possession import hands_regions

if TYPE_CHECKING:  # recognizer.context imports recognizer.ball_roles, which imports this module
    from recognizer.context import GameFrame


@dataclass(frozen=True)
class Stretch:
    """Consecutive game frames as arrays: frame row ``i`` is frame ``first + i`` (``n`` rows), player
    row ``j`` is player ``pids[j]`` (``P`` rows).

    Attributes:
        first: frame index of row 0.
        pids: the players seen on the stretch, sorted.
        teams: player -> his last team told on the stretch (None: never told).
        ball: ``(n, 2)`` ball centre in pixels, NaN where unseen (frames missing from the stretch too).
        boxes: ``(P, n, 4)`` boxes ``(x1, y1, x2, y2)``, NaN where absent.
    """

    first: int
    pids: list[int]
    teams: dict[int, str | None]
    ball: np.ndarray
    boxes: np.ndarray

    @classmethod
    def of(cls, frames: Sequence[GameFrame], longest_gap: int) -> Stretch:
        """The frames (any order, gaps allowed; not empty) as arrays; a player missing for at most
        ``longest_gap`` frames keeps his interpolated box (:func:`fill_gaps`)."""
        by_index = {g.frame_index: g for g in frames}
        lo, hi = min(by_index), max(by_index)
        seq = [by_index.get(i) for i in range(lo, hi + 1)]
        ball = np.full((len(seq), 2), np.nan)
        for i, g in enumerate(seq):
            if g is not None and g.ball_xy is not None:
                ball[i] = g.ball_xy
        pids = sorted({p for g in seq if g is not None for p in g.players})
        boxes = np.full((len(pids), len(seq), 4), np.nan)
        teams: dict[int, str | None] = {}
        for i, g in enumerate(seq):
            for j, p in enumerate(pids):
                if g is not None and p in g.players:
                    boxes[j, i] = g.players[p].xyxy
                    teams[p] = g.players[p].team if g.players[p].team is not None else teams.get(p)
        fill_gaps(boxes, longest_gap)
        return cls(lo, pids, teams, ball, boxes)

    @property
    def n(self) -> int:
        return len(self.ball)

    def team(self, j: int) -> str | None:
        """Player row ``j``'s team."""
        return self.teams.get(self.pids[j])

    def present(self, j: int, i: int) -> bool:
        """Player row ``j`` has a box on frame row ``i``."""
        return not np.isnan(self.boxes[j, i, 0])

    def seen(self, i: int) -> bool:
        """The ball is seen on frame row ``i``."""
        return not np.isnan(self.ball[i, 0])

    @cached_property
    def height(self) -> np.ndarray:
        """``(P, n)`` box heights in pixels (at least 1), NaN where absent."""
        return np.maximum(self.boxes[..., 3] - self.boxes[..., 1], 1.0)

    @cached_property
    def y_rel(self) -> np.ndarray:
        """``(P, n)`` the ball's height on each box: 0 its top, 1 the feet."""
        return (self.ball[None, :, 1] - self.boxes[..., 1]) / self.height

    @cached_property
    def centre(self) -> np.ndarray:
        """``(P, n, 2)`` box centres."""
        return (self.boxes[..., :2] + self.boxes[..., 2:]) / 2

    @cached_property
    def rel(self) -> np.ndarray:
        """``(P, n, 2)`` the ball from each box centre, pixels."""
        return self.ball[None] - self.centre

    def hands_distance(self, band: tuple[float, float], widen: float) -> np.ndarray:
        """``(P, n)`` the ball's distance to each player's hands region, in his heights (:func:`region_distance`)."""
        return region_distance(self.ball, self.boxes, self.height, band, widen)


def ball_jumps(s: Stretch, max_speed: float, fps: float) -> np.ndarray:
    """``(n,)`` True on the frames where the ball is further from its last sighting than a ball flies
    (``max_speed`` heights per second, the heights of the players on the frame): another object (the
    ball finder jumped), so no path and no speed through it."""
    present = ~np.isnan(s.boxes[..., 0])
    scale = np.maximum(np.where(present, s.height, 0).sum(axis=0) / np.maximum(present.sum(axis=0), 1), 1.0)
    jump = np.zeros(s.n, bool)
    seen = np.flatnonzero(~np.isnan(s.ball[:, 0]))
    if len(seen) > 1:
        moved = np.linalg.norm(np.diff(s.ball[seen], axis=0), axis=1)
        jump[seen[1:]] = moved > max_speed / fps * scale[seen[1:]] * np.diff(seen)
    return jump


def relative_speed(s: Stretch, jump: np.ndarray, fps: float) -> np.ndarray:
    """``(P, n)`` the ball's speed relative to each box, heights per second: the mean of the steps
    before and after the frame (one of them at the ends, next to unseen frames and ``jump`` s); NaN
    when neither is known."""
    step = np.diff(s.rel, axis=1)  # (P, n - 1, 2)
    step[:, jump[1:]] = np.nan
    around = np.full((len(s.pids), s.n, 2, 2), np.nan)
    around[:, 1:, 0], around[:, :-1, 1] = step, step
    ok = ~np.isnan(around[..., 0])
    mean = np.where(ok[..., None], around, 0).sum(axis=2) / np.maximum(ok.sum(axis=2), 1)[..., None]
    return np.where(ok.any(axis=2), np.linalg.norm(mean, axis=-1) / s.height * fps, np.nan)


def region_distance(ball: np.ndarray, boxes: np.ndarray, height: np.ndarray, band: tuple[float, float],
                    widen: float) -> np.ndarray:
    """``(P, n)`` distance of the ball ``(n, 2)`` to each player's hands region (boxes ``(P, n, 4)``), in heights."""
    region = hands_regions(boxes.reshape(-1, 4), band, widen).reshape(boxes.shape)
    zero = np.zeros(height.shape)
    dx = np.maximum.reduce([region[..., 0] - ball[None, :, 0], zero, ball[None, :, 0] - region[..., 2]])
    dy = np.maximum.reduce([region[..., 1] - ball[None, :, 1], zero, ball[None, :, 1] - region[..., 3]])
    return np.hypot(dx, dy) / height


def fill_gaps(boxes: np.ndarray, longest: int) -> None:
    """Interpolate each player's box ``(P, n, 4)`` across gaps of at most ``longest`` frames, in place: a
    player the detector misses for a moment (hidden by the man guarding him) is still there, ball and all."""
    for track in boxes:
        seen = np.flatnonzero(~np.isnan(track[:, 0]))
        for a, b in zip(seen[:-1], seen[1:]):
            if 1 < b - a <= longest + 1:
                w = ((np.arange(a + 1, b) - a) / (b - a))[:, None]
                track[a + 1:b] = (1 - w) * track[a] + w * track[b]
