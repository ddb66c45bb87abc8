"""R(2+1)D checkpoints (both formats), their verification, and the crops that feed the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recognizer.base import FrameBuffer
from recognizer.crops import context_boxes, crop_windows
from recognizer.labels import SPACEJAM_LABELS
from recognizer.r2plus1d import ClipConfig, R2Plus1DRecognizer, build_model, load_checkpoint, save_checkpoint
from tracker.common.errors import WeightsError
from tracker.tracking.tubes import ClipWindow


def _frames(n=16, h=96, w=128, seed=0) -> FrameBuffer:
    rng = np.random.default_rng(seed)
    buf = FrameBuffer(fps=30.0)
    for i in range(n):
        buf.add(i, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return buf


def _windows(n_frames=16):
    idx = np.arange(n_frames)
    return [
        ClipWindow(1, idx, np.tile(np.array([[20, 10, 50, 80]], np.float32), (n_frames, 1))),
        ClipWindow(2, idx, np.stack([[60 + t, 20, 90 + t, 90] for t in range(n_frames)]).astype(np.float32)),
    ]


@pytest.fixture(scope="module")
def r2plus1d_18():
    torch.manual_seed(0)
    return build_model("r2plus1d_18", len(SPACEJAM_LABELS)).eval()


def test_both_formats_load_back_with_identical_outputs(tmp_path, r2plus1d_18):
    ours, bare = tmp_path / "ours.pt", tmp_path / "bare.pt"
    save_checkpoint(ours, r2plus1d_18, "r2plus1d_18", SPACEJAM_LABELS, ClipConfig(), metrics={"note": "random init"})
    torch.save(r2plus1d_18.state_dict(), bare)  # what hkair's train.py writes
    a, b = R2Plus1DRecognizer(ours), R2Plus1DRecognizer(bare)
    assert a.labels == b.labels == SPACEJAM_LABELS
    assert a.clip == b.clip and (a.window, a.stride) == (16, 8)
    frames, windows = _frames(), _windows()
    pa, pb = a.predict(windows, frames), b.predict(windows, frames)
    assert [p.track_id for p in pa] == [1, 2]
    for x, y in zip(pa, pb):
        assert x.probs.shape == (10,) and np.isclose(x.probs.sum(), 1.0, atol=1e-5)
        np.testing.assert_allclose(x.probs, y.probs, rtol=0, atol=1e-6)
    # and they are the plain model's softmax on the same crops
    crops = crop_windows(windows, frames.tensor, (112, 112), ClipConfig().margin)
    from recognizer.r2plus1d import normalise_clips

    with torch.inference_mode():
        direct = torch.softmax(r2plus1d_18(normalise_clips(crops, ClipConfig())), 1).numpy()
    np.testing.assert_allclose(np.stack([p.probs for p in pa]), direct, atol=1e-5)
    assert a.checkpoint_sha256 != b.checkpoint_sha256 and len(a.checkpoint_sha256) == 64


def test_checkpoint_carries_its_clip_settings(tmp_path):
    torch.manual_seed(1)
    model = build_model("r2plus1d_tiny", 3)
    clip = ClipConfig(frames=8, size=[32, 48], stride=4, margin=0.1, mean=[0.5] * 3, std=[0.25] * 3)
    save_checkpoint(tmp_path / "tiny.pt", model, "r2plus1d_tiny", ["a", "b", "c"], clip)
    rec = R2Plus1DRecognizer(tmp_path / "tiny.pt")
    assert (rec.window, rec.stride, rec.clip.size, rec.labels) == (8, 4, [32, 48], ["a", "b", "c"])
    preds = rec.predict([ClipWindow(5, np.arange(8), np.tile([[10, 10, 40, 60]], (8, 1)).astype(np.float32))],
                        _frames(8))
    assert preds[0].probs.shape == (3,)


def test_missing_garbage_and_mismatched_checkpoints_are_refused(tmp_path, r2plus1d_18):
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    # a bare state_dict with another head size is not guessed at
    other = build_model("r2plus1d_18", 7)
    torch.save(other.state_dict(), tmp_path / "seven.pt")
    with pytest.raises(WeightsError, match=r"fc.weight \(7, 512\)"):
        load_checkpoint(tmp_path / "seven.pt")
    # our format whose weights do not fit the declared architecture
    tiny = build_model("r2plus1d_tiny", 10)
    save_checkpoint(tmp_path / "liar.pt", tiny, "r2plus1d_18", SPACEJAM_LABELS, ClipConfig())
    with pytest.raises(WeightsError, match="do not fit r2plus1d_18"):
        load_checkpoint(tmp_path / "liar.pt")
    # a checkpoint changed after bball-train wrote its sha256 beside it
    save_checkpoint(tmp_path / "ok.pt", tiny, "r2plus1d_tiny", SPACEJAM_LABELS, ClipConfig())
    with open(tmp_path / "ok.pt", "ab") as f:
        f.write(b"\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_checkpoint(tmp_path / "ok.pt")


def test_context_boxes_keep_the_player_whole_at_the_output_aspect():
    boxes = np.array([[100, 50, 140, 150], [0, 0, 90, 30]], np.float32)  # tall, wide
    for out_hw in [(112, 112), (128, 176)]:
        crops = context_boxes(boxes, out_hw, margin=0.25)
        w, h = crops[:, 2] - crops[:, 0], crops[:, 3] - crops[:, 1]
        np.testing.assert_allclose(w / h, out_hw[1] / out_hw[0], rtol=1e-5)
        assert (crops[:, 0] <= boxes[:, 0]).all() and (crops[:, 2] >= boxes[:, 2]).all()
        assert (crops[:, 1] <= boxes[:, 1]).all() and (crops[:, 3] >= boxes[:, 3]).all()
        np.testing.assert_allclose((crops[:, :2] + crops[:, 2:]) / 2, (boxes[:, :2] + boxes[:, 2:]) / 2)


def test_crop_windows_takes_pixels_from_each_window_frame():
    buf = FrameBuffer(fps=30.0)
    for i in range(4):  # frame i is a flat colour; a white square marks the player's place
        img = np.full((60, 80, 3), (10 * i, 20, 200 - 10 * i), np.uint8)
        img[20:40, 30 + i : 50 + i] = 255
        buf.add(i, img)
    boxes = np.array([[30 + i, 20, 50 + i, 40] for i in range(4)], np.float32)
    crops = crop_windows([ClipWindow(1, np.arange(4), boxes)], buf.tensor, (16, 16), margin=0.0)
    assert crops.shape == (1, 3, 4, 16, 16)
    assert torch.allclose(crops[0, :, :, 4:12, 4:12], torch.tensor(255.0))  # the square fills the crop
    # outside the frame is black, inside takes that frame's colour (RGB order)
    edge = crop_windows([ClipWindow(1, np.arange(4), np.array([[-10, 0, 10, 20]] * 4, np.float32))],
                        buf.tensor, (8, 8), margin=0.0)
    assert float(edge[0, :, 3, 2, 0].abs().sum()) == 0.0
    np.testing.assert_allclose(edge[0, :, 3, 4, 7].numpy(), [200 - 30, 20, 30], atol=1)
