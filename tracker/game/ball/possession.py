"""Who has the ball: :class:`PossessionTracker` turns ball positions and the tracked players into a
possession timeline: a player holds the ball when his *hands region* (:func:`hands_regions`: the
middle band of his box, widened to the sides) is the nearest to the ball, within a distance relative
to his box height, for at least ``min_frames`` frames in a row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import supervision as sv


def hands_regions(xyxy: np.ndarray, band: tuple[float, float] = (0.2, 0.7), widen: float = 0.3) -> np.ndarray:
    """``(N, 4)`` player boxes -> ``(N, 4)`` hands regions.

    The band from ``band[0]`` to ``band[1]`` of the box height (from the top),
    widened by ``widen`` times the box width on each side (arms reach out).
    """
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    return np.stack(
        [xyxy[:, 0] - widen * w, xyxy[:, 1] + band[0] * h, xyxy[:, 2] + widen * w, xyxy[:, 1] + band[1] * h], axis=1
    )


@dataclass
class _Run:
    player_id: int
    start: int
    last: int
    start_time: float | None = None
    last_time: float | None = None
    length: int = 1


class PossessionTracker:
    """Who has the ball, frame by frame, and the possession timeline.

    Each frame the *candidate* is the player whose hands region (:func:`hands_regions`)
    is nearest the ball, if that distance is at most ``max_dist`` times his box height
    (ties, e.g. the ball inside two regions, go to the player whose box centre is
    nearer). A candidate becomes the *holder* after ``min_frames`` candidate frames
    in a row (gaps up to ``max_gap`` frames bridged); the holder keeps the ball until
    another player does that, or until he has not been the candidate for more than
    ``max_gap`` frames (a pass in the air, a shot). A possession segment runs from
    the first to the last frame its player was the candidate.

    Args:
        min_frames: consecutive candidate frames needed to gain possession. Raising it
            ignores a ball passing by someone's hands (fewer false possessions) but starts
            real ones later and misses very short ones; lowering it reacts at once.
        max_dist: largest ball-to-hands-region distance, in box heights. Raising it credits
            a player with a ball a little way off (dribbles, loose boxes; also a defender
            nearby); lowering it asks for the ball in his hands.
        max_gap: frames a run (or a possession) survives without its player. Raising it
            bridges longer misses (ball hidden, detector gaps) and keeps a possession through
            a short pass; lowering it ends possessions as soon as the ball leaves.
        band, widen: the hands region, see :func:`hands_regions`. A wider band or more
            widening credits balls further from the body (and from other players' bodies).

    Pass only players (referees and spectators filtered out by the caller); the
    ``players`` rows need ``tracker_id``.
    """

    def __init__(
        self,
        min_frames: int = 5,
        max_dist: float = 0.35,
        *,
        max_gap: int = 3,
        band: tuple[float, float] = (0.2, 0.7),
        widen: float = 0.3,
    ) -> None:
        if min_frames < 1:
            raise ValueError("min_frames must be >= 1")
        self.min_frames = min_frames
        self.max_dist = max_dist
        self.max_gap = max_gap
        self.band = band
        self.widen = widen
        self._holder: _Run | None = None
        self._challenger: _Run | None = None
        self._segments: list[dict] = []

    def candidate(self, ball_xy: np.ndarray | None, players: sv.Detections) -> int | None:
        """The tracker ID of the player nearest the ball this frame (within ``max_dist``), or None."""
        if ball_xy is None or len(players) == 0 or players.tracker_id is None:
            return None
        xyxy = np.asarray(players.xyxy, np.float64)
        h = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
        region = hands_regions(xyxy, self.band, self.widen)
        x, y = float(ball_xy[0]), float(ball_xy[1])
        dx = np.maximum.reduce([region[:, 0] - x, np.zeros(len(region)), x - region[:, 2]])
        dy = np.maximum.reduce([region[:, 1] - y, np.zeros(len(region)), y - region[:, 3]])
        dist = np.hypot(dx, dy) / h
        tie_break = np.abs((xyxy[:, 0] + xyxy[:, 2]) / 2 - x) / h
        order = np.lexsort((tie_break, np.round(dist, 3)))
        best = int(order[0])
        return int(players.tracker_id[best]) if dist[best] <= self.max_dist else None

    def update(self, frame_index: int, ball_xy: np.ndarray | None, players: sv.Detections,
               time: float | None = None) -> int | None:
        """One frame: the current holder's tracker ID, or None.

        ``time``: the frame's timestamp in seconds (its real presentation time; frame rates
        vary), reported as the segments' ``start_time`` / ``end_time``.
        """
        cand = self.candidate(ball_xy, players)
        holder, challenger = self._holder, self._challenger
        if cand is not None and holder is not None and cand == holder.player_id:
            holder.last, holder.last_time = frame_index, time
            self._challenger = None
        elif cand is not None:
            same = challenger is not None and challenger.player_id == cand
            if same and frame_index - challenger.last <= self.max_gap + 1:
                challenger.last, challenger.last_time = frame_index, time
                challenger.length += 1
            else:
                challenger = self._challenger = _Run(cand, frame_index, frame_index, time, time)
            if challenger.length >= self.min_frames:
                self._close()
                self._holder, self._challenger = challenger, None
        if self._holder is not None and frame_index - self._holder.last > self.max_gap:
            self._close()
        return None if self._holder is None else self._holder.player_id

    @property
    def holder(self) -> int | None:
        return None if self._holder is None else self._holder.player_id

    def _close(self) -> None:
        if self._holder is not None:
            self._segments.append(self._segment(self._holder))
            self._holder = None

    @staticmethod
    def _segment(run: _Run) -> dict:
        return {"player_id": run.player_id, "start_frame": run.start, "end_frame": run.last,
                "start_time": run.start_time, "end_time": run.last_time}

    def segments(self) -> list[dict]:
        """Possession segments so far (the open one included), in time order:
        ``[{"player_id", "start_frame", "end_frame", "start_time", "end_time"}]`` (frames
        inclusive; times are those :meth:`update` was given for those frames, None without)."""
        out = list(self._segments)
        if self._holder is not None:
            out.append(self._segment(self._holder))
        return out

    def share_by_team(self, team_of: Callable[[int], str | None]) -> dict[str, float]:
        """:func:`team_shares` of :meth:`segments`."""
        return team_shares(self.segments(), team_of)


def team_shares(segments: Iterable[dict], team_of: Callable[[int], str | None]) -> dict[str, float]:
    """Share of possession frames per team label (``"unknown"`` for players without one), from
    segments with ``player_id``, ``start_frame``, ``end_frame`` (inclusive). Shares sum to 1 (empty
    dict when nobody held the ball)."""
    frames: dict[str, int] = defaultdict(int)
    for seg in segments:
        team = team_of(seg["player_id"])
        frames[team if team is not None else "unknown"] += seg["end_frame"] - seg["start_frame"] + 1
    total = sum(frames.values())
    return {team: n / total for team, n in sorted(frames.items())} if total else {}
