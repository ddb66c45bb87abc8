"""The game-context recogniser on a scripted game: two teammates (A) and a defender (B); player 1
dribbles, holds, passes to player 2 (the ball flies through the defender's reach), who shoots.
Context frames are built from the script (the video side -- ball finding -- is tested in
tests/tracker/game/test_ball_finder.py; end to end in tests/pipeline/test_game_context.py)."""

from __future__ import annotations

import numpy as np
import supervision as sv

from recognizer.base import FrameBuffer
from recognizer.ball_roles import ball_roles
from recognizer.context import ContextRecognizer, GameContext, GameFrame, PlayerState
from recognizer.kinematic import KinematicRecognizer
from tracker.tracking.tubes import TubeBuilder

N = 96
BOX = {1: (40.0, 40.0, 60.0, 100.0), 2: (200.0, 40.0, 220.0, 100.0), 3: (70.0, 40.0, 90.0, 100.0)}  # 60 px tall
TEAM = {1: "A", 2: "A", 3: "B"}
RELEASE, CATCH, SHOT = 39, 52, 69  # last frame in the passer's hand, first in the receiver's, last before the shot


def script(f: int, teams=TEAM) -> GameFrame:
    players = {pid: PlayerState(box, teams[pid]) for pid, box in BOX.items()}
    if f < 24:  # dribble: ball bounces between the hand (y 65) and the floor (y 98), period 12
        y = 65 + 33 * abs(((f % 12) - 6) / 6)
        return GameFrame(f, players, (58.0, y), "held")
    if f <= RELEASE:  # holds it
        return GameFrame(f, players, (58.0, 65.0), "held")
    if f < CATCH:  # pass: flies level to player 2, through the defender's reach
        x = 58 + (f - RELEASE) * (202 - 58) / (CATCH - RELEASE)
        return GameFrame(f, players, (x, 65.0), "flight")
    if f <= SHOT:
        return GameFrame(f, players, (202.0, 65.0), "held")
    y = 65 - 9 * (f - SHOT)  # shot: up, over his head (y 40), out of the frame
    return GameFrame(f, players, (205.0, y), "flight") if y > -20 else GameFrame(f, players)


def run(recognizer, teams=TEAM) -> dict[int, dict[int, str]]:
    context, frames = GameContext(), FrameBuffer(30.0)
    tubes = TubeBuilder(window=16, stride=8, max_age=5)
    sums: dict[tuple[int, int], np.ndarray] = {}
    for f in range(N):
        g = script(f, teams)
        context.add(g)
        dets = sv.Detections(xyxy=np.array([BOX[p] for p in BOX], np.float32), tracker_id=np.array(list(BOX)))
        frames.add(f, np.zeros((120, 240, 3), np.uint8), dets)
        for p in recognizer.predict(tubes.update(f, dets), frames, context):
            for k in np.unique(p.frame_indices):
                sums[(p.track_id, int(k))] = sums.get((p.track_id, int(k)), 0) + np.append(p.probs, 1) * p.weight
        context.prune(f - 16)  # as the pipeline does: only about a window of frames is kept
    labels: dict[int, dict[int, str]] = {pid: {} for pid in BOX}
    for (pid, f), acc in sums.items():
        labels[pid][f] = recognizer.labels[int(np.argmax(acc[:-1]))]
    return labels


def frames_with(labels: dict[int, str], action: str) -> list[int]:
    return sorted(f for f, a in labels.items() if a == action)


def near(got: list[int], first: int, last: int, tol: int = 2) -> bool:
    """``got`` is one run of frames from ``first`` to ``last``, each end within ``tol`` frames."""
    return bool(got) and got == list(range(got[0], got[-1] + 1)) and abs(got[0] - first) <= tol \
        and abs(got[-1] - last) <= tol


