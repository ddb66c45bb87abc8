"""--export-clips: the recognised windows as SpaceJam-layout training clips, read back by the training reader."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main as cli_main
from pipeline.clip_export import CLIP_HW, ClipExporter, labels_dict, video_prefix
from pipeline.label_page import LabelStore
from recognizer.clips import ClipDataset, read_clip
from recognizer.data import read_dataset
from recognizer.labels import SPACEJAM_LABELS
from recognizer.checkpoint import ClipConfig
from tests.synth import PALETTE, PLAYER_SIZE, GroundTruthDetector
from tests.webpages import N_FRAMES, annotate, synthetic_game
from tracker.common.errors import OutputError


def records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "clips.jsonl").read_text().splitlines()]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    return synthetic_game(tmp_path_factory.mktemp("game"))


@pytest.fixture(scope="module")
def exported(game, tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "clips"
    report = annotate(game, json=root.parent / "game.json", clips=ClipExporter(root))
    return root, report


def test_clips_are_spacejam_layout_the_training_reader_takes_unchanged(exported):
    root, report = exported
    clips = read_dataset(root)  # what bball-train --data DIR does first
    assert clips.layout == "spacejam" and clips.labels == SPACEJAM_LABELS
    assert json.loads((root / "labels_dict.json").read_text()) == labels_dict(["run", "walk", "no_action"])
    lines = records(root)
    assert len(clips.items) == len(lines) == report.summary["clips_exported"] > 0
    assert clips.missing == clips.dropped == 0
    x, label, problem = ClipDataset(clips.items[:1], ClipConfig(frames=16, size=[176, 128]))[0]
    assert tuple(x.shape) == (3, 16, 176, 128) and label == clips.items[0].label and problem == ""
    for item in clips.items[:3]:
        frames = read_clip(item.path)
        assert frames.shape == (16, *CLIP_HW, 3)  # 16 frames, 176 high x 128 wide


def test_every_recognised_window_is_exported_with_its_prediction(exported):
    root, report = exported
    lines = records(root)
    annotations = json.loads((root / "annotation_dict.json").read_text())
    assert report.summary["windows"] == len(lines)  # --export-every 1: all windows
    by_track = Counter(r["track"] for r in lines)
    assert sorted(by_track) == sorted(p.track_id for p in report.players)
    for r in lines:
        assert annotations[r["id"]] == r["label"] == SPACEJAM_LABELS.index(r["action"])
        assert 0 < r["confidence"] <= 1 and r["recognizer"] == report.recognizer["name"]
        assert len(r["frames"]) == 16 == len(r["boxes"]) and r["frames"] == sorted(r["frames"])
        assert r["id"].startswith(video_prefix(report.video.path) + f"-{r['track']:04d}-{r['frames'][0]:06d}")
    # the kinematic recogniser: the runner (3 body heights/s) runs, the one standing still does not move
    runner = next(p.track_id for p in report.players if np.ptp(p.boxes.view()[:, 0]) > 100)
    actions = {t: Counter(r["action"] for r in lines if r["track"] == t) for t in by_track}
    assert actions[runner].most_common(1)[0][0] == "run"
    assert {a for t, c in actions.items() if t != runner for a in c} == {"no_action"}


def test_crops_are_centred_on_the_player(exported, game):
    """The crop's centre shows the player's body colour, and the player's height fills the crop's
    height less the recogniser's 25 % margin: the box, the margin and the cropping are right."""
    root, _ = exported
    for r in records(root):
        frames = read_clip(root / "examples" / f"{r['id']}.mp4")  # RGB
        f = r["frames"][8]
        obj = game.ids[f][np.argmin(np.abs(game.boxes[f][:, :2] - r["boxes"][8][:2]).sum(axis=1))]
        colour = np.array(PALETTE[obj][::-1], float)
        np.testing.assert_allclose(frames[8, 80:96, 56:72].reshape(-1, 3).mean(axis=0), colour, atol=25)
        jersey = np.abs(frames[8].astype(float) - colour).max(axis=-1) < 40
        rows, cols = np.flatnonzero(jersey[:, 62:66].any(axis=1)), np.flatnonzero(jersey[86:90].any(axis=0))
        w, h = PLAYER_SIZE  # drawn as head h//5, jersey, shorts h//4 (tests/synth.py)
        x1, y1, x2, y2 = r["boxes"][8]  # the tracked box: the box plus the 25 % margin fills the crop's height
        scale = CLIP_HW[0] / (1.25 * (y2 - y1))
        assert rows[-1] - rows[0] + 1 == pytest.approx((h - h // 5 - h // 4) * scale, abs=6)
        assert cols[-1] - cols[0] + 1 == pytest.approx(w * scale, abs=6)


def test_a_second_game_adds_clips_and_keeps_the_first_games_labels(exported, tmp_path):
    first, _ = exported
    root = tmp_path / "clips"
    shutil.copytree(first, root)
    old = records(root)
    LabelStore(root).set_label(old[0]["id"], 3)  # a reviewer's change before the next export
    other = synthetic_game(tmp_path, "other.mp4", seed=1, runner_y=100.0)
    report = annotate(other, clips=ClipExporter(root, every=2))
    lines = records(root)
    ids = [r["id"] for r in lines]
    assert len(ids) == len(set(ids)) == len(old) + report.summary["clips_exported"]
    annotations = json.loads((root / "annotation_dict.json").read_text())
    assert annotations[old[0]["id"]] == 3 and len(annotations) == len(ids)
    assert {p.stem for p in (root / "examples").glob("*.mp4")} == set(ids)
    # --export-every 2: every other window of each track, starting with the first
    new = [r for r in lines if r["video"] == str(other.path.resolve())]
    assert report.summary["clips_exported"] == len(new) == sum((n + 1) // 2 for n in Counter(
        r["track"] for r in old).values())  # the same two players, the same windows per track
    assert len(read_dataset(root).items) == len(ids)


def test_the_same_video_again_is_refused_unless_overwrite(exported, game, tmp_path):
    first, _ = exported
    root = tmp_path / "clips"
    shutil.copytree(first, root)
    before = snapshot(root)
    with pytest.raises(OutputError, match="already here; pass --overwrite"):
        annotate(game, clips=ClipExporter(root))
    assert snapshot(root) == before
    annotate(game, clips=ClipExporter(root, every=3, overwrite=True))
    lines = records(root)
    assert len(lines) < len(before) and len({r["id"] for r in lines}) == len(lines)
    assert {p.stem for p in (root / "examples").glob("*.mp4")} == {r["id"] for r in lines}


def test_a_failed_run_leaves_the_folder_as_it_was(exported, game, tmp_path):
    first, _ = exported
    root = tmp_path / "clips"
    shutil.copytree(first, root)
    before = snapshot(root)
    other = synthetic_game(tmp_path, "other.mp4", seed=2)

    class Crashes(GroundTruthDetector):
        calls = 0

        def __call__(self, frames):
            self.calls += 1
            if self.calls == 5:  # after the first windows were exported
                raise RuntimeError("detector crashed")
            return super().__call__(frames)

    from pipeline.core import Pipeline

    pipeline = Pipeline(Crashes(other), tracker="sort", all_people=True, teams=False, ball=False, batch_size=8,
                        clip_export=ClipExporter(root))
    with pytest.raises(RuntimeError, match="detector crashed"):
        pipeline.run(other.path)
    assert snapshot(root) == before  # no clip, no temp file, no JSON change
    fresh = tmp_path / "fresh" / "clips"
    with pytest.raises(RuntimeError):
        Pipeline(Crashes(other), tracker="sort", all_people=True, teams=False, ball=False, batch_size=8,
                 clip_export=ClipExporter(fresh)).run(other.path)
    assert not fresh.exists()  # the folder the run would have made is gone again


def test_cli_options_fail_early_with_one_line(game, tmp_path, capsys):
    args = [str(game.path), "-o", str(tmp_path / "o.mp4"), "--weights", "yolov8n.yaml", "--no-progress"]
    assert cli_main([*args, "--export-every", "2"]) == 2
    assert "--export-every needs --export-clips" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli_main([*args, "--export-clips", str(tmp_path / "file")]) == 5
    err = capsys.readouterr().err.strip()
    assert err.startswith("bball-annotate: error:") and "needs a folder" in err and "\n" not in err
    assert cli_main([*args, "--export-clips", str(tmp_path / "c"), "--export-every", "0"]) == 2
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "c").exists()


