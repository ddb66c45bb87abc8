"""Issue 12: the library stands on its own -- folder batches from Python, one device rule, typed
options with range checks, no process-wide state changed, the weights manifest shipped as package data."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from pipeline.batch import FolderOptions, run_folder
from pipeline.config import PipelineConfig
from pipeline.core import Pipeline
from pipeline.export import EXPORTERS
from recognizer.kinematic import KinematicRecognizer
from tests.conftest import REPO
from tests.pipeline.test_io import pattern_frames, write_video
from tracker.common.device import resolve_device
from tracker.common.errors import UsageError
from tracker.tracking.detector import Detector

TINY = PipelineConfig(weights="yolov8n.yaml", imgsz=64, device="cpu")


def test_a_folder_is_batched_from_python_without_the_cli(tmp_path):
    games = tmp_path / "games"
    games.mkdir()
    for name in ("a", "b"):
        write_video(games / f"{name}.mp4", pattern_frames(12, 96, 64))
    (games / "broken.mp4").write_bytes(b"not a video at all")
    seen = []
    report = run_folder(games, tmp_path / "out", TINY, FolderOptions(sides=("json",)), on_result=seen.append)
    states = {Path(r.input).name: s for s, r in report.rows}
    assert states == {"a.mp4": "done", "b.mp4": "done", "broken.mp4": "failed"}
    assert not report.ok and report.count("failed") == 1 and len(seen) == 3
    assert json.loads((tmp_path / "out" / "a.json").read_text())["video"]["frames"] == 12
    again = run_folder(games, tmp_path / "out", TINY, FolderOptions(sides=("json",)))
    assert {Path(r.input).name: s for s, r in again.rows}["a.mp4"] == "skipped"


def test_no_library_module_imports_the_cli():
    code = ("import sys, pipeline.batch, pipeline.core, pipeline.config, pipeline.export, recognizer.train, "
            "recognizer.evaluate; print([m for m in sys.modules if m == 'pipeline.cli'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_recursive_folders_mirror_their_subfolders(tmp_path):
    games = tmp_path / "games"
    (games / "week1").mkdir(parents=True)
    write_video(games / "week1" / "a.mp4", pattern_frames(8, 96, 64))
    with pytest.raises(UsageError, match="subfolders are not searched"):
        run_folder(games, tmp_path / "out", TINY)
    report = run_folder(games, tmp_path / "out", TINY, FolderOptions(recursive=True))
    assert report.ok and (tmp_path / "out" / "week1" / "a.mp4").is_file()


def test_one_device_rule():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(UsageError, match="not a device name"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU is available"):
            resolve_device("cuda")
        with pytest.raises(UsageError, match="no CUDA GPU"):
            Pipeline(Detector("yolov8n.yaml", imgsz=64, device="cpu"), device="cuda")


def test_the_pipeline_device_is_the_whole_runs():
    detector = Detector("yolov8n.yaml", imgsz=64, device="cpu")
    pipe = Pipeline(detector, device="auto")
    expected = resolve_device("auto")
    assert pipe.device == expected and detector.device == expected
    assert pipe.encoder == ("h264_nvenc" if expected.startswith("cuda") else "libx264")


@pytest.mark.parametrize("field, value, message", [
    ("conf", 2, r"conf must be in \[0, 1\], got 2"),
    ("conf", -1, r"conf must be in \[0, 1\], got -1"),
    ("iou", 5, r"iou must be in \[0, 1\], got 5"),
    ("imgsz", 0, r"imgsz must be in \[32, 4096\], got 0"),
    ("imgsz", 31, r"imgsz must be in \[32, 4096\], got 31"),
    ("imgsz", 100, r"imgsz must be a multiple of 32"),
    ("batch_size", 0, r"batch_size must be >= 1, got 0"),
    ("stride", 0, r"stride must be >= 1, got 0"),
    ("tracker", "foo", r"tracker must be one of bytetrack, sort, got 'foo'"),
    ("actions", "ml", r"actions must be one of auto, kinematic, context, got 'ml'"),
])
def test_typed_options_check_their_ranges(field, value, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**{field: value})


def test_context_actions_need_the_ball():
    with pytest.raises(ValueError, match="needs the ball"):
        PipelineConfig(actions="context", ball=False)


def test_constructors_check_ranges_too():
    with pytest.raises(ValueError, match="conf must be in"):
        Detector("yolov8n.yaml", conf=1.5)
    detector = Detector("yolov8n.yaml", imgsz=64, device="cpu")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Pipeline(detector, batch_size=0, device="cpu")


def test_loading_and_plotting_leave_process_state_alone(tmp_path, tflite_weights):
    import matplotlib

    logger = logging.getLogger("ultralytics")
    level, backend = logger.level, matplotlib.get_backend()
    detector = Detector(tflite_weights, device="cpu")
    detector([pattern_frames(1, 96, 64)[0]])
    assert logger.level == level
    report = Pipeline(Detector("yolov8n.yaml", imgsz=64, device="cpu"), device="cpu").run(
        write_video(tmp_path / "v.mp4", pattern_frames(6, 96, 64)))
    EXPORTERS["plot"](report, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0 and matplotlib.get_backend() == backend


def test_recognizer_state_does_not_outlive_a_video(tmp_path):
    recognizer = KinematicRecognizer()
    assert not [k for k, v in vars(recognizer).items() if isinstance(v, dict)], "no per-video caches on it"
    pipe = Pipeline(Detector("yolov8n.yaml", imgsz=64, device="cpu"), recognizer=recognizer, device="cpu")
    video = write_video(tmp_path / "v.mp4", pattern_frames(10, 96, 64))
    assert pipe.run(video).frames == pipe.run(video).frames == 10


def test_a_wheel_ships_the_weights_manifest(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("bball_annotate-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "weights/manifest.json" in names and "tracker/common/files.py" in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # a wheel is installed by unpacking it
    code = "from tracker.common.weights import MANIFEST; print(MANIFEST, MANIFEST.is_file())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("True") and str(target) in out.stdout
