"""End to end on synthetic encoded videos: a ball dribbled, held, passed to a teammate and shot is
found and labelled on the right frames and players; a video without a ball gives kinematic labels,
no possession and no ball events."""

from __future__ import annotations

import numpy as np

from pipeline.core import Pipeline
from recognizer.context import ContextRecognizer
from tests.synth import GroundTruthDetector, SynthBall, make_video, player, standing_path

N, FPS, SIZE, H = 120, 30.0, (256, 160), 60
P0, P1 = (60.0, 95.0), (200.0, 95.0)  # box centres; boxes 24 x 60


def hand(c):  # right hand of a player: box top + 0.45 h, right edge
    return np.array([c[0] + 14.0, c[1] - H / 2 + 0.45 * H])


RELEASE, CATCH, LIFT, SHOT = 49, 62, 78, 85  # last frame in the passer's hand; first in the receiver's;
# the shooter starts lifting the ball over his head; last frame in his hands


def ball_path() -> np.ndarray:
    b = np.full((N, 2), np.nan)
    h0, h1 = hand(P0), hand(P1)
    floor = P0[1] + H / 2 - 5
    for t in range(0, 30):  # dribble: hand -> floor -> hand, period 14 (last bounce on 21, back at 28)
        phase = abs((t % 14) - 7) / 7.0  # 1 at the hand, 0 at the floor
        b[t] = [h0[0], floor + (h0[1] - floor) * phase]
    b[30:RELEASE + 1] = h0  # holds it
    for t in range(RELEASE + 1, CATCH):  # pass to the teammate
        a = (t - RELEASE) / (CATCH - RELEASE)
        b[t] = h0 + a * (h1 - h0) + [0, -20 * np.sin(np.pi * a)]
    b[CATCH:LIFT] = h1  # he holds it
    over = np.array([h1[0] - 8, P1[1] - H / 2 - 0.1 * H])  # the ball over his head, arms up
    for t in range(LIFT, SHOT + 1):  # the shooting motion: the ball lifted over his head
        b[t] = h1 + (t - LIFT) / (SHOT - LIFT) * (over - h1)
    for t in range(SHOT + 1, N):  # released: up and to the right, out of the frame
        s = t - SHOT
        b[t] = over + [2.0 * s, -8.0 * s + 0.15 * s * s]
    b[(b[:, 1] < -10) | (b[:, 0] > SIZE[0] + 10)] = np.nan
    return b


def _run(tmp_path, balls):
    objects = [player(0, standing_path(N, P0), size=(24, H), color=(200, 120, 40)),
               player(1, standing_path(N, P1), size=(24, H), color=(200, 120, 40))]
    truth = make_video(tmp_path / "game.mp4", SIZE, N, FPS, objects=objects, balls=balls, background="plain")
    pipe = Pipeline(GroundTruthDetector(truth), recognizer=ContextRecognizer(), all_people=True, teams=False,
                    ball=True, device="cpu")
    report = pipe.run(truth.path, json=tmp_path / "game.json")
    labels = {}
    for p in report.players:
        gt = int(truth.ids[p.box_rows()[0][0]][np.argmin(np.abs(truth.boxes[p.box_rows()[0][0]][:, 0]
                                                               - p.box_rows()[0][1]))])
        per = {}
        for s in p.segments:
            for f in range(s.start_frame, s.end_frame + 1):
                per[f] = s.action
        labels[gt] = per
    return report, labels


def frames_with(labels: dict[int, str], action: str) -> list[int]:
    return sorted(f for f, a in labels.items() if a == action)


def near(got: list[int], first: int, last: int, tol: int = 2) -> bool:
    """``got`` is one run of frames from ``first`` to ``last``, each end within ``tol`` frames."""
    return bool(got) and got == list(range(got[0], got[-1] + 1)) and abs(got[0] - first) <= tol \
        and abs(got[-1] - last) <= tol


def test_dribble_hold_pass_and_shot_are_found(tmp_path):
    report, labels = _run(tmp_path, [SynthBall(ball_path(), diameter=9)])
    assert report.recognizer["name"] == "game context: ball + possession + speed"
    # each event on the right player, its frames within 2 of the script's (the dribble starts once
    # the ball finder has confirmed the ball, a few frames in)
    dribble = frames_with(labels[0], "dribble")
    assert near(dribble, dribble[0], 28) and dribble[0] <= 8, dribble
    held = frames_with(labels[0], "ball in hand")
    assert near(held, 29, RELEASE - 3), held
    assert near(frames_with(labels[0], "pass"), RELEASE - 1, RELEASE + 3), frames_with(labels[0], "pass")
    held = frames_with(labels[1], "ball in hand")
    assert near(held, CATCH, LIFT + 3), held
    assert near(frames_with(labels[1], "shoot"), LIFT + 3, SHOT), frames_with(labels[1], "shoot")
    assert "pass" not in labels[1].values() and "shoot" not in labels[0].values()
    owners = [seg["player_id"] for seg in report.possession]
    assert len(owners) >= 2 and owners[0] != owners[-1]  # the first player's possession, then the teammate's
    # the possession timeline is the ball-handling labels, frame for frame (no "nobody held it" beside
    # a player labelled "ball in hand")
    handling = {"ball in hand", "dribble", "shoot", "pass"}
    for p in report.players:
        labelled = {f for s in p.segments if s.action in handling for f in range(s.start_frame, s.end_frame + 1)}
        owned = {f for seg in report.possession if seg["player_id"] == p.track_id
                 for f in range(seg["start_frame"], seg["end_frame"] + 1)}
        assert labelled <= owned, p.track_id
        assert all(min(abs(f - g) for g in labelled) <= FPS / 2 for f in owned), p.track_id  # gaps joined only
    assert sum(report.summary["possession_share"].values()) == 1.0


def test_no_ball_no_ball_events(tmp_path):
    report, labels = _run(tmp_path, [])
    assert report.possession == []
    assert all(row[3] == "lost" for row in report.ball)
    assert set().union(*[set(v.values()) for v in labels.values()]) <= {"no_action", "walk", "run"}
