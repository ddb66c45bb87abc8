"""TubeBuilder: 16-frame windows at stride 8, tube edges, short tubes, track closing and safe_frame()."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.tracking.tubes import ClipWindow, TubeBuilder


def box_of(track_id: int, frame: int) -> list[float]:
    """A box that encodes (track, frame), so a window's boxes can be checked against its frames."""
    return [float(frame), float(track_id), float(frame) + 10.0, float(track_id) + 30.0]


def dets(frame: int, track_ids: list[int]) -> sv.Detections:
    if not track_ids:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.array([box_of(t, frame) for t in track_ids], dtype=np.float32),
        confidence=np.full(len(track_ids), 0.8, np.float32),
        tracker_id=np.array(track_ids, dtype=np.int64),
    )


def feed(builder: TubeBuilder, schedule: dict[int, list[int]], n_frames: int) -> list[tuple[int, ClipWindow]]:
    """Run ``schedule`` ({frame: track ids}) through ``builder``; (frame emitted at, window), flush as n_frames."""
    out = []
    for f in range(n_frames):
        out += [(f, w) for w in builder.update(f, dets(f, schedule.get(f, [])))]
    out += [(n_frames, w) for w in builder.flush()]
    return out


def assert_boxes_match(window: ClipWindow) -> None:
    expected = np.array([box_of(window.track_id, int(f)) for f in window.frame_indices], dtype=np.float32)
    np.testing.assert_array_equal(window.boxes, expected)


def expected_starts(n: int, window: int = 16, stride: int = 8) -> list[int]:
    """Sample positions where the spec puts windows for a tube of ``n >= window`` samples."""
    starts = list(range(0, n - window + 1, stride))
    if starts[-1] + window < n:  # the regular windows stop short of the end: one more, aligned to it
        starts.append(n - window)
    return starts


def test_regular_windows_every_stride_once_sixteen_samples_exist():
    builder = TubeBuilder(window=16, stride=8, max_age=30)
    emitted = feed(builder, {f: [4] for f in range(40)}, 40)
    assert [(at, w.first_frame, w.last_frame) for at, w in emitted] == [
        (15, 0, 15),
        (23, 8, 23),
        (31, 16, 31),
        (39, 24, 39),
    ]  # each window as soon as its 16th frame arrives; 40 = 24 + 16 reaches the end: nothing at flush
    for _, w in emitted:
        assert w.track_id == 4 and len(w.frame_indices) == 16 and w.frame_indices.dtype == np.int64
        np.testing.assert_array_equal(w.frame_indices, np.arange(w.first_frame, w.first_frame + 16))
        assert_boxes_match(w)


@pytest.mark.parametrize("n", [16, 17, 23, 24, 25, 31, 37, 40, 41])
def test_tube_start_and_end_edges_at_flush(n):
    """First window starts at the tube's first frame; the last one ends on its final frame."""
    first = 5
    builder = TubeBuilder(keep_tubes=True)
    emitted = feed(builder, {f: [1] for f in range(first, first + n)}, first + n)
    starts = [w.first_frame - first for _, w in emitted]
    assert starts == expected_starts(n)
    assert emitted[0][1].first_frame == first
    assert emitted[-1][1].last_frame == first + n - 1
    for _, w in emitted:
        np.testing.assert_array_equal(w.frame_indices, np.arange(w.first_frame, w.first_frame + 16))
        assert_boxes_match(w)
    (tube,) = builder.pop_closed_tubes()
    np.testing.assert_array_equal(tube.frames, np.arange(first, first + n))
    assert builder.pop_closed_tubes() == []


def test_track_closed_after_max_age_with_a_last_window_on_its_final_frame():
    max_age = 5
    schedule = {f: [1, 2] if f < 20 else [2] for f in range(40)}  # track 1 seen on frames 0..19
    builder = TubeBuilder(window=16, stride=8, max_age=max_age, keep_tubes=True)
    closing = None
    for f in range(40):
        windows = builder.update(f, dets(f, schedule[f]))
        if 1 in builder.active_ids:
            assert f - 19 <= max_age
        elif closing is None:
            closing = (f, [w for w in windows if w.track_id == 1])
            assert [t.track_id for t in builder.pop_closed_tubes()] == [1]
    at, windows = closing
    assert at == 19 + max_age + 1
    (last,) = windows
    np.testing.assert_array_equal(last.frame_indices, np.arange(4, 20))
    assert_boxes_match(last)


def test_track_back_within_max_age_stays_one_tube_and_windows_skip_the_gap():
    seen = list(range(0, 10)) + list(range(14, 30))  # unseen for 4 frames, max_age 4
    builder = TubeBuilder(max_age=4, keep_tubes=True)
    emitted = feed(builder, {f: [3] for f in seen}, 30)
    (tube,) = builder.pop_closed_tubes()
    np.testing.assert_array_equal(tube.frames, seen)
    assert [w.frame_indices.tolist() for _, w in emitted] == [
        seen[0:16],
        seen[8:24],
        seen[10:26],  # the end window, aligned to the final sample
    ]


def test_track_back_after_max_age_is_a_new_tube():
    seen = list(range(0, 10)) + list(range(15, 30))  # unseen for 5 frames, max_age 4
    builder = TubeBuilder(max_age=4, keep_tubes=True)
    feed(builder, {f: [3] for f in seen}, 30)
    tubes = builder.pop_closed_tubes()
    assert [t.frames.tolist() for t in tubes] == [seen[:10], seen[10:]]


