"""Camera-cut detection on frames: a pan is not a cut, a switch of shot is; real footage has none."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_asset
from tests.synth import court_texture, read_frames
from tracker.tracking.cuts import CutDetector


def panning(texture: np.ndarray, n: int, start: int = 0, step: int = 2, width: int = 320) -> list[np.ndarray]:
    return [np.ascontiguousarray(texture[:, start + k * step : start + k * step + width]) for k in range(n)]


def run(detector: CutDetector, frames) -> list[int]:
    return [i for i, f in enumerate(frames) if detector(i, f)]


@pytest.mark.parametrize("work_width", [64, None])
def test_a_switch_of_camera_is_a_cut_and_a_pan_is_not(work_width):
    court = court_texture(800, 240, seed=0)
    other = court_texture(800, 240, seed=3)
    shot_a = panning(court, 30)
    shot_b = panning(other, 30, start=300, step=-2)
    replay = panning(court, 30, start=200)  # the same court from another camera position
    detector = CutDetector(30.0, work_width=work_width)
    assert run(detector, shot_a + shot_b + replay) == [30, 60]
    assert detector.cuts == [30, 60]


def test_no_second_cut_within_min_scene():
    court, other = court_texture(400, 240, seed=0), court_texture(400, 240, seed=3)
    frames = panning(court, 20, step=1) + panning(other, 5, step=1) + panning(court, 20, step=1)
    assert run(CutDetector(30.0, min_scene_s=0.5), frames) == [20]
    assert run(CutDetector(30.0, min_scene_s=0.1), frames) == [20, 25]


def test_reset_forgets_the_previous_frame():
    detector = CutDetector(30.0)
    run(detector, panning(court_texture(400, 240, seed=0), 10))
    detector.reset()
    assert run(detector, panning(court_texture(400, 240, seed=3), 10)) == [] and detector.cuts == []


def test_shared_clips_have_no_cuts():
    """Neither demo clip has a cut (each is one continuous shot: a panning broadcast, a fixed camera)."""
    for name in ("nba_broadcast_480p.mp4", "court_3players_720p.mp4"):
        frames = read_frames(shared_asset(f"demo_videos/{name}"))
        assert run(CutDetector(30.0), frames) == [], name
