"""Correctness guard for the GPU fast path, run on the CPU with the same code.

Fast path: detector letterbox/forward/NMS on tensors from the frame buffer, clip crops
with ``roi_align`` for all windows at once, batched R(2+1)D. Simple path: ultralytics'
``predict`` on numpy frames, OpenCV crops and one model call per window. They must
give the same tracks (IDs), boxes within 1 px and the same labels on >= 99% of
player-frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from ultralytics import YOLO

from pipeline.core import Pipeline
from recognizer.base import FrameBuffer
from recognizer.crops import crop_window_reference, crop_windows
from recognizer.checkpoint import ClipConfig, save_checkpoint
from recognizer.models import build_model
from recognizer.r2plus1d import R2Plus1DRecognizer
from tests.synth import crossing_paths, linear_path, make_video, player, read_frames, standing_path
from tracker.tracking.detector import Detector
from tracker.tracking.tubes import ClipWindow


def random_person_yolo(path):
    """A YOLOv8n with seeded random weights whose person scores depend on the image.

    ultralytics' own random init gives every anchor the same score (the features
    vanish), which makes NMS a tie-break; re-initialising the convolutions
    (Kaiming) and amplifying the person logit gives image-dependent scores, so
    the two paths have something real to agree on. Other classes are switched off.
    """
    torch.manual_seed(0)
    yolo = YOLO("yolov8n.yaml")
    head = yolo.model.model[-1]
    box_branch = {id(m) for m in head.cv2.modules()}
    for m in yolo.model.modules():
        if isinstance(m, torch.nn.Conv2d) and id(m) not in box_branch:
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    for seq in head.cv3:
        last = seq[-1]
        last.weight.data *= 300
        last.weight.data[1:] = 0
        last.bias.data[:] = -20
        last.bias.data[0] = 0
    yolo.save(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    save_checkpoint(folder / "tiny.pt", build_model("r2plus1d_tiny", 4), "r2plus1d_tiny", ["a", "b", "c", "d"],
                    ClipConfig(size=[32, 32]))
    return random_person_yolo(folder / "random_yolov8n.pt"), folder / "tiny.pt"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    n, fps = 40, 25.0
    a, b = crossing_paths(n, fps, size=(320, 240))
    objects = [player(0, a), player(1, b), player(2, standing_path(n, (60, 170))),
               player(3, linear_path(n, fps, (250, 60), (-40, 10)))]
    return make_video(tmp_path_factory.mktemp("video") / "game.mp4", n_frames=n, fps=fps, objects=objects).path


def _per_frame(report):
    """{(player, frame): (box, label)} from a run report."""
    out = {}
    for p in report.players:
        labels = {f: s.action for s in p.segments for f in range(s.start_frame, s.end_frame + 1)}
        for frame, *box in p.box_rows():
            out[(p.track_id, frame)] = (np.array(box), labels[frame])
    return out


def test_fast_and_simple_paths_agree(models, video):
    yolo_pt, action_pt = models
    simple = Pipeline(Detector(yolo_pt, conf=0.999, imgsz=320, device="cpu", engine="ultralytics"), tracker="sort",
                      recognizer=R2Plus1DRecognizer(action_pt, batched=False))
    fast = Pipeline(Detector(yolo_pt, conf=0.999, imgsz=320, device="cpu", engine="tensor"), tracker="sort",
                    recognizer=R2Plus1DRecognizer(action_pt, batched=True, batch_size=64))
    a, b = _per_frame(simple.run(video)), _per_frame(fast.run(video))
    assert len(a) > 60, "the random detector should find boxes to track"
    assert a.keys() == b.keys()  # same players (IDs) on the same frames
    box_diff = max(np.abs(a[k][0] - b[k][0]).max() for k in a)
    assert box_diff <= 1.0
    agree = np.mean([a[k][1] == b[k][1] for k in a])
    assert agree >= 0.99


def test_batched_roi_align_crops_equal_the_opencv_reference():
    frames = read_frames_small()
    buf = FrameBuffer(25.0)
    for i, f in enumerate(frames):
        buf.add(i, f)
    h, w = frames[0].shape[:2]
    windows = []
    rng = np.random.default_rng(3)
    for k in range(6):  # inside, across each edge, and larger than the frame
        x, y = rng.uniform(-30, w), rng.uniform(-40, h)
        bw, bh = rng.uniform(10, 60), rng.uniform(30, 300)
        windows.append(ClipWindow(k, np.arange(8), np.array([[x + t, y, x + t + bw, y + bh] for t in range(8)],
                                                            np.float32)))
    # wholly off the frame (right of it, then below it): black crops
    windows.append(ClipWindow(6, np.arange(8), np.tile(np.float32([w + 20, 10, w + 50, 60]), (8, 1))))
    windows.append(ClipWindow(7, np.arange(8), np.tile(np.float32([10, h + 40, 30, h + 90]), (8, 1))))
    for out_hw in [(32, 32), (128, 176)]:
        fast = crop_windows(windows, buf.tensor, out_hw, 0.25).numpy()
        ref = np.stack([crop_window_reference(win, buf.image, out_hw, 0.25) for win in windows])
        np.testing.assert_allclose(fast, ref, atol=0.05)
        off = crop_windows(windows[6:], buf.tensor, out_hw, 0.25).numpy()  # only boxes off the frame
        np.testing.assert_allclose(off, ref[6:], atol=0.05)


def read_frames_small():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)
    return [np.roll(base, t, axis=1) for t in range(8)]


def test_tensor_detector_matches_ultralytics_predict(models, video):
    """Same boxes and scores; a box may be missing on one side only when its score is at the threshold
    (OpenCV's fixed-point resize vs exact bilinear differ by < 1 grey level)."""
    yolo_pt, _ = models
    conf = 0.99
    frames = read_frames(video)[:6] + [np.ascontiguousarray(f[:233, :301]) for f in read_frames(video)[:2]]
    matched = 0
    for imgsz in (320, 256):
        slow = Detector(yolo_pt, conf=conf, imgsz=imgsz, device="cpu", engine="ultralytics")
        fast = Detector(yolo_pt, conf=conf, imgsz=imgsz, device="cpu", engine="tensor")
        for group in (frames[:6], frames[6:]):  # one frame size per batch
            for x, y in zip(slow(group), fast(group)):
                cost = np.abs(x.xyxy[:, None, :] - y.xyxy[None, :, :]).sum(axis=2)
                rows, cols = linear_sum_assignment(np.where(cost < 1.0, cost, 1e6))
                ok = cost[rows, cols] < 1.0
                rows, cols = rows[ok], cols[ok]
                np.testing.assert_allclose(x.confidence[rows], y.confidence[cols], atol=2e-3)
                for dets, used in ((x, rows), (y, cols)):
                    unmatched = np.setdiff1d(np.arange(len(dets)), used)
                    assert np.all(np.abs(dets.confidence[unmatched] - conf) < 5e-3), dets.confidence[unmatched]
                matched += len(rows)
    assert matched > 100
