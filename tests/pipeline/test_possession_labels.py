"""Possession read off the game-context labels (pipeline/possession.py)."""

from __future__ import annotations

from pipeline.possession import possession_from_labels
from pipeline.timeline import PlayerTimeline, Segment
from tracker.game.ball.possession import team_shares


def _player(track_id: int, runs: list[tuple[str, int, int]]) -> PlayerTimeline:
    return PlayerTimeline(track_id, [Segment(a, s, e, s / 30, e / 30) for a, s, e in runs])


def test_ball_handling_runs_become_possessions_gaps_joined():
    a = _player(1, [("walk", 0, 9), ("dribble", 10, 19), ("ball in hand", 20, 29), ("walk", 30, 31),
                    ("ball in hand", 32, 39), ("pass", 40, 42), ("run", 43, 80)])
    b = _player(2, [("run", 0, 44), ("ball in hand", 45, 60), ("shoot", 61, 66), ("walk", 67, 80)])
    c = _player(3, [("defense", 0, 60), ("walk", 61, 80)])  # defending is not having the ball
    teams = {1: "A", 2: "A", 3: "B"}
    segs = possession_from_labels([b, c, a], teams.get, max_gap=2)
    assert [(s["player_id"], s["start_frame"], s["end_frame"], s["team"]) for s in segs] == \
        [(1, 10, 42, "A"), (2, 45, 66, "A")]
    assert segs[0]["start_time"] == round(10 / 30, 4) and segs[1]["end_time"] == round(66 / 30, 4)
    split = possession_from_labels([a], teams.get, max_gap=1)  # the 2-frame walk is no longer bridged
    assert [(s["start_frame"], s["end_frame"]) for s in split] == [(10, 29), (32, 42)]
    shares = team_shares(segs + [{"player_id": 4, "start_frame": 70, "end_frame": 79}], teams.get)  # 4: no team
    assert shares == {"A": 55 / 65, "unknown": 10 / 65}
    assert possession_from_labels([c], teams.get) == [] and team_shares([], teams.get) == {}