def test_ball_events_at_the_right_frames_and_players():
    rec = ContextRecognizer(KinematicRecognizer(compensate_camera=False))
    assert rec.name == "game context: ball + possession + speed"
    labels = run(rec)
    # the dribble is one stretch (the ball's moments in the hand between bounces included) up to the
    # last bounce's way back to the hand (frame 23); labels start on the first frame a window emits
    assert near(frames_with(labels[1], "dribble"), 0, 23), frames_with(labels[1], "dribble")
    assert near(frames_with(labels[1], "pass"), RELEASE - 2, RELEASE + 2), frames_with(labels[1], "pass")
    held = frames_with(labels[1], "ball in hand")
    assert held and held[0] >= 22 and held[-1] <= RELEASE - 1 and len(held) >= 10, held
    # the receiver holds it from the catch (no latency) until the shot, labelled up to its release
    held2 = frames_with(labels[2], "ball in hand")
    assert abs(held2[0] - CATCH) <= 2 and held2[-1] <= SHOT + 2, held2
    shot = frames_with(labels[2], "shoot")
    assert near(shot, SHOT + 1, SHOT + 3), shot
    # the defender: the nearest opponent of the handler while 1 has it; the pass flying through his
    # hands gives him no ball; nobody is his assignment while 2 (far away) has it
    defense = frames_with(labels[3], "defense")
    assert near(defense, 0, RELEASE), defense
    assert not set(labels[3].values()) & {"ball in hand", "dribble", "pass", "shoot"}
    assert labels[2][10] in ("no_action", "walk", "run")  # teammate away from the ball: kinematic
    assert all(labels[3][f] in ("no_action", "walk", "run") for f in range(CATCH + 3, SHOT))
    assert "shoot" not in labels[1].values() and "pass" not in labels[2].values()


def test_a_lob_to_a_teammate_is_a_pass_and_to_nobody_a_shot():
    """The same release, the ball going well above the head: caught by a teammate soon -> pass; not
    caught (or caught by an opponent) -> shoot. Team-less players: anyone catching counts."""
    box = {1: (40.0, 40.0, 60.0, 100.0), 2: (160.0, 40.0, 180.0, 100.0)}

    def lob(teams, caught: bool):
        out = []
        for f in range(50):
            players = {p: PlayerState(b, teams[p]) for p, b in box.items()}
            if f <= 20:
                xy = (58.0, 65.0)
            elif f < 34 or not caught:  # a parabola 0.8 body heights above the head
                s = (f - 20) / 14
                xy = (58 + 104 * s, 65 - 4 * 73 * s * (1 - s)) if s <= 1 else (162 + 8 * (f - 34), 65 + 6 * (f - 34))
            else:
                xy = (162.0, 65.0)
            out.append(GameFrame(f, players, xy))
        return ball_roles(out, 30.0)

    for teams, caught, want in ((({1: "A", 2: "A"}), True, "pass"), (({1: "A", 2: "B"}), True, "shoot"),
                                (({1: None, 2: None}), True, "pass"), (({1: "A", 2: "A"}), False, "shoot")):
        roles = lob(teams, caught)
        assert roles.get((1, 20)) == want, (teams, caught, {k: v for k, v in roles.items() if k[0] == 1})


def test_a_ball_passing_by_and_a_finder_jump_are_not_possession_or_passes():
    box = {1: (40.0, 40.0, 60.0, 100.0), 2: (160.0, 40.0, 180.0, 100.0)}
    players = {p: PlayerState(b, "A") for p, b in box.items()}
    # a ball flying past player 1's hands at 5 body heights per second, nobody holds it
    fly = [GameFrame(f, players, (10.0 + 10 * f, 70.0)) for f in range(20)]
    assert not ball_roles(fly, 30.0)
    # player 1 holds it; then the finder's ball jumps to another object far away, and back
    held = [GameFrame(f, players, (58.0, 65.0) if f < 20 or f >= 26 else (230.0, 20.0)) for f in range(40)]
    roles = ball_roles(held, 30.0)
    assert {roles.get((1, f)) for f in range(0, 20)} == {"ball in hand"}
    assert "pass" not in roles.values() and "shoot" not in roles.values()
    # the rules work in seconds: the fly-by's frames at 15 fps are a ball half as fast (2.5 heights
    # per second), carried by player 1 and passed to player 2
    slow = ball_roles(fly, 15.0)
    assert slow[(1, 3)] == "ball in hand" and "pass" in {v for (p, _), v in slow.items() if p == 1}
    assert slow[(2, 16)] == "ball in hand"


