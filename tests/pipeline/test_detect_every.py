"""``--detect-every N`` through the whole pipeline: the detector sees only the key frames, the frames
between get predicted boxes, and detections, tracks, tubes, labels and the JSON stay one consistent stream."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from supervision.detection.utils.iou_and_nms import box_iou_batch

from pipeline.cli import main
from pipeline.core import Pipeline
from tests.pipeline.test_end_to_end import SCHEMA
from tests.synth import GroundTruthDetector, linear_path, make_video, player, standing_path
from tracker.tracking.keyframes import is_key_frame

N, FPS = 45, 30.0


class KeyFrameTruth(GroundTruthDetector):
    """The ground-truth stand-in called on key frames only: it hands out frames 0, N, 2N ... and
    notes which frames it was asked for."""

    def __init__(self, truth, every: int) -> None:
        super().__init__(truth)
        self.every, self.seen = every, []

    def __call__(self, frames):
        out = []
        for image in frames:
            self.seen.append(self._next)
            out.extend(super().__call__([image]))
            self._next += self.every - 1
        return out


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    objects = [player(0, linear_path(N, FPS, (50, 120), (90, 0))),
               player(1, linear_path(N, FPS, (200, 60), (-30, 40))),
               player(2, standing_path(N, (260, 170)))]
    return make_video(tmp_path_factory.mktemp("every") / "game.mp4", size=(320, 240), n_frames=N, fps=FPS,
                      objects=objects, pan_px_per_frame=(1.5, 0.0))


def _run(truth, every: int, out_dir, tracker: str = "bytetrack"):
    detector = KeyFrameTruth(truth, every)
    pipeline = Pipeline(detector, tracker=tracker, all_people=True, teams=False, ball=False, batch_size=4,
                        detect_every=every)
    report = pipeline.run(truth.path, output=out_dir / f"out{every}.mp4", json=out_dir / f"out{every}.json")
    return detector, report, json.loads((out_dir / f"out{every}.json").read_text())


@pytest.mark.parametrize("tracker", ["bytetrack", "sort"])
def test_detect_every_3_keeps_ids_and_flags_the_predicted_boxes(game, tmp_path, tracker):
    detector, report, doc = _run(game, 3, tmp_path, tracker)
    assert detector.seen == [t for t in range(N) if is_key_frame(t, 3)]  # the detector ran on key frames only
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["detector"]["detect_every"] == 3 and report.frames == N
    assert len(doc["players"]) == 3  # one ID per player, as with every-frame detection
    for p in doc["players"]:
        frames = [row[0] for row in p["boxes"]]
        assert p["predicted_frames"] == [f for f in frames if not is_key_frame(f, 3)]
        assert len(frames) >= N - 3  # tracked (and labelled) on nearly every frame, predicted ones included
        for f, *box in p["boxes"]:
            iou = box_iou_batch(np.array([box]), game.boxes[f]).max()
            assert iou > (0.55 if f in p["predicted_frames"] else 0.95)


def test_detect_every_1_predicts_nothing(game, tmp_path):
    detector, report, doc = _run(game, 1, tmp_path)
    assert detector.seen == list(range(N))
    assert all(p["predicted_frames"] == [] for p in doc["players"]) and len(doc["players"]) == 3


def test_bad_detect_every_is_a_usage_error(game, tmp_path, capsys):
    with pytest.raises(ValueError):
        Pipeline(KeyFrameTruth(game, 1), detect_every=0)
    code = main([str(game.path), "-o", str(tmp_path / "o.mp4"), "--detect-every", "0", "--weights", "yolov8n.yaml"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--detect-every" in err[0]


def test_detect_every_with_court_teams_and_ball_on(game, tmp_path):
    """Default who-is-playing flags: the ball finder and the recogniser reuse the predictor's camera motion."""
    detector = KeyFrameTruth(game, 3)
    pipeline = Pipeline(detector, batch_size=4, detect_every=3)  # court filter, teams, ball on
    report = pipeline.run(game.path, json=tmp_path / "o.json")
    doc = json.loads((tmp_path / "o.json").read_text())
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert report.frames == N and detector.seen == [t for t in range(N) if is_key_frame(t, 3)]
    assert doc["players"]  # the synthetic floor keeps them
    for p in doc["players"]:
        assert set(p["predicted_frames"]) == {row[0] for row in p["boxes"] if not is_key_frame(row[0], 3)}
