"""Both trackers on synthetic encoded videos, fed by the ground-truth detector stand-in.

The videos are written with H.264 and decoded back with PyAV; the stand-in
detector returns the known boxes with ``data["gt_id"]``, which every tracker
must carry through, so each tracked row can be checked against its object.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import supervision as sv

from tests.synth import (
    GroundTruthDetector,
    crossing_paths,
    linear_path,
    make_video,
    player,
    read_frames,
    standing_path,
)
from tracker.tracking.base import Tracker, make_tracker
from tracker.common.errors import UsageError

FPS = 30.0
N_FRAMES = 90
TRACKERS = ["sort", "bytetrack"]


def run(tracker: Tracker, frames: list[np.ndarray], detector, batch: int = 8) -> list[sv.Detections]:
    """Detect in batches like the pipeline does, track frame by frame; the per-frame outputs."""
    outputs = []
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        for frame, detections in zip(chunk, detector(chunk)):
            outputs.append(tracker.update(detections, frame))
    return outputs


def ids_per_object(outputs: list[sv.Detections]) -> dict[int, dict[int, int]]:
    """``{gt_id: {frame: tracker_id}}`` from the tracked rows."""
    seen: dict[int, dict[int, int]] = defaultdict(dict)
    for t, out in enumerate(outputs):
        for gt_id, tid in zip(out.data.get("gt_id", []), out.tracker_id):
            assert int(gt_id) not in seen or t not in seen[int(gt_id)], "one object tracked twice on a frame"
            seen[int(gt_id)][t] = int(tid)
    return seen


def stability(ids: dict[int, int]) -> tuple[float, int]:
    """(fraction of frames whose ID is the object's majority ID, that majority ID)."""
    majority, count = Counter(ids.values()).most_common(1)[0]
    return count / len(ids), majority


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two players crossing, one standing, one running in from the right at frame 20 and out on the left."""
    a, b = crossing_paths(N_FRAMES, FPS, speed_px_s=120.0, angle_deg=20.0)
    objects = [
        player(0, a),
        player(1, b),
        player(2, standing_path(N_FRAMES, (60.0, 50.0))),
        player(3, linear_path(N_FRAMES, FPS, (330.0, 200.0), (-240.0, 0.0), first=20)),
    ]
    truth = make_video(tmp_path_factory.mktemp("scene") / "scene.mp4", n_frames=N_FRAMES, fps=FPS, objects=objects)
    frames = read_frames(truth.path)
    assert len(frames) == N_FRAMES
    return truth, frames


@pytest.mark.parametrize("name", TRACKERS)
def test_ids_stable_on_scene(scene, name):
    truth, frames = scene
    tracker = make_tracker(name, FPS)
    outputs = run(tracker, frames, GroundTruthDetector(truth, jitter_px=1.0, drop_rate=0.02, seed=3))
    seen = ids_per_object(outputs)
    assert sorted(seen) == [0, 1, 2, 3]
    majorities = []
    for gt_id, ids in seen.items():
        visible = len(truth.frames_of(gt_id))
        assert len(ids) >= 0.85 * visible, f"object {gt_id} tracked on {len(ids)} of {visible} frames"
        frac, majority = stability(ids)
        assert frac >= 0.95, f"{name}: object {gt_id} keeps its ID on only {frac:.0%} of frames"
        majorities.append(majority)
    assert len(set(majorities)) == 4, f"two objects share an ID: {majorities}"
    assert all(int(t) >= 1 for out in outputs for t in out.tracker_id)


@pytest.mark.parametrize("name", TRACKERS)
@pytest.mark.parametrize("angle_deg", [0.0, 35.0])
def test_crossing_paths_keep_ids(tmp_path, name, angle_deg):
    """Head-on (boxes fully overlap at the crossing) and at an angle: the IDs do not swap."""
    n = 60
    a, b = crossing_paths(n, FPS, speed_px_s=150.0, angle_deg=angle_deg)
    truth = make_video(tmp_path / "cross.mp4", n_frames=n, fps=FPS, objects=[player(0, a), player(1, b)])
    frames = read_frames(truth.path)
    seen = ids_per_object(run(make_tracker(name, FPS), frames, GroundTruthDetector(truth, jitter_px=1.0, seed=7)))
    (frac0, id0), (frac1, id1) = stability(seen[0]), stability(seen[1])
    assert frac0 >= 0.95 and frac1 >= 0.95, (frac0, frac1)
    assert id0 != id1
    # the same ID on both sides of the crossing (frames n/2 - 1 and n/2 are where they meet)
    for ids, majority in ((seen[0], id0), (seen[1], id1)):
        assert ids[5] == majority and ids[n - 5] == majority


@pytest.mark.parametrize("name", TRACKERS)
def test_rows_carried_through(scene, name):
    """Returned rows are input rows: same box, confidence, class and data; tracker_id set."""
    truth, frames = scene
    detector = GroundTruthDetector(truth, jitter_px=1.5, seed=11)
    tracker = make_tracker(name, FPS)
    for frame, detections in zip(frames[:30], detector(frames[:30])):
        detections.confidence = np.linspace(0.5, 0.95, len(detections)).astype(np.float32)
        detections.class_id = np.arange(len(detections))
        out = tracker.update(detections, frame)
        assert out.tracker_id is not None and out.tracker_id.shape == (len(out),)
        for k in range(len(out)):
            row = int(np.flatnonzero(detections.data["gt_id"] == out.data["gt_id"][k])[0])
            np.testing.assert_array_equal(out.xyxy[k], detections.xyxy[row])
            assert out.confidence[k] == detections.confidence[row]
            assert out.class_id[k] == detections.class_id[row]
    assert len(out) == len(detections)  # by frame 30 every visible player is confirmed


@pytest.mark.parametrize("name", TRACKERS)
def test_empty_frames(tmp_path, name):
    """Frames without players give empty results; a player back after a short empty gap keeps its ID."""
    n = 60
    path = linear_path(n, FPS, (40.0, 120.0), (90.0, 0.0))
    path[:10] = np.nan  # empty start
    path[30:36] = np.nan  # six empty frames
    truth = make_video(tmp_path / "gaps.mp4", n_frames=n, fps=FPS, objects=[player(0, path)], background="plain")
    frames = read_frames(truth.path)
    tracker = make_tracker(name, FPS)
    first = tracker.update(sv.Detections.empty(), None)
    assert len(first) == 0 and first.tracker_id is not None and len(first.tracker_id) == 0
    tracker.reset()
    outputs = run(tracker, frames, GroundTruthDetector(truth))
    for t in list(range(10)) + list(range(30, 36)):
        assert len(outputs[t]) == 0 and len(outputs[t].tracker_id) == 0
    ids = ids_per_object(outputs)[0]
    assert set(ids.values()) == {1}
    assert ids[29] == ids[36] == ids[n - 1] == 1


@pytest.mark.parametrize("name", TRACKERS)
@pytest.mark.parametrize("gap", [3, 8])
def test_dropout_and_max_age(scene, name, gap):
    """A player undetected for ``gap`` frames keeps its ID iff ``gap <= max_age``."""
    truth, frames = scene
    max_age = 5
    dropped = range(40, 40 + gap)
    detector = GroundTruthDetector(truth, drops={3: dropped})  # the runner, 8 px per frame
    outputs = run(make_tracker(name, FPS, max_age=max_age), frames, detector)
    ids = ids_per_object(outputs)[3]
    assert not any(t in ids for t in dropped)
    before, after = ids[39], ids[40 + gap + 2]
    if gap <= max_age:
        assert before == after
    else:
        assert before != after


def test_bytetrack_uses_low_scores_only_to_continue_tracks(scene):
    """ByteTrack's second stage: low-score boxes extend existing tracks but never start one."""
    truth, frames = scene
    tracker = make_tracker("bytetrack", FPS, max_age=2)
    detector = GroundTruthDetector(truth)
    seen: dict[int, dict[int, int]] = defaultdict(dict)
    for t, detections in enumerate(detector(frames)):
        gt = detections.data["gt_id"]
        low = (gt == 2) & (t >= 30)  # the standing player: confident, then low score from frame 30
        low |= gt == 3  # the runner: low score all along
        detections.confidence = np.where(low, 0.15, 0.9).astype(np.float32)
        out = tracker.update(detections)
        for g, tid in zip(out.data["gt_id"], out.tracker_id):
            seen[int(g)][t] = int(tid)
    assert 3 not in seen
    assert set(seen[2].values()) == {seen[2][29]} and max(seen[2]) == N_FRAMES - 1


def test_factory_and_protocol():
    for name in TRACKERS:
        tracker = make_tracker(name, 25.0)
        assert isinstance(tracker, Tracker)
        assert tracker.max_age == 25  # one second of frames by default
        assert make_tracker(name, 25.0, max_age=7).max_age == 7
    with pytest.raises(UsageError, match="unknown tracker 'deepsort'") as err:
        make_tracker("deepsort", 30.0)
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    with pytest.raises(UsageError, match="min_hitz"):
        make_tracker("sort", 30.0, min_hitz=2)
    with pytest.raises(UsageError, match="fps"):
        make_tracker("bytetrack", 0.0)
    with pytest.raises(UsageError, match="min_hits"):
        make_tracker("sort", 30.0, min_hits=0)


@pytest.mark.parametrize("name", TRACKERS)
def test_ids_per_instance_and_reset(name):
    """IDs start at 1 in every tracker (no shared counter) and again after reset()."""
    box = sv.Detections(xyxy=np.array([[10.0, 10.0, 30.0, 60.0]]), confidence=np.array([0.9]))
    first, second = make_tracker(name, FPS), make_tracker(name, FPS)

    def settle(tracker, dets):  # a new track may need a few frames to be confirmed
        return [tracker.update(dets) for _ in range(3)][-1]

    for tracker in (first, second):
        assert list(settle(tracker, box).tracker_id) == [1]
    moved = sv.Detections(xyxy=np.array([[200.0, 10.0, 220.0, 60.0]]), confidence=np.array([0.9]))
    assert list(settle(first, moved).tracker_id) == [2]  # a far-away box is a new player
    first.reset()
    assert list(settle(first, moved).tracker_id) == [1]


@pytest.mark.parametrize("name", TRACKERS)
def test_invalid_boxes_are_ignored(name):
    """Zero-size and inverted boxes neither crash the tracker nor come back tracked.

    (``sv.Detections`` itself refuses non-finite boxes.)
    """
    tracker = make_tracker(name, FPS)
    for t in range(10):
        x = 10.0 + 3 * t
        xyxy = np.array(
            [
                [x, 20.0, x + 20.0, 70.0],  # a real player
                [5.0, 5.0, 5.0, 5.0],  # a point
                [100.0, 100.0, 100.0, 150.0],  # zero width
                [200.0, 80.0, 180.0, 40.0],  # inverted
                [150.0, 90.0, 170.0, 90.0],  # zero height
            ]
        )
        out = tracker.update(sv.Detections(xyxy=xyxy, confidence=np.full(5, 0.9), data={"row": np.arange(5)}))
        assert set(out.data["row"]) <= {0}
    assert list(out.data["row"]) == [0] and list(out.tracker_id) == [1]


@pytest.mark.parametrize("name", TRACKERS)
def test_vanishing_box_does_not_break_the_filter(name):
    """A box shrinking fast to nothing drives the predicted area negative; the tracker copes."""
    tracker = make_tracker(name, FPS, max_age=10)
    earlier: set[int] = set()
    for t in range(8):
        half = max(1.0, 40.0 - 6.0 * t)
        out = tracker.update(sv.Detections(xyxy=np.array([[100 - half, 100 - half, 100 + half, 100 + half]])))
        earlier |= {int(i) for i in out.tracker_id}
    assert earlier
    for _ in range(12):  # only predictions now: area velocity is strongly negative
        out = tracker.update(sv.Detections.empty())
        assert len(out) == 0
    for _ in range(3):  # a new player is still picked up and confirmed normally
        fresh = tracker.update(sv.Detections(xyxy=np.array([[10.0, 10.0, 30.0, 60.0]])))
    assert len(fresh) == 1 and int(fresh.tracker_id[0]) not in earlier