@pytest.mark.parametrize("n", [1, 2, 5, 9, 15])
def test_short_tube_gets_one_window_of_repeated_frames(n):
    frames = [3 + 2 * k for k in range(n)]  # with gaps of one frame
    builder = TubeBuilder(max_age=1)
    emitted = feed(builder, {f: [7] for f in frames}, 40)
    (at, w), = emitted
    assert at == frames[-1] + 2  # closed once unseen for more than max_age frames
    assert len(w.frame_indices) == 16
    assert np.all(np.diff(w.frame_indices) >= 0)
    assert sorted(set(w.frame_indices.tolist())) == frames  # every sample, nothing else
    assert w.first_frame == frames[0] and w.last_frame == frames[-1]
    assert_boxes_match(w)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 7, 15])
def test_short_tube_repeats_are_even(n):
    """'Frames are repeated evenly': each sample 16 // n or 16 // n + 1 times."""
    builder = TubeBuilder(max_age=0)
    (_, w), = feed(builder, {f: [1] for f in range(n)}, n + 2)
    counts = np.bincount(w.frame_indices, minlength=n)
    assert counts.max() - counts.min() <= 1, counts.tolist()


def test_input_checks():
    builder = TubeBuilder(keep_tubes=True)
    with pytest.raises(ValueError, match="tracker_id"):
        builder.update(0, sv.Detections(xyxy=np.array([[0.0, 0.0, 5.0, 5.0]])))
    builder.update(1, dets(1, [-1, 2]))  # negative IDs are untracked rows: ignored
    assert builder.active_ids == [2]
    with pytest.raises(ValueError, match="order"):
        builder.update(1, dets(1, [2]))
    with pytest.raises(ValueError):
        TubeBuilder(window=16, stride=0)
    with pytest.raises(ValueError, match="uncovered"):
        TubeBuilder(window=16, stride=17)


@st.composite
def schedules(draw):
    """(window, stride, max_age, n_frames, {frame: track ids}) with tracks that come, pause and go."""
    window = draw(st.sampled_from([16, 16, 4, 5]))
    stride = draw(st.integers(1, window))
    max_age = draw(st.integers(0, 6))
    n_frames = draw(st.integers(1, 70))
    schedule: dict[int, list[int]] = {}
    for track_id in range(1, draw(st.integers(1, 4)) + 1):
        start = draw(st.integers(0, n_frames - 1))
        stop = draw(st.integers(start, n_frames - 1))
        span = range(start, stop + 1)
        if draw(st.booleans()):  # with pauses (some maybe longer than max_age: a new tube, same ID)
            seen = draw(st.lists(st.booleans(), min_size=len(span), max_size=len(span)))
        else:
            seen = [True] * len(span)
        for f, is_seen in zip(span, seen):
            if is_seen or f == start:
                schedule.setdefault(f, []).append(track_id)
    return window, stride, max_age, n_frames, schedule


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_safe_frame_and_coverage_properties(case):
    window, stride, max_age, n_frames, schedule = case
    builder = TubeBuilder(window=window, stride=stride, max_age=max_age, keep_tubes=True)
    lean = TubeBuilder(window=window, stride=stride, max_age=max_age)  # keeps only the last window of samples
    safe_so_far = -1
    emitted: list[ClipWindow] = []
    for f in range(n_frames + 1):
        windows = builder.update(f, dets(f, schedule.get(f, []))) if f < n_frames else builder.flush()
        lean_windows = lean.update(f, dets(f, schedule.get(f, []))) if f < n_frames else lean.flush()
        assert [(w.track_id, w.frame_indices.tolist(), w.boxes.tolist()) for w in lean_windows] == \
            [(w.track_id, w.frame_indices.tolist(), w.boxes.tolist()) for w in windows]
        if f < n_frames:
            assert lean.safe_frame() == builder.safe_frame()
        for w in windows:
            # no window emitted now reaches a frame already reported safe
            assert w.first_frame > safe_so_far, (w.frame_indices.tolist(), safe_so_far)
        emitted += windows
        if f < n_frames:
            safe = builder.safe_frame()
            assert safe <= f
            safe_so_far = max(safe_so_far, safe)
    assert builder.safe_frame() == n_frames - 1 and builder.active_ids == []

    tubes = builder.pop_closed_tubes()
    samples = sorted((int(t.track_id), int(f)) for t in tubes for f in t.frames)
    assert samples == sorted((tid, f) for f, tids in schedule.items() for tid in tids)
    for w in emitted:
        assert len(w.frame_indices) == window and np.all(np.diff(w.frame_indices) >= 0)
        assert_boxes_match(w)
    for tube in tubes:
        mine = [w for w in emitted if w.track_id == tube.track_id and np.isin(w.frame_indices, tube.frames).all()]
        covered = set().union(*(set(w.frame_indices.tolist()) for w in mine)) if mine else set()
        assert covered == set(tube.frames.tolist()), f"samples of tube {tube.track_id} left without a window"
        if len(tube) >= window:
            for w in mine:  # full-length tubes: windows are runs of consecutive samples
                pos = np.searchsorted(tube.frames, w.frame_indices)
                np.testing.assert_array_equal(np.diff(pos), 1)
