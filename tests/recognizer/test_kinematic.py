"""The kinematic recogniser on synthetic players with known speeds, with and without a camera pan."""

from __future__ import annotations

import numpy as np
import pytest

from recognizer.base import FrameBuffer
from tracker.tracking.camera_motion import CameraMotionEstimator
from recognizer.kinematic import RUN_MIN_BH_S, WALK_MIN_BH_S, KinematicRecognizer, speed_probs
from tests.synth import linear_path, make_video, player, read_frames, standing_path
from tracker.tracking.tubes import TubeBuilder

FPS = 30.0
N = 48
HEIGHT = 50  # player box height in px: 1 body height
# speeds in body heights per second -> px/s
SPEEDS = {"no_action": 0.0, "walk": 0.7, "run": 2.6}


def _scene(tmp_path, pan):
    objects = [
        player(0, standing_path(N, (60, 150))),
        player(1, linear_path(N, FPS, (100, 90), (SPEEDS["walk"] * HEIGHT, 0))),
        player(2, linear_path(N, FPS, (120, 190), (SPEEDS["run"] * HEIGHT, 0))),
    ]
    return make_video(tmp_path / "speeds.mp4", size=(480, 256), n_frames=N, fps=FPS, objects=objects,
                      pan_px_per_frame=pan)


def _labels(truth, recognizer) -> dict[int, list[str]]:
    """Feed the video's frames and ground-truth boxes through tubes and the recogniser."""
    import supervision as sv

    frames = FrameBuffer(truth.fps)
    tubes = TubeBuilder(window=16, stride=8, max_age=5)
    windows = []
    for i, image in enumerate(read_frames(truth.path)):
        dets = sv.Detections(xyxy=truth.boxes[i].astype(np.float32), tracker_id=truth.ids[i] + 1)
        frames.add(i, image, dets)
        windows += tubes.update(i, dets)
    windows += tubes.flush()
    out: dict[int, list[str]] = {}
    for w, p in zip(windows, recognizer.predict(windows, frames)):
        out.setdefault(int(w.track_id) - 1, []).append(recognizer.labels[int(np.argmax(p.probs))])
    return out


@pytest.mark.parametrize("pan", [(0.0, 0.0), (3.0, 0.5)], ids=["static", "pan"])
def test_known_speeds_give_known_labels(tmp_path, pan):
    truth = _scene(tmp_path, pan)
    labels = _labels(truth, KinematicRecognizer())
    for object_id, expected in enumerate(["no_action", "walk", "run"]):
        assert labels[object_id] and all(lab == expected for lab in labels[object_id]), (object_id, labels)


def test_without_compensation_a_pan_reads_as_motion(tmp_path):
    # 3 px/frame = 90 px/s = 1.8 body heights/s: a standing player "runs" if the pan is not removed.
    truth = _scene(tmp_path, (3.0, 0.0))
    labels = _labels(truth, KinematicRecognizer(compensate_camera=False))
    assert set(labels[0]) == {"run"}


def test_camera_motion_estimate_recovers_the_pan(tmp_path):
    truth = _scene(tmp_path, (3.0, -1.0))
    images = read_frames(truth.path)
    est = CameraMotionEstimator()
    shifts = np.array([est.estimate(images[i - 1], images[i], truth.boxes[i - 1])[:, 2] for i in range(1, 12)])
    assert np.allclose(np.median(shifts, axis=0), [3.0, -1.0], atol=0.25)


def test_speed_probs_are_distributions_ordered_by_speed():
    speeds = [0.0, 0.1, 1.1 * WALK_MIN_BH_S, 0.7, 1.1 * RUN_MIN_BH_S, 3.0, 10.0]
    probs = np.array([speed_probs(s, WALK_MIN_BH_S, RUN_MIN_BH_S) for s in speeds])
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs >= 0).all()
    assert list(np.argmax(probs, axis=1)) == [0, 0, 1, 1, 2, 2, 2]
    # confidence is lowest at a threshold and high far from it
    at_threshold = speed_probs(WALK_MIN_BH_S, WALK_MIN_BH_S, RUN_MIN_BH_S)
    assert at_threshold.max() < 0.6 and probs[-1][2] > 0.99 and probs[0][0] > 0.99