def test_windows_reach_the_last_frame(exported):
    root, _ = exported
    assert max(f for r in records(root) for f in r["frames"]) == N_FRAMES - 1


def test_cpu_crops_match_the_recognisers_roi_align_crops():
    """crop_clip (one uint8 warp per frame) gives the recogniser's crop_windows pixels to a grey level."""
    import cv2
    import torch

    from pipeline.clip_export import crop_clip
    from recognizer.base import FrameBuffer
    from recognizer.crops import crop_windows
    from tracker.tracking.tubes import ClipWindow

    rng = np.random.default_rng(0)
    frames = FrameBuffer(25.0)
    for i in range(20):
        frames.add(i, cv2.GaussianBlur((rng.random((120, 200, 3)) * 255).astype(np.uint8), (0, 0), 2))
    boxes = np.float32([[40, 30, 62, 80], [100, 20, 150, 110], [120, 50, 131, 70]])
    windows = [ClipWindow(k, np.arange(k, k + 16), np.tile(b, (16, 1)) + np.float32([k, 0, k, 0]))
               for k, b in enumerate(boxes)]
    ref = crop_windows(windows, frames.tensor, CLIP_HW, 0.25).round().clamp(0, 255).to(torch.uint8)
    ref = ref.permute(0, 2, 3, 4, 1).numpy()
    ours = np.stack([crop_clip(w, frames.image, CLIP_HW, 0.25) for w in windows])
    assert ours.shape == ref.shape == (3, 16, *CLIP_HW, 3)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 2


