"""bball-train / bball-eval end to end on a synthetic motion task, and the pipeline loading the result.

The task: a bright disc that stands still, moves slowly (2 px/frame) or fast
(5 px/frame), bouncing off the borders,, in 16-frame 32x32 mp4s written in the
SpaceJam layout. Telling slow from still needs motion, not appearance. A tiny
R(2+1)D at 16x16, 8 frames, learns it on CPU in a few epochs; the held-out test
split must be well above chance (1/3).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recognizer.base import FrameBuffer
from recognizer.clips import read_clip, sample_indices
from recognizer.data import original_id
from recognizer.evaluate import main as eval_main
from recognizer.checkpoint import load_checkpoint
from recognizer.r2plus1d import R2Plus1DRecognizer
from tracker.common.weights import file_sha256
from recognizer.training.init import file_state_dict, init_model, top_stages
from recognizer.training.schedule import set_trainable
from recognizer.train import main as train_main
from tests.conftest import REPO
from tests.recognizer.spacejam_layout import write_spacejam
from tracker.common.errors import WeightsError
from tracker.tracking.tubes import ClipWindow

LABELS = ["still", "slow", "fast"]
SPEEDS = [0.0, 2.0, 5.0]  # px per frame in the 32x32 source
SIZE = 32
TRAIN_ARGS = [
    "--arch", "r2plus1d_tiny", "--init", "none", "--frames", "8", "--size", "16", "16", "--margin", "0",
    "--batch-size", "8", "--lr", "2e-3", "--warmup-epochs", "0.3", "--val-fraction", "0.15",
    "--test-fraction", "0.2", "--recalibrate-bn", "4", "--workers", "0", "--device", "cpu", "--threads", "1",
]  # fmt: skip


def blob_clip(speed: float, rng: np.random.Generator, n: int = 16, r: float = 8.0) -> np.ndarray:
    """``(n, SIZE, SIZE, 3)`` uint8 RGB: a disc moving at ``speed`` px/frame, mostly horizontally, bouncing."""
    angle = rng.choice([0.0, np.pi]) + rng.uniform(-0.4, 0.4)
    step = speed * np.array([np.cos(angle), np.sin(angle)])
    lo, span = r, SIZE - 1 - 2 * r
    start = rng.uniform(0, span, 2)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    colour, background = rng.uniform(200, 255, 3), rng.uniform(10, 50, 3)
    frames = []
    for t in range(n):
        x, y = lo + np.abs((start + step * t + span) % (2 * span) - span)  # reflect into [lo, lo + span]
        disc = np.clip(r + 0.5 - np.hypot(xx - x, yy - y), 0, 1)[..., None]
        image = background * (1 - disc) + colour * disc + rng.normal(0, 3, (SIZE, SIZE, 3))
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """SpaceJam layout: 50 clips per class, 10 of them with a ``_flipped`` copy, plus one ``discard`` clip."""
    rng = np.random.default_rng(0)
    clips = {}
    for i in range(150):
        label, key = i % 3, f"{i:07d}"
        clips[key] = (blob_clip(SPEEDS[label], rng), label)
        if i < 30:
            clips[f"{key}_flipped"] = (clips[key][0][:, :, ::-1], label)
    clips["0009999"] = (blob_clip(3.0, rng), 10)
    return write_spacejam(tmp_path_factory.mktemp("motion"), clips, LABELS)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory) -> dict:
    """Train 2 epochs, then resume the same run to 5 (as after an interruption)."""
    out = tmp_path_factory.mktemp("run")
    assert train_main(["--data", str(dataset), "--out", str(out), "--epochs", "2", "--no-test", *TRAIN_ARGS]) == 0
    first = list(csv.DictReader((out / "history.csv").open()))
    resume = ["--resume", str(out / "last.pt"), "--epochs", "5", "--workers", "0", "--device", "cpu", "--threads", "1"]
    assert train_main(["--data", str(dataset), *resume]) == 0
    return {"out": out, "first_history": first}


def test_tiny_model_learns_motion_well_above_chance(run):
    out = run["out"]
    test = json.loads((out / "test" / "metrics.json").read_text())
    assert test["labels"] == LABELS and test["n"] >= 30
    assert test["accuracy"] >= 0.7 and test["macro_f1"] >= 0.6, test["confusion_matrix"]
    assert np.array(test["confusion_matrix"]).sum() == test["n"]
    assert (out / "test" / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert test["sha256"] == file_sha256(out / "best.pt")  # as bball-eval writes it
    assert test["macro_f1_classes"] == LABELS


def test_run_folder_history_resume_and_checkpoints(run, dataset):
    out = run["out"]
    history = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4, 5]
    assert history[:2] == run["first_history"]  # resuming continued the run, it did not restart it
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])
    for name in ("best.pt", "last.pt"):
        digest = (out / f"{name}.sha256").read_text().split()[0]
        assert digest == file_sha256(out / name)
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert last["train_state"]["epoch"] == 4 and last["train_state"]["config"]["epochs"] == 5
    best = load_checkpoint(out / "best.pt")
    f1s = [float(r["val_macro_f1"]) for r in history]
    assert best.metrics["val_macro_f1"] == pytest.approx(max(f1s))
    assert best.labels == LABELS and best.clip.frames == 8 and best.clip.size == [16, 16] and best.clip.margin == 0

    split = json.loads((out / "split.json").read_text())
    groups = {name: {original_id(k) for k in split[name]} for name in ("train", "val", "test")}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    keys = split["train"] + split["val"] + split["test"]
    assert len(keys) == 180 and "0009999" not in keys  # discard dropped, every other clip used once


def test_bball_eval_reports_the_same_numbers(run, dataset, tmp_path, capsys):
    out = run["out"]
    rc = eval_main([
        str(out / "best.pt"), "--data", str(dataset), "--split", str(out / "split.json"), "--subset", "test",
        "--out", str(tmp_path / "ev"), "--workers", "0", "--device", "cpu",
    ])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in LABELS)
    assert "macro-F1 over the 3 classes with clips (still, slow, fast)" in printed
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    train_test = json.loads((out / "test" / "metrics.json").read_text())
    assert metrics["confusion_matrix"] == train_test["confusion_matrix"]
    for key in ("n", "accuracy", "macro_f1"):
        assert metrics[key] == pytest.approx(train_test[key])
    assert metrics["sha256"] == file_sha256(out / "best.pt")
    cm = np.array(metrics["confusion_matrix"])
    recall = [metrics["per_class"][name]["recall"] for name in LABELS]
    assert recall == pytest.approx(np.diag(cm) / cm.sum(axis=1))
    assert (tmp_path / "ev" / "confusion_matrix.png").stat().st_size > 1000


def test_checkpoint_classifies_windows_in_the_pipeline_recogniser(run, dataset):
    out = run["out"]
    split = json.loads((out / "split.json").read_text())
    annotations = json.loads((dataset / "annotation_dict.json").read_text())
    recognizer = R2Plus1DRecognizer(out / "best.pt", device="cpu", batch_size=8)
    assert recognizer.labels == LABELS and recognizer.checkpoint_sha256 == file_sha256(out / "best.pt")

    frames = FrameBuffer(fps=10.0)
    windows, truth = [], []
    for ci, key in enumerate(split["test"]):
        rgb = read_clip(dataset / "examples" / f"{key}.mp4")
        for t, image in enumerate(rgb):
            frames.add(ci * 100 + t, np.ascontiguousarray(image[..., ::-1]))  # the buffer holds BGR
        idx = ci * 100 + sample_indices(len(rgb), recognizer.clip.frames)
        boxes = np.tile(np.array([[0, 0, SIZE, SIZE]], np.float32), (len(idx), 1))  # the whole frame
        windows.append(ClipWindow(track_id=ci, frame_indices=idx, boxes=boxes))
        truth.append(annotations[key])
    preds = recognizer.predict(windows, frames)
    probs = np.stack([p.probs for p in preds])
    assert probs.shape == (len(windows), 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert [p.track_id for p in preds] == list(range(len(windows)))
    accuracy = float((probs.argmax(1) == np.array(truth)).mean())
    assert accuracy >= 0.65


def test_init_from_checkpoint_reheads_and_keeps_the_backbone(run):
    best = run["out"] / "best.pt"
    model, reheaded = init_model("r2plus1d_tiny", 5, str(best))
    assert reheaded == ["fc.bias", "fc.weight"] and model.fc.out_features == 5
    state = load_checkpoint(best).model.state_dict()
    assert torch.equal(model.state_dict()["layer4.0.conv2.0.0.weight"], state["layer4.0.conv2.0.0.weight"])
    with pytest.raises(WeightsError, match="--arch r2plus1d_tiny"):
        file_state_dict(best, "r2plus1d_18")


def test_progressive_unfreezing_trains_the_head_first():
    model, _ = init_model("r2plus1d_tiny", 3, "none")
    stages = top_stages(model)
    assert stages == ["stem", "layer1", "layer2", "layer3", "layer4", "fc"]
    model.train()
    assert set_trainable(model, epoch=0, unfreeze_every=2) == 1
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    assert not model.layer4.training and model.fc.training  # frozen BatchNorm keeps its statistics
    model.train()
    assert set_trainable(model, epoch=3, unfreeze_every=2) == 2
    assert model.layer4[0].conv1[0][0].weight.requires_grad and not model.layer3[0].conv1[0][0].weight.requires_grad
    model.train()
    assert set_trainable(model, epoch=0, unfreeze_every=0) == len(stages)
    assert all(p.requires_grad for p in model.parameters())


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)
    return err[-1]


def test_user_errors_are_one_line_with_exit_codes(run, dataset, tmp_path, capsys, monkeypatch):
    out = run["out"]
    rc = train_main(["--data", str(dataset), "--out", str(out), *TRAIN_ARGS])
    assert rc == 5 and _error_line(capsys) == f"bball-train: error: {out}: already holds a run (best.pt / last.pt); use --resume OUT/last.pt or --overwrite"
    assert train_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o1"), *TRAIN_ARGS]) == 3
    assert _error_line(capsys).startswith(f"bball-train: error: {tmp_path / 'missing'}: dataset folder not found")
    assert eval_main([str(tmp_path / "none.pt"), "--data", str(dataset)]) == 4
    assert _error_line(capsys).startswith(f"bball-eval: error: {tmp_path / 'none.pt'}: action model not found")
    args = [a for a in TRAIN_ARGS]
    args[args.index("--init") + 1] = "kinetics"
    assert train_main(["--data", str(dataset), "--out", str(tmp_path / "o2"), *args]) == 2
    assert "r2plus1d_tiny has no Kinetics-400 weights" in _error_line(capsys)

    # Kinetics weights that cannot be had (offline, or a corrupt download) -> WeightsError, exit 4
    from torchvision.models.video import R2Plus1D_18_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(R2Plus1D_18_Weights.KINETICS400_V1.url).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated download")
    args[args.index("--arch") + 1] = "r2plus1d_18"
    assert train_main(["--data", str(dataset), "--out", str(tmp_path / "o3"), *args]) == 4
    line = _error_line(capsys)
    assert line.startswith(f"bball-train: error: {R2Plus1D_18_Weights.KINETICS400_V1.url}: could not download Kinetics")
    assert "use --init none or --init PATH" in line
    assert not (tmp_path / "o3" / "best.pt").exists()


def test_module_help_runs_as_a_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "recognizer.train", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "--data" in proc.stdout and "--resume" in proc.stdout
    assert "bball-train" in proc.stdout
