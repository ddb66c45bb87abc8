"""Weights trained on other classes than COCO's: a basketball model's classes are read by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.synth import make_video, player, standing_path
from tracker.common.coco import PERSON, SPORTS_BALL, model_classes
from tracker.common.errors import WeightsError
from tracker.tracking.detector import Detector


def _weights(path: Path, names: dict[int, str]) -> Path:
    """A YOLOv8n (random weights, seeded) whose classes are ``names``, saved as a .pt as training would."""
    import torch
    import ultralytics
    from ultralytics import YOLO

    torch.manual_seed(0)

    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    cfg.update(nc=len(names), scale="n")
    spec = path.parent / "yolov8n.yaml"  # ultralytics reads the scale from the name too
    spec.write_text(yaml.safe_dump(cfg))
    model = YOLO(str(spec))
    # random class weights (seeded) so that every class but the first wins somewhere; the first never does
    head = model.model.model[-1]
    with torch.no_grad():
        for branch in head.cv3:
            last = branch[-1]
            torch.nn.init.normal_(last.weight, std=0.5)
            last.bias.zero_()
            last.bias[0] = -20.0
    model.model.names = dict(names)
    model.save(path)
    return path


def test_class_names_map_to_person_and_ball():
    coco = {i: str(i) for i in range(80)}
    assert model_classes(coco) == ([PERSON], [SPORTS_BALL])  # numbers only, 80 classes: COCO numbering
    assert model_classes({0: "Ball", 1: "Player", 2: "rim", 3: "Referee"}) == ([1, 3], [0])
    assert model_classes({0: "basketball", 1: "people", 2: "sports_ball"}) == ([1], [0, 2])
    assert model_classes({0: "rim", 1: "ball"}) is None
    assert model_classes({i: str(i) for i in range(3)}) is None  # numbers, not COCO's 80: unknown


def test_a_basketball_models_classes_come_out_as_person_and_ball(tmp_path):
    """Rows of the model's 'ball' class come out as SPORTS_BALL, 'player' as PERSON, 'rim' not at all:
    the same rows as the model's own prediction, renumbered."""
    from ultralytics import YOLO

    weights = _weights(tmp_path / "basketball.pt", {0: "rim", 1: "ball", 2: "player"})
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    for ball, classes in ((True, [2, 1]), (False, [2])):
        # the model's own prediction over the same classes (random weights: which rows come out is the model's)
        raw = YOLO(str(weights)).predict(frame, conf=0.0, iou=0.45, imgsz=64, classes=classes, verbose=False)[0].boxes
        dets = Detector(weights, conf=0.0, ball=ball, ball_conf=0.0, imgsz=64, device="cpu")([frame])[0]
        assert len(dets) == len(raw) and set(raw.cls.numpy().astype(int)) == set(classes)
        assert np.allclose(dets.xyxy, raw.xyxy.numpy())
        expected = np.where(raw.cls.numpy().astype(int) == 1, SPORTS_BALL, PERSON)
        assert dets.class_id.tolist() == expected.tolist()  # 'ball' -> SPORTS_BALL, 'player' -> PERSON


def test_weights_without_a_person_class_are_refused_in_one_line(tmp_path):
    weights = _weights(tmp_path / "rims.pt", {0: "rim", 1: "ball"})
    with pytest.raises(WeightsError, match="no person class among the model's classes \\(rim, ball\\)"):
        Detector(weights, device="cpu")
    video = make_video(tmp_path / "game.mp4", size=(160, 96), n_frames=4, fps=10.0,
                       objects=[player(0, standing_path(4, (80, 48)))]).path
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(video), "--weights", str(weights), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no person class" in lines[0], proc.stderr