def test_no_ball_gives_kinematic_labels_only():
    rec = ContextRecognizer(KinematicRecognizer(compensate_camera=False))
    context, frames = GameContext(), FrameBuffer(30.0)
    tubes = TubeBuilder(window=16, stride=8, max_age=5)
    seen = set()
    for f in range(40):
        context.add(GameFrame(f, {p: PlayerState(b, TEAM[p]) for p, b in BOX.items()}))
        dets = sv.Detections(xyxy=np.array(list(BOX.values()), np.float32), tracker_id=np.array(list(BOX)))
        frames.add(f, np.zeros((120, 240, 3), np.uint8), dets)
        for p in rec.predict(tubes.update(f, dets), frames, context):
            seen.add(rec.labels[int(np.argmax(p.probs))])
    assert seen and seen <= {"no_action", "walk", "run"}


def test_a_checkpoint_labels_the_players_without_a_ball_role(tmp_path):
    """--action-model with the default --context-mode: the checkpoint's labels for everyone, the
    context's for the ball roles (one label set: the checkpoint's, then the ball labels it lacks)."""
    import torch

    from recognizer.checkpoint import ClipConfig, save_checkpoint

    from recognizer.models import build_model

    from recognizer.r2plus1d import R2Plus1DRecognizer

    torch.manual_seed(1)
    clip = ClipConfig(frames=16, size=[32, 32], stride=8, margin=0.1, mean=[0.5] * 3, std=[0.25] * 3)
    save_checkpoint(tmp_path / "tiny.pt", build_model("r2plus1d_tiny", 3), "r2plus1d_tiny", ["run", "walk", "pass"],
                    clip)
    rec = ContextRecognizer(R2Plus1DRecognizer(tmp_path / "tiny.pt"))
    assert rec.labels == ["run", "walk", "pass", "dribble", "ball in hand", "shoot", "defense"]
    assert rec.name.startswith("game context: ball + possession + checkpoint")
    labels = run(rec)
    assert near(frames_with(labels[1], "dribble"), 0, 23)
    assert near(frames_with(labels[2], "shoot"), SHOT + 1, SHOT + 3)
    assert labels[2][10] in ("run", "walk", "pass")  # the checkpoint's own guess (random weights)
    only = ContextRecognizer(R2Plus1DRecognizer(tmp_path / "tiny.pt"), mode="checkpoint")
    assert set().union(*[set(v.values()) for v in run(only).values()]) <= {"run", "walk", "pass"}


def test_unknown_mode_is_refused():
    import pytest

    with pytest.raises(ValueError, match="mode must be one of"):
        ContextRecognizer(mode="both")


def test_a_defenders_hands_and_a_missed_detection_do_not_take_the_ball():
    """Player 1 (A) holds the ball; his defender 2 (B) is on him, the ball a little nearer the
    defender's body for a while; then the detector misses player 1 for 5 frames. The ball stays
    1's, 2 is the defense all along. A teammate in the same spot takes it (a hand-off)."""
    holder, guard = (40.0, 40.0, 60.0, 100.0), (56.0, 40.0, 76.0, 100.0)

    def game(team2):
        out = []
        for f in range(60):
            players = {1: PlayerState(holder, "A"), 2: PlayerState(guard, team2)}
            if 30 <= f < 35:
                del players[1]
            x = 55.0 if f < 10 else 61.0  # from f 10 on, 6 px nearer the guard's centre than the holder's
            out.append(GameFrame(f, players, (x, 65.0)))
        return ball_roles(out, 30.0)

    roles = game("B")
    assert {roles.get((1, f)) for f in range(60) if not 30 <= f < 35} == {"ball in hand"}
    assert {roles.get((2, f)) for f in range(60)} == {"defense"}
    handoff = game("A")
    assert handoff.get((2, 40)) == "ball in hand" and handoff.get((1, 5)) == "ball in hand"