@pytest.mark.slow
def test_the_own_data_loop_on_real_footage(nba_clip, tflite_weights, tmp_path):
    """docs/training.md "Make your own data", end to end: annotate the shared broadcast clip with
    --export-clips, review (discard the least confident tenth, accept the rest), bball-train a tiny
    model on the folder unchanged, then annotate with the new checkpoint."""
    from pipeline.core import Pipeline
    from recognizer.r2plus1d import R2Plus1DRecognizer
    from tracker.common.weights import file_sha256
    from recognizer.train import main as train_main

    data = tmp_path / "mydata"
    rc = cli_main([str(nba_clip), "-o", str(tmp_path / "nba.mp4"), "--weights", str(tflite_weights),
                   "--no-progress", "--export-clips", str(data), "--export-every", "2", "--html"])
    assert rc == 0 and (tmp_path / "nba.html").is_file()
    store = LabelStore(data)
    clips = store.state()["clips"]
    assert len(clips) >= 30
    for i, c in enumerate(clips):
        store.set_label(c["id"], 10 if i < len(clips) // 10 else c["label"])
    out = tmp_path / "run"
    assert train_main([
        "--data", str(data), "--out", str(out), "--arch", "r2plus1d_tiny", "--init", "none", "--frames", "8",
        "--size", "44", "32", "--epochs", "2", "--batch-size", "8", "--workers", "0", "--device", "cpu",
        "--threads", "1", "--group-pattern", r"^(.*-\d{4})-\d{6}$", "--val-fraction", "0.2", "--no-test",
    ]) == 0
    best = out / "best.pt"
    recognizer = R2Plus1DRecognizer(best, device="cpu")
    assert recognizer.labels == SPACEJAM_LABELS
    game = synthetic_game(tmp_path)
    report = Pipeline(GroundTruthDetector(game), tracker="sort", all_people=True, teams=False, ball=False,
                      recognizer=recognizer).run(game.path, output=tmp_path / "again.mp4")
    assert report.recognizer["checkpoint_sha256"] == file_sha256(best)
    assert report.players and all(s.action in SPACEJAM_LABELS for p in report.players for s in p.segments)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_frames_export_the_same_clips(game, tmp_path):
    """Frames on the GPU are cropped by the recogniser's roi_align path: the same clips as on the CPU."""
    from pipeline.core import Pipeline

    clips = {}
    for device in ("cpu", "cuda"):
        root = tmp_path / device
        Pipeline(GroundTruthDetector(game), tracker="sort", all_people=True, teams=False, ball=False,
                 device=device, clip_export=ClipExporter(root)).run(game.path)
        clips[device] = {r["id"]: read_clip(root / "examples" / f"{r['id']}.mp4") for r in records(root)}
    assert clips["cpu"].keys() == clips["cuda"].keys()
    for key, frames in clips["cpu"].items():
        assert np.abs(frames.astype(int) - clips["cuda"][key].astype(int)).mean() < 1.5
