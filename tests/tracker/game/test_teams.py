"""Teams and referees from torso colours: synthetic encoded videos and the shared NBA clip."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import supervision as sv

from tests.conftest import shared_asset
from tests.synth import BLUE, NAVY, RED, WHITE, encode_decode, game_background, make_game
from tracker.game.court import CourtFilter
from tracker.game.teams.assigner import REFEREE, TeamAssigner, _nearest, _Track
from tracker.game.teams.colours import (
    DESCRIPTOR_SIZE,
    ColourDescriber,
    appearance,
    colour_histogram,
    shorts_box,
    torso_box,
    torso_part,
)


def run_game(frames, per_frame, **options):
    """CourtFilter then TeamAssigner, as the pipeline chains them; returns the assigner,
    the label history of every track, and the IDs the court filter let through."""
    court = CourtFilter()
    teams = TeamAssigner(**options)
    history: dict[int, list[str]] = {}
    passed: set[int] = set()
    for f, (frame, (boxes, ids)) in enumerate(zip(frames, per_frame)):
        n = len(ids)
        dets = sv.Detections(xyxy=boxes, confidence=np.full(n, 0.9), class_id=np.zeros(n, int), tracker_id=ids)
        dets = court(frame, dets)
        passed |= {int(t) for t in dets.tracker_id}
        teams.update(f, frame, dets)
        for tid in dets.tracker_id:
            label = teams.team_of(int(tid))
            if label is not None:
                history.setdefault(int(tid), []).append(label)
    return teams, history, passed


def team_accuracy(teams: TeamAssigner, truth: dict[int, str]) -> float:
    """Share of player tracks with the right team, under the better naming of the two clusters."""
    players = [t for t, team in truth.items() if team != REFEREE]
    got = [teams.team_of(t) for t in players]
    want = [truth[t] for t in players]
    direct = np.mean([g == w for g, w in zip(got, want)])
    swapped = np.mean([g == {"A": "B", "B": "A"}[w] for g, w in zip(got, want)])
    return float(max(direct, swapped))


@pytest.mark.parametrize(
    "shirts",
    [
        {"A": RED, "B": BLUE, REFEREE: "stripes"},
        {"A": WHITE, "B": NAVY, REFEREE: (128, 128, 128)},
    ],
    ids=["red-blue-striped-ref", "white-navy-grey-ref"],
)
def test_two_teams_and_referees_on_encoded_video(tmp_path, shirts):
    frames, per_frame, truth = make_game(shirts)
    decoded = encode_decode(frames, tmp_path / "game.mp4")
    teams, history, passed = run_game(decoded, per_frame)

    assert not passed & set(range(900, 1000)), "spectators in the stands must not reach the teams"
    assert team_accuracy(teams, truth) >= 0.95
    refs = [t for t, team in truth.items() if team == REFEREE]
    ref_labels = {t: teams.team_of(t) for t in refs}
    # a track hidden behind nearer players nearly all its life may stay undecided (None)
    assert set(ref_labels.values()) <= {REFEREE, None}, ref_labels
    assert sum(label == REFEREE for label in ref_labels.values()) >= len(refs) - 1, ref_labels
    assert all(teams.team_of(t) != REFEREE for t, team in truth.items() if team != REFEREE)
    # a label once given is kept
    changed = {t: set(v) for t, v in history.items() if len(set(v)) > 1}
    assert not changed
    summary = teams.summary()
    assert summary["mode"] == "two teams"
    assert summary["teams"][REFEREE]["tracks"] == sum(label == REFEREE for label in ref_labels.values())
    assert summary["teams"]["A"]["tracks"] >= 14 and summary["teams"]["B"]["tracks"] >= 14


def test_decisions_wait_for_the_warm_up_then_come_while_streaming():
    frames, per_frame, truth = make_game({"A": RED, "B": BLUE, REFEREE: "stripes"}, n_frames=40, track_len=40)
    teams = TeamAssigner(warmup_frames=20)
    for f, (frame, (boxes, ids)) in enumerate(zip(frames, per_frame)):
        on_floor = ids < 900
        teams.update(f, frame, sv.Detections(xyxy=boxes[on_floor], tracker_id=ids[on_floor]))
        if f == 18:
            assert all(teams.team_of(t) is None for t in truth)
            assert teams.summary()["mode"] == "undecided"
    assert all(teams.team_of(t) is not None for t in truth)
    assert team_accuracy(teams, truth) == 1.0


def test_one_colour_for_everybody_is_one_team_without_referees():
    frames, per_frame, truth = make_game({"A": BLUE, "B": BLUE, REFEREE: BLUE}, n_frames=45, track_len=45, seed=3)
    teams, _, _ = run_game(frames, per_frame)
    assert teams.summary()["mode"] == "one team"
    labels = [teams.team_of(t) for t in truth]
    assert set(labels) - {None} == {"A"}
    assert labels.count("A") >= len(labels) - 2  # a player hidden most of the time may stay undecided


def test_classify_follows_the_jerseys_and_a_tiny_box_is_not_described():
    frames, per_frame, _ = make_game({"A": RED, "B": BLUE, REFEREE: "stripes"}, n_frames=50, track_len=50, seed=5)
    teams, _, _ = run_game(frames[:45], per_frame[:45])
    boxes, ids = per_frame[49]
    on_floor = ids < 900
    hints = teams.classify(frames[49], sv.Detections(xyxy=boxes[on_floor], class_id=np.zeros(on_floor.sum(), int)))
    labels = [teams.team_of(int(t)) for t in ids[on_floor]]
    seen = [(h, label) for h, label in zip(hints, labels) if h is not None]  # None: torso hidden this frame
    assert len(seen) >= len(hints) // 2 and all(h == label for h, label in seen)
    tiny = appearance(teams.describer.describe(frames[49], np.array([[0, 0, 1, 1]], np.float32)))
    assert tiny.shape == (1, DESCRIPTOR_SIZE) and np.isnan(tiny).all()  # too small to describe


def test_colour_histogram_bins():
    def hist(bgr):
        hsv = cv2.cvtColor(np.full((4, 4, 3), bgr, np.uint8), cv2.COLOR_BGR2HSV)
        return colour_histogram(hsv)

    assert hist((0, 0, 255))[0] == 1.0  # red: hue bin 0
    assert hist((255, 0, 0))[8] == 1.0  # blue: hue 120 of 180 -> bin 8
    assert hist((10, 10, 10))[12] == 1.0  # black
    assert hist((128, 128, 128))[14] == 1.0  # grey
    assert hist((250, 250, 250))[15] == 1.0  # white
    mixed = hist((0, 0, 255)) * 0.5 + hist((250, 250, 250)) * 0.5
    assert mixed.sum() == pytest.approx(1.0)


def test_torso_box_is_the_centre_of_the_upper_half_and_the_shorts_below():
    np.testing.assert_allclose(torso_box(np.array([[0, 0, 100, 200]])), [[30, 30, 70, 96]])
    np.testing.assert_allclose(shorts_box(np.array([[0, 0, 100, 200]])), [[25, 100, 75, 136]])


def test_floor_showing_through_the_torso_is_ignored():
    rng = np.random.default_rng(0)
    frame = game_background(rng)
    box = np.array([[100, 155, 160, 235]], np.float32)  # torso rows clear of the court line
    tx1, ty1, tx2, ty2 = torso_box(box)[0].astype(int)
    frame[ty1:ty2, tx1 : (tx1 + tx2) // 2] = RED  # half the torso crop is jersey, half floor
    teams = TeamAssigner()
    teams.update(0, frame, sv.Detections.empty())  # learns the floor colour from the frame
    desc, ok = teams.describer.describe(frame, box)
    pure = np.sqrt(colour_histogram(cv2.cvtColor(np.full((4, 4, 3), RED, np.uint8), cv2.COLOR_BGR2HSV)))
    assert ok[0]
    assert np.linalg.norm(torso_part(desc[0]) - pure) < 0.15
    unmasked, _ = ColourDescriber().describe(frame, box)  # has seen no floor yet: wood counts
    assert np.linalg.norm(torso_part(unmasked[0]) - pure) > 0.5


@pytest.mark.slow
def test_nba_clip_two_teams_and_the_referee():
    """Real footage: Warriors (blue) against Lakers (gold), one referee on the floor at the start.

    Reference boxes read off frame 0 by eye: the referee (white-grey shirt, black
    trousers) bottom-left, Warriors #30 left of the centre circle, a Laker in gold at
    the far free-throw line.
    """
    video = shared_asset("demo_videos/nba_broadcast_480p.mp4")
    weights = shared_asset("weights/yolov8n_int8.tflite")
    from tracker.tracking.bytetrack import ByteTrackTracker
    from tracker.tracking.detector import Detector

    detector = Detector(weights, imgsz=640)
    court, tracker = CourtFilter(), ByteTrackTracker(fps=30)
    teams = TeamAssigner(warmup_frames=15, recluster_every=5)  # 30 frames keep the test short
    first_ids: dict[str, int] = {}
    marked = {
        "referee": [60, 315, 132, 432],
        "warriors_30": [303, 228, 338, 332],
        "laker": [452, 174, 494, 245],
    }
    with av.open(str(video)) as src:
        for f, vf in enumerate(src.decode(video=0)):
            if f == 30:
                break
            frame = vf.to_ndarray(format="bgr24")
            tracked = tracker.update(court(frame, detector([frame])[0]))
            teams.update(f, frame, tracked)
            for name, box in marked.items():  # a new track is confirmed after a few frames
                if name not in first_ids and f <= 6 and len(tracked):
                    iou = sv.box_iou_batch(np.array([box], np.float32), tracked.xyxy)[0]
                    if iou.max() > 0.5:
                        first_ids[name] = int(tracked.tracker_id[iou.argmax()])
    assert set(first_ids) == set(marked), f"not tracked in the first frames: {set(marked) - set(first_ids)}"
    summary = teams.summary()
    assert summary["mode"] == "two teams"
    assert summary["teams"]["A"]["tracks"] >= 2 and summary["teams"]["B"]["tracks"] >= 2
    assert teams.team_of(first_ids["referee"]) == REFEREE
    warriors, laker = teams.team_of(first_ids["warriors_30"]), teams.team_of(first_ids["laker"])
    assert {warriors, laker} == {"A", "B"}


def test_running_votes_equal_a_recount_after_the_oldest_samples_left():
    rng = np.random.default_rng(0)
    centres = rng.random((3, 32)).astype(np.float32)
    track = _Track(first_frame=0)
    track.recount(centres)
    for _ in range(track.samples.maxlen + 250):  # the first 250 samples drop out again
        d = rng.random(32).astype(np.float32)
        track.add(d, int(_nearest(d[None], centres)[0]))
    recounted = np.bincount(_nearest(np.stack(track.samples), centres), minlength=3)
    assert track.votes.sum() == track.samples.maxlen
    np.testing.assert_array_equal(track.votes, recounted)
