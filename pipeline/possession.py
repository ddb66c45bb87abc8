"""Possession read off the action labels, when the recogniser decides it
(:attr:`~recognizer.base.ActionRecognizer.decides_possession`: the game context's ball roles).

The pipeline's :class:`~tracker.game.ball.possession.PossessionTracker` follows the ball live, frame
by frame (the ball finder uses its holder as a prior). The game-context rules decide possession
looking both ways in time (holds bridged over bounces and hidden frames), and label it: ``ball in
hand``, ``dribble``, ``shoot``, ``pass``. When they run, the reported possession timeline is read off
those labels, so the report never says "nobody held the ball" beside a player labelled ``ball in hand``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from recognizer.base import BALL_HANDLING
from pipeline.timeline import PlayerTimeline


def possession_from_labels(players: Sequence[PlayerTimeline], team_of: Callable[[int], str | None],
                           max_gap: int = 0) -> list[dict]:
    """``[{"player_id", "team", "start_frame", "end_frame", "start_time", "end_time"}]`` in time order:
    each player's runs of ball-handling labels (:data:`~recognizer.base.BALL_HANDLING`), runs of one
    player at most ``max_gap`` frames apart joined (frames inclusive, times in seconds)."""
    out = []
    for p in players:
        runs: list[dict] = []
        for s in sorted(p.segments, key=lambda s: s.start_frame):
            if s.action not in BALL_HANDLING:
                continue
            if runs and s.start_frame - runs[-1]["end_frame"] - 1 <= max_gap:
                runs[-1].update(end_frame=s.end_frame, end_time=round(s.end_time, 4))
            else:
                runs.append({"player_id": p.track_id, "team": team_of(p.track_id), "start_frame": s.start_frame,
                             "end_frame": s.end_frame, "start_time": round(s.start_time, 4),
                             "end_time": round(s.end_time, 4)})
        out += runs
    return sorted(out, key=lambda r: (r["start_frame"], r["player_id"]))

