"""Camera cuts end to end: videos made by joining two different clips, and one clip joined to itself.

Each clip's players end where another player of the next shot starts, so an IoU tracker left
alone would hand one player's ID to another across the cut."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.core import Pipeline
from pipeline.players import PlayerTracking
from recognizer.kinematic import KinematicRecognizer
from tests.synth import GroundTruthDetector, join_videos, linear_path, make_video, player, read_frames
from tracker.game.jersey import JerseyNumbers, ocr_available
from tracker.game.relink.relinker import IdRelinker
from tracker.tracking.base import make_tracker
from tracker.tracking.cuts import CutDetector

FPS, N, SIZE = 30.0, 36, (256, 160)
SPEED = 45.0  # px/s in the picture; players are 50 px tall: 0.9 body heights per second at most
PAN = 1.0  # px per frame: a panning broadcast camera (the players walk at SPEED - PAN * FPS on the floor)


def scene(path, seed: int, colours, background: str = "court", numbers=(None, None, None), size=(22, 50), y=80):
    """Three players walking right under a panning camera; in the picture, player k ends where
    player k + 1 started."""
    step = SPEED * (N - 1) / FPS
    objects = [player(k, linear_path(N, FPS, (40 + k * step, y), (SPEED - PAN * FPS, 0.0)), size=size,
                      color=colours[k], number=numbers[k]) for k in range(3)]
    return make_video(path, size=SIZE, n_frames=N, fps=FPS, objects=objects, background=background, seed=seed,
                      pan_px_per_frame=(PAN, 0.0))


A_COLOURS = [(40, 40, 220), (220, 80, 30), (40, 190, 40)]
B_COLOURS = [(200, 40, 200), (30, 200, 220), (140, 90, 250)]


class RecordingKinematic(KinematicRecognizer):
    """The real kinematic recogniser, keeping every window and speed it computed."""

    def __init__(self):
        super().__init__()
        self.speeds: list[tuple[np.ndarray, float]] = []

    def speed(self, window, frames) -> float:
        value = super().speed(window, frames)
        self.speeds.append((window.frame_indices.copy(), value))
        return value


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def truth_ids(truth, frame: int, box) -> int:
    scores = [iou(box, b) for b in truth.boxes[frame]]
    return int(truth.ids[frame][int(np.argmax(scores))])


@pytest.fixture(scope="module", params=["two_clips", "same_clip"])
def joined(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("cuts")
    a = scene(d / "a.mp4", 0, A_COLOURS)
    if request.param == "two_clips":
        b = scene(d / "b.mp4", 7, B_COLOURS, background="plain")
        return join_videos(d / "ab.mp4", [a, b])
    return join_videos(d / "aa.mp4", [a, a], id_offsets=[0, 0])


def test_cut_found_and_nothing_crosses_it(joined, tmp_path):
    recognizer = RecordingKinematic()
    pipeline = Pipeline(GroundTruthDetector(joined), recognizer=recognizer, all_people=True, ball=False,
                        device="cpu")
    report = pipeline.run(joined.path, json=tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert [c["frame"] for c in doc["cuts"]] == [N]
    assert doc["summary"]["tracking"]["cuts"] == 1
    for p in doc["players"]:  # no ID carries from one player to another
        assert len({truth_ids(joined, f, box) for f, *box in p["boxes"]}) == 1, p["id"]
        for s in p["segments"]:  # labels do not straddle the cut
            assert (s["start_frame"] < N) == (s["end_frame"] < N), (p["id"], s)
    assert recognizer.speeds
    for frames, speed in recognizer.speeds:
        assert (frames < N).all() or (frames >= N).all(), "a clip window spans the cut"
        assert speed < 2 * SPEED / 50, "speed spike"
    assert report.summary["tracking"]["unique_ids"] >= 6  # without numbers: new IDs after the cut


@pytest.mark.skipif(not ocr_available(), reason="rapidocr-onnxruntime not installed")
def test_numbers_give_identities_back_after_a_cut(tmp_path):
    """One clip joined to itself, players wearing numbers: after the cut each player gets his
    old ID back by number (a late merge), never another player's."""
    a = scene(tmp_path / "a.mp4", 0, A_COLOURS, numbers=("23", "7", "41"), size=(40, 100))
    truth = join_videos(tmp_path / "aa.mp4", [a, a], id_offsets=[0, 0])
    jerseys = JerseyNumbers(threaded=False, every=2)
    players = PlayerTracking(tracker=make_tracker("bytetrack", fps=FPS), jerseys=jerseys, cuts=CutDetector(FPS))
    players.relinker = IdRelinker(max_gap_frames=60, number_of=jerseys.number_of, number_changed=jerseys.changed)
    detector = GroundTruthDetector(truth)
    shown: dict[int, set[int]] = {}  # ground-truth player -> shown IDs at the end of each shot
    for i, image in enumerate(read_frames(truth.path)):
        tracked = players.update(i, i / FPS, image, detector([image])[0])
        for box, tid in zip(tracked.xyxy, tracked.tracker_id):
            gt = truth_ids(truth, i, box)
            if i in (N - 1, 2 * N - 1):
                shown.setdefault(gt, set()).add(int(tid))
    assert players.cut_frames() == [N]
    assert [players.jersey_of(min(ids)) for _, ids in sorted(shown.items())] == ["23", "7", "41"]
    assert all(len(ids) == 1 for ids in shown.values()), shown  # the same ID before and after the cut
    assert len(players.relinker.number_links) == 3
    report = players.quality.report(identity=players.identity)
    assert report["identities"] == 3 < report["unique_ids"]


def test_a_cut_restarts_the_tracker_and_the_ball(tmp_path):
    a = scene(tmp_path / "a.mp4", 0, A_COLOURS)
    truth = join_videos(tmp_path / "aa.mp4", [a, a], id_offsets=[0, 0])
    players = PlayerTracking.build(make_tracker("bytetrack", fps=FPS), all_people=True, jerseys=False, fps=FPS)
    detector = GroundTruthDetector(truth)
    balls = []
    for i, image in enumerate(read_frames(truth.path)):
        players.update(i, i / FPS, image, detector([image])[0])
        balls.append(players.ball)
        assert players.cut_now == (i == N)
    assert balls[N - 1] is balls[0] and balls[N] is not balls[N - 1] and balls[-1] is balls[N]
    assert players.relinker.cuts == [N] and players.summary()["tracking"]["cuts"] == 1
