"""Tracking-quality report on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from tracker.game.quality import TrackingQuality


def tracked(*ids: int) -> sv.Detections:
    if not ids:
        return sv.Detections.empty()
    return sv.Detections(xyxy=np.tile([0, 0, 10, 20], (len(ids), 1)).astype(np.float32), tracker_id=np.array(ids))


def test_hand_checked_report():
    quality = TrackingQuality()
    # frame 0: players 1, 2; frame 1: 1, 2; frame 2: 2 lost his ID and is now 3; frame 3: nobody
    for ids in [(1, 2), (1, 2), (1, 3), ()]:
        quality.update(tracked(*ids))
    # unique IDs {1, 2, 3} = 3; tracked per frame 2, 2, 2, 0 -> mean 1.5; 3 / 1.5 = 2
    assert quality.report() == {"unique_ids": 3, "mean_tracked": 1.5, "fragmentation": 2.0, "frames": 4}


def test_perfect_tracking_has_fragmentation_one():
    quality = TrackingQuality()
    for _ in range(10):
        quality.update(tracked(4, 7, 9))
    report = quality.report()
    assert report["unique_ids"] == 3 and report["mean_tracked"] == 3.0 and report["fragmentation"] == 1.0


def test_untracked_rows_and_empty_runs():
    quality = TrackingQuality()
    assert quality.report() == {"unique_ids": 0, "mean_tracked": 0.0, "fragmentation": None, "frames": 0}
    quality.update(sv.Detections(xyxy=np.zeros((2, 4), np.float32)))  # no tracker_id at all
    quality.update(tracked(-1, 5))  # negative IDs are "not tracked"
    quality.update(tracked(5, 5))  # one ID twice in a frame counts once
    report = quality.report()
    assert report["unique_ids"] == 1 and report["frames"] == 3
    assert report["mean_tracked"] == pytest.approx(2 / 3)
    assert report["fragmentation"] == pytest.approx(1.5)
