"""The game-context recogniser on a scripted game: two teammates (A) and a defender (B); player 1
dribbles, holds, passes to player 2, who shoots. Context frames are built from the script (the
video side -- ball finding -- is tested in tests/tracker/game/test_ball_finder.py)."""

from __future__ import annotations

import numpy as np

from recognizer.base import FrameBuffer
from recognizer.context import ContextRecognizer, GameContext, GameFrame, PlayerState
from recognizer.kinematic import KinematicRecognizer
from tracker.tracking.tubes import TubeBuilder
import supervision as sv

N = 96
BOX = {1: (40.0, 40.0, 60.0, 100.0), 2: (200.0, 40.0, 220.0, 100.0), 3: (70.0, 40.0, 90.0, 100.0)}
TEAM = {1: "A", 2: "A", 3: "B"}


def script(f: int) -> GameFrame:
    players = {pid: PlayerState(box, TEAM[pid]) for pid, box in BOX.items()}
    if f < 24:  # dribble: ball bounces between the hand (y 65) and the floor (y 98), period 12
        y = 65 + 33 * abs(((f % 12) - 6) / 6)
        return GameFrame(f, players, (58.0, y), "held", 1)
    if f < 40:  # holds it
        return GameFrame(f, players, (58.0, 65.0), "held", 1)
    if f < 52:  # pass: flies level to player 2
        x = 58 + (f - 39) * (200 - 58) / 13
        return GameFrame(f, players, (x, 65.0), "flight", 1 if f == 40 else None)
    if f < 70:
        return GameFrame(f, players, (202.0, 65.0), "held", 2)
    y = 65 - 4 * (f - 69)  # shot: rises above the head (y 40) and away
    return GameFrame(f, players, (205.0, y), "flight", None)


def run(recognizer) -> dict[int, dict[int, str]]:
    context, frames = GameContext(), FrameBuffer(30.0)
    tubes = TubeBuilder(window=16, stride=8, max_age=5)
    sums: dict[tuple[int, int], np.ndarray] = {}
    for f in range(N):
        g = script(f)
        context.add(g)
        dets = sv.Detections(xyxy=np.array([BOX[p] for p in BOX], np.float32), tracker_id=np.array(list(BOX)))
        frames.add(f, np.zeros((120, 240, 3), np.uint8), dets)
        for p in recognizer.predict(tubes.update(f, dets), frames, context):
            for k in np.unique(p.frame_indices):
                sums[(p.track_id, int(k))] = sums.get((p.track_id, int(k)), 0) + np.append(p.probs, 1) * p.weight
    labels: dict[int, dict[int, str]] = {pid: {} for pid in BOX}
    for (pid, f), acc in sums.items():
        labels[pid][f] = recognizer.labels[int(np.argmax(acc[:-1]))]
    return labels


def test_ball_events_at_the_right_frames_and_players():
    rec = ContextRecognizer(KinematicRecognizer(compensate_camera=False))
    assert rec.name == "game context: ball + possession + speed"
    labels = run(rec)
    assert all(labels[1][f] == "dribble" for f in range(0, 10))
    # the last bounce is on frame 23; "dribble" lasts dribble_frames (10) after it, the release starts at 36
    assert all(labels[1][f] == "ball in hand" for f in range(34, 36))
    assert all(labels[1][f] == "pass" for f in range(38, 43))
    assert all(labels[2][f] == "shoot" for f in range(67, 72))
    assert all(labels[3][f] == "defense" for f in range(0, 36))  # nearest opponent of the handler
    assert labels[2][10] in ("no_action", "walk", "run")  # teammate away from the ball: kinematic


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
    assert all(labels[1][f] == "dribble" for f in range(0, 10))
    assert all(labels[2][f] == "shoot" for f in range(67, 72))
    assert labels[2][10] in ("run", "walk", "pass")  # the checkpoint's own guess (random weights)
    only = ContextRecognizer(R2Plus1DRecognizer(tmp_path / "tiny.pt"), mode="checkpoint")
    assert set().union(*[set(v.values()) for v in run(only).values()]) <= {"run", "walk", "pass"}


def test_unknown_mode_is_refused():
    import pytest

    with pytest.raises(ValueError, match="mode must be one of"):
        ContextRecognizer(mode="both")
