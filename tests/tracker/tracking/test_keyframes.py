"""Detect every N frames: the boxes predicted between key frames, on synthetic encoded videos with a camera pan."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from supervision.detection.utils.iou_and_nms import box_iou_batch

from tests.synth import linear_path, make_video, player, read_frames, standing_path
from tracker.tracking.keyframes import PREDICTED, BoxPredictor, default_detect_every, is_key_frame, move_boxes

FPS = 30.0
N = 36
PAN = (2.0, 0.0)  # image px per frame


@pytest.fixture(scope="module")
def panning_game(tmp_path_factory):
    """Three players (running right, walking down, standing) under a camera pan, and the decoded frames."""
    objects = [
        player(0, linear_path(N, FPS, (60, 120), (120, 0))),  # 4 px/frame in the world
        player(1, linear_path(N, FPS, (170, 80), (0, 45))),
        player(2, standing_path(N, (250, 150))),
    ]
    truth = make_video(tmp_path_factory.mktemp("kf") / "pan.mp4", size=(320, 240), n_frames=N, fps=FPS,
                       objects=objects, pan_px_per_frame=PAN)
    return truth, read_frames(truth.path)


def _detections(truth, t: int) -> sv.Detections:
    return sv.Detections(xyxy=truth.boxes[t].astype(np.float32), confidence=np.full(len(truth.ids[t]), 0.9, np.float32),
                         class_id=np.zeros(len(truth.ids[t]), int), data={"gt_id": truth.ids[t]})


def _predicted_ious(truth, frames, every: int, since: int = 0, **options) -> np.ndarray:
    """IoU with the drawn box of every box predicted on a non-key frame from frame ``since`` on
    (best match on its frame)."""
    predictor = BoxPredictor(every, **options)
    ious = []
    for t, image in enumerate(frames):
        predictor.step(t, image)
        if predictor.is_key_frame(t):
            people = _detections(truth, t)
        else:
            people = predictor.predict(t, truth.size)
            assert people.data[PREDICTED].all() and len(people) == len(truth.ids[t])
            if t >= since:
                ious.extend(box_iou_batch(people.xyxy, truth.boxes[t]).max(axis=1).tolist())
        predictor.observe(t, people)
    return np.array(ious)


def test_key_frames_and_the_default():
    assert [t for t in range(10) if is_key_frame(t, 3)] == [0, 3, 6, 9]
    assert all(is_key_frame(t, 1) for t in range(5))
    assert default_detect_every("cuda") == 1 and default_detect_every("cuda:1") == 1
    assert default_detect_every("cpu") > 1
    with pytest.raises(ValueError):
        BoxPredictor(0)


def test_move_boxes_applies_the_affine_to_both_corners():
    shift_and_zoom = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, -5.0]])
    np.testing.assert_allclose(move_boxes(shift_and_zoom, [[10, 20, 30, 60]]), [[30, 35, 70, 115]])
    assert move_boxes(shift_and_zoom, np.zeros((0, 4))).shape == (0, 4)


def test_the_camera_motion_is_measured_on_every_frame(panning_game):
    truth, frames = panning_game
    predictor = BoxPredictor(3)
    shifts = []
    for t, image in enumerate(frames):
        shifts.append(predictor.step(t, image)[:, 2])
        predictor.observe(t, _detections(truth, t))
    np.testing.assert_allclose(np.median(shifts[1:], axis=0), PAN, atol=0.3)


@pytest.mark.parametrize("every", [2, 3, 4])
def test_predicted_boxes_follow_camera_and_players(panning_game, every):
    truth, frames = panning_game
    full = _predicted_ious(truth, frames, every)
    camera_only = _predicted_ious(truth, frames, every, velocity=False)
    assert full.mean() > 0.8
    # once two key frames gave each player a velocity, no prediction is far off
    assert _predicted_ious(truth, frames, every, since=every + 1).min() > 0.6
    assert full.mean() > camera_only.mean()  # the runner moves by himself, not only with the camera
    held = []  # the last key frame's box, not moved at all
    for t in range(N):
        if not is_key_frame(t, every):
            k = t - t % every
            held.extend(box_iou_batch(truth.boxes[k], truth.boxes[t]).max(axis=1).tolist())
    assert camera_only.mean() > np.mean(held)


def test_nothing_is_predicted_before_the_first_detection(panning_game):
    truth, frames = panning_game
    predictor = BoxPredictor(3)
    predictor.step(0, frames[0])
    predictor.observe(0, _detections(truth, 0)[np.zeros(len(truth.ids[0]), bool)])
    predictor.step(1, frames[1])
    assert len(predictor.predict(1)) == 0 and predictor.predict(1).data[PREDICTED].dtype == bool


@pytest.mark.parametrize("carry", [True, False])
def test_a_low_key_frame_score_does_not_hand_the_track_to_a_neighbour(carry):
    """Detect every 3rd frame, ByteTrack: an established player A scores low on one key frame while
    a neighbour overlapping his box scores high. ByteTrack matches the high-score box first, so
    without the carried score the neighbour takes A's track; with it, A keeps his ID."""
    from tracker.tracking.bytetrack import ByteTrackTracker

    a, b = [100.0, 50.0, 140.0, 150.0], [118.0, 52.0, 156.0, 150.0]
    scores = {0: (0.8, 0.3), 3: (0.8, 0.3), 6: (0.45, 0.55)}  # key frames: (A, neighbour)
    predictor, tracker = BoxPredictor(3, carry_confidence=carry), ByteTrackTracker(fps=FPS)
    image = np.full((240, 320, 3), 90, np.uint8)
    for t in range(7):
        predictor.step(t, image)
        if predictor.is_key_frame(t):
            people = sv.Detections(xyxy=np.array([a, b], np.float32), confidence=np.array(scores[t], np.float32),
                                   class_id=np.zeros(2, int))
            people.data[PREDICTED] = np.zeros(2, bool)
        else:
            people = predictor.predict(t)
        people = predictor.observe(t, people)
        out = tracker.update(people, image)
        on_a = [int(i) for box, i in zip(out.xyxy, out.tracker_id) if box_iou_batch(box[None], np.array([a]))[0, 0] > 0.9]
        if t == 5:
            a_id = on_a[0]
    assert (on_a == [a_id]) is carry  # without the carried score, A's ID moved onto the neighbour
