"""Window predictions -> final per-frame labels and segments."""

from __future__ import annotations

import numpy as np
import supervision as sv

from pipeline.timeline import LabelTimeline
from recognizer.base import WindowPrediction


def _dets(ids):
    n = len(ids)
    return sv.Detections(xyxy=np.tile(np.array([[0, 0, 10, 20]], np.float32), (n, 1)),
                         tracker_id=np.asarray(ids, np.int64))


def test_frame_label_is_argmax_of_mean_over_covering_windows():
    tl = LabelTimeline(["a", "b"])
    tl.add([WindowPrediction(1, np.arange(0, 4), np.array([0.9, 0.1], np.float32)),
            WindowPrediction(1, np.arange(2, 6), np.array([0.2, 0.8], np.float32))])
    labels = [tl.finalize(f, f / 10, _dets([1]))[0] for f in range(6)]
    # frames 2-3 are covered by both windows: mean (0.55, 0.45) -> "a" at 0.55
    assert [lab.label for lab in labels] == ["a", "a", "a", "a", "b", "b"]
    assert np.isclose(labels[2].confidence, 0.55) and np.isclose(labels[0].confidence, 0.9)
    assert np.isclose(labels[5].confidence, 0.8)


def test_segments_split_on_label_change_and_long_gaps_and_free_memory():
    tl = LabelTimeline(["walk", "run"], max_gap=3)
    seq = [(0, "walk"), (1, "walk"), (2, "run"), (3, "run"), (10, "run"), (11, "walk")]
    for f, lab in seq:
        p = np.array([1.0, 0.0] if lab == "walk" else [0.0, 1.0], np.float32)
        tl.add([WindowPrediction(7, np.array([f]), p)])
    for f in range(12):
        present = [7] if f in dict(seq) else []
        out = tl.finalize(f, f * 0.5, _dets(present))
        assert len(out) == len(present)
    segs = [(s.action, s.start_frame, s.end_frame) for s in tl.players[7].segments]
    assert segs == [("walk", 0, 1), ("run", 2, 3), ("run", 10, 10), ("walk", 11, 11)]
    assert tl.players[7].segments[1].end_time == 1.5
    assert len(tl.players[7].boxes) == 6
    assert tl._sums == {}


def test_rows_without_a_window_get_no_label():
    tl = LabelTimeline(["x"])
    assert tl.finalize(0, 0.0, _dets([3])) == [None]
    assert 3 not in tl.players
