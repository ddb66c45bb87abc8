"""The synthetic ball heatmap net (tracker.game.ball.net*): the renderer puts the ball where it says, a
net trained for a few steps on a real encoded synthetic video runs and returns a heatmap of the documented
shape (alone, saved and read back, and as BallFinder candidates), and a missing / corrupt / foreign weights
file is one clear WeightsError. No accuracy is asserted: a few steps train nothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv
import torch

from tests.synth import make_video, player, standing_path
from tracker.common.errors import WeightsError
from tracker.game.ball.finder import BallFinder
from tracker.game.ball.net import STRIDE, BallHeatmap, NetCandidates, heatmap_target, load_ball_net, save_ball_net
from tracker.game.ball.net_data import Backgrounds, SampleMaker, paste, render_ball
from tracker.game.ball.net_train import main as train_main
from tracker.game.ball.net_train import train


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("ballnet") / "bg.mp4"
    make_video(path, size=(160, 96), n_frames=12, objects=[player(1, standing_path(12, (60, 50)))],
               pan_px_per_frame=(1.0, 0.0))
    return path


def test_render_ball_is_an_orange_disc_centred_in_its_patch():
    rng = np.random.default_rng(0)
    ball, alpha = render_ball(15.0, rng, hsv=(10, 200, 180))
    n = ball.shape[0]
    assert ball.shape == (n, n, 3) and alpha.shape == (n, n) and n % 2 == 1
    yy, xx = np.mgrid[0:n, 0:n]
    assert abs((alpha * xx).sum() / alpha.sum() - (n - 1) / 2) < 0.3
    assert abs(alpha.sum() - np.pi * 7.5**2) < 0.1 * np.pi * 7.5**2  # the disc's area
    hue = cv2.cvtColor(np.uint8([[ball[n // 2, n // 2]]]), cv2.COLOR_BGR2HSV)[0, 0, 0]
    assert hue <= 22 or hue >= 172  # orange-brown (or a seam's dark red-brown)


@pytest.mark.parametrize("xy", [(30.0, 20.0), (61.5, 47.25)])
def test_paste_puts_the_ball_where_asked(xy):
    frame = np.full((80, 96, 3), 128, np.uint8)
    ball, alpha = render_ball(12.0, np.random.default_rng(1), hsv=(10, 220, 200))
    out = paste(frame, ball, alpha, xy)
    changed = np.abs(out - 128).sum(axis=2)
    yy, xx = np.mgrid[0:80, 0:96]
    w = changed / changed.sum()
    assert abs((w * xx).sum() - xy[0]) < 0.6 and abs((w * yy).sum() - xy[1]) < 0.6
    smeared = paste(frame, ball, alpha, xy, blur=(10.0, 0.0))
    cols = np.flatnonzero(np.abs(smeared - 128).sum(axis=(0, 2)) > 0)
    assert cols.max() - cols.min() > 12 + 6  # motion blur widens it along the path


@pytest.mark.parametrize("defocus, fade", [(0.0, (1.0, 1.0)), (1.0, (0.6, 0.9))])
def test_sample_target_peaks_at_the_pasted_ball(video, defocus, fade):
    maker = SampleMaker([Backgrounds(str(video))], size=64, positive=1.0, defocus=defocus, fade=fade)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x, y, info = maker.sample(rng)
        assert x.shape == (9, 64, 64) and y.shape == (32, 32)
        i, j = np.unravel_index(np.argmax(y), y.shape)
        assert y[i, j] == 1.0
        assert abs(STRIDE * j + 0.5 - info["xy"][0]) <= STRIDE and abs(STRIDE * i + 0.5 - info["xy"][1]) <= STRIDE
    assert heatmap_target(None, 0.0, (8, 8)).max() == 0.0


@pytest.fixture
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_few_steps_train_save_load_and_run(video, tmp_path, one_torch_thread):
    frames = Backgrounds(str(video)).frames
    maker = SampleMaker([Backgrounds.from_frames(frames)], size=48)
    net, info = train(maker, steps=2, batch=4, width=8, log=None)
    assert info["steps"] == 2
    path = tmp_path / "ball_net.pt"
    save_ball_net(net, path, {"threshold": 0.3})
    heat = BallHeatmap(path)
    h = heat.heatmap(frames[:3])  # 96 x 160 -> (48, 80)
    assert h.shape == (48, 80) and h.dtype == np.float32 and 0 <= h.min() and h.max() <= 1
    odd = heat.heatmap([f[:95, :158] for f in frames[:3]])  # padded up to 96 x 160
    assert odd.shape == (48, 80)
    with torch.no_grad():
        assert np.allclose(BallHeatmap(net).heatmap(frames[:3]), h, atol=1e-6)
    cands = NetCandidates(heat, threshold=0.0, max_candidates=2)
    assert cands.threshold == 0.0 and NetCandidates(path).threshold == 0.3  # the file's own threshold
    finder = BallFinder(net=cands, min_confidence=0.0)
    box = sv.Detections(xyxy=np.array([[48.0, 18, 72, 82]]), tracker_id=np.array([1]))
    for i, f in enumerate(frames[:5]):
        finder.update(i, f, box)
    out = cands(frames[5], box.xyxy)
    assert len(out) == 2 and out.xy.shape == (2, 2) and out.moving.all() and not out.detected.any()


def test_training_command_writes_a_readable_file(video, tmp_path, capsys):
    out = tmp_path / "net.pt"
    assert train_main(["--backgrounds", str(video), "--out", str(out), "--steps", "1", "--batch", "2",
                       "--size", "32", "--width", "4", "--threads", "1"]) == 0
    assert load_ball_net(out).meta["steps"] == 1
    assert train_main(["--backgrounds", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "x.pt"), "--steps", "1"]) == 3
    assert "none.mp4" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_missing_corrupt_or_foreign_weights_are_one_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_ball_net(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x00not a torch file" * 10)
    with pytest.raises(WeightsError, match="not a readable ball net file"):
        load_ball_net(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(WeightsError, match="not a ball net file"):
        BallHeatmap(foreign)
    with pytest.raises(WeightsError) as info:
        load_ball_net(bad)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)


def test_player_tracking_refuses_a_missing_net(tmp_path):
    from pipeline.players import PlayerTracking
    from tracker.tracking.bytetrack import ByteTrackTracker
    with pytest.raises(WeightsError, match="not found"):
        PlayerTracking.build(ByteTrackTracker(fps=30.0), teams=False, ball_net=tmp_path / "missing.pt")


def test_the_cli_takes_a_net_and_refuses_a_bad_one_in_one_line(video, tmp_path, one_torch_thread):
    import json
    import subprocess
    import sys

    from pipeline.config import PipelineConfig

    frames = Backgrounds(str(video)).frames
    net, _ = train(SampleMaker([Backgrounds.from_frames(frames)], size=32), steps=1, batch=2, width=4, log=None)
    path = tmp_path / "ball_net.pt"
    save_ball_net(net, path, {"threshold": 0.5})
    report = PipelineConfig(weights="yolov8n.yaml", ball_net=str(path), device="cpu").build() \
        .run(video, tmp_path / "out.mp4", json=tmp_path / "out.json")
    assert len(report.ball) == 12 and json.loads((tmp_path / "out.json").read_text())["video"]["frames"] == 12
    for extra, code, words in ((["--ball-net", str(tmp_path / "missing.pt")], 4, "ball net weights not found"),
                               (["--ball-net", str(path), "--no-ball"], 2, "--ball-net needs the ball")):
        proc = subprocess.run([sys.executable, "-m", "pipeline", str(video), "-o", str(tmp_path / "x.mp4"),
                               "--weights", "yolov8n.yaml", "--no-progress", *extra],
                              capture_output=True, text=True, timeout=300)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == code and len(lines) == 1 and words in lines[0], proc.stderr
        assert not (tmp_path / "x.mp4").exists()
