"""R(2+1)D checkpoints (both formats), their verification, and the crops that feed the model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from recognizer.base import FrameBuffer
from recognizer.crops import context_boxes, crop_window_reference, crop_windows
from recognizer.clips import read_clip
from recognizer.labels import SPACEJAM_LABELS
from recognizer.checkpoint import ClipConfig, KINETICS_MEAN, KINETICS_STD, load_checkpoint, save_checkpoint
from recognizer.models import build_model
from recognizer.r2plus1d import R2Plus1DRecognizer
from tests.conftest import shared_asset
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


def test_our_format_loads_back_with_the_models_own_outputs(tmp_path, r2plus1d_18):
    ours = tmp_path / "ours.pt"
    save_checkpoint(ours, r2plus1d_18, "r2plus1d_18", SPACEJAM_LABELS, ClipConfig(), metrics={"note": "random init"})
    a = R2Plus1DRecognizer(ours)
    assert a.labels == SPACEJAM_LABELS and a.clip == ClipConfig() and (a.window, a.stride) == (16, 8)
    frames, windows = _frames(), _windows()
    pa = a.predict(windows, frames)
    assert [p.track_id for p in pa] == [1, 2]
    for x in pa:
        assert x.probs.shape == (10,) and np.isclose(x.probs.sum(), 1.0, atol=1e-5)
    # they are the plain model's softmax on the same crops, RGB in [0, 1] with Kinetics mean/std
    crops = crop_windows(windows, frames.tensor, (112, 112), ClipConfig().margin)
    mean, std = torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1)
    with torch.inference_mode():
        direct = torch.softmax(r2plus1d_18((crops / 255 - mean) / std), 1).numpy()
    np.testing.assert_allclose(np.stack([p.probs for p in pa]), direct, atol=1e-5)
    assert len(a.checkpoint_sha256) == 64


def test_hkair_checkpoint_is_fed_as_it_was_trained_bgr_0_255_176x128(tmp_path, r2plus1d_18):
    """hkair's files: {'epoch', 'state_dict', 'optimizer'}, a torchvision r2plus1d_18 with a 10-class fc,
    trained on OpenCV (BGR) SpaceJam frames in 0-255 without mean/std. The model must see exactly that."""
    path = tmp_path / "hkair.pt"
    optimizer = torch.optim.SGD(r2plus1d_18.parameters(), lr=0.01, momentum=0.9)
    torch.save({"epoch": 7, "state_dict": r2plus1d_18.state_dict(), "optimizer": optimizer.state_dict()}, path)
    ckpt = load_checkpoint(path)
    assert (ckpt.source, ckpt.arch, ckpt.labels, ckpt.metrics) == ("hkair", "r2plus1d_18", SPACEJAM_LABELS, {"epoch": 7})
    assert (ckpt.clip.channels, ckpt.clip.pixel_range, ckpt.clip.mean, ckpt.clip.std) == ("BGR", 255.0, None, None)
    assert (ckpt.clip.frames, ckpt.clip.size) == (16, [176, 128])  # H x W: SpaceJam's 128 wide x 176 high

    # the feeding is the checkpoint's; any (N, 3, T, H, W) -> (N, 10) model shows what reaches it, and this
    # one takes milliseconds where r2plus1d_18 takes tens of seconds on a shared CPU at 16x176x128
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(), torch.nn.Linear(3, 10)).eval()
    tiny = replace(ckpt, model=head)
    for batched in (True, False):  # the fast path and the simple (OpenCV) path
        rec = R2Plus1DRecognizer(tiny, batched=batched)
        fed = []
        hook = rec.model.register_forward_pre_hook(lambda m, args: fed.append(args[0].detach().clone()))
        # a flat BGR colour: the model sees those very bytes, in that order, unscaled
        flat, bgr = FrameBuffer(fps=30.0), (10, 100, 200)
        for i in range(16):
            flat.add(i, np.full((240, 320, 3), bgr, np.uint8))
        box = np.tile(np.array([[100, 40, 160, 200]], np.float32), (16, 1))  # its crop lies inside the frame
        rec.predict([ClipWindow(1, np.arange(16), box)], flat)
        assert fed[0].shape == (1, 3, 16, 176, 128)
        want = torch.tensor(bgr, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 16, 176, 128)
        torch.testing.assert_close(fed[0][0], want, rtol=0, atol=1e-3)

        # a real SpaceJam crop: the fed tensor is the BGR 0-255 crop (OpenCV reference crop, channels reversed)
        rgb = read_clip(shared_asset("spacejam/samples/0000000_flipped_rotate_330.mp4"))
        real = FrameBuffer(fps=10.0)
        for i, image in enumerate(rgb):
            real.add(i, np.ascontiguousarray(image[..., ::-1]))  # the buffer holds OpenCV's BGR
        window = ClipWindow(2, np.arange(16), np.tile(np.array([[0, 0, 128, 176]], np.float32), (16, 1)))
        rec.predict([window], real)
        reference = crop_window_reference(window, real.image, (176, 128), ckpt.clip.margin)[::-1].copy()  # -> BGR
        assert reference.max() > 150  # real pixels in 0-255, not normalised
        np.testing.assert_allclose(fed[1][0].numpy(), reference, atol=0.05)
        hook.remove()


def test_a_bare_state_dict_is_refused_not_guessed(tmp_path, r2plus1d_18):
    torch.save(r2plus1d_18.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(WeightsError) as err:
        load_checkpoint(tmp_path / "bare.pt")
    assert "bare state_dict (fc.weight (10, 512))" in err.value.cause
    assert "channel order, value scale, mean/std, size" in err.value.cause
    assert f"bball-train convert {tmp_path / 'bare.pt'} --out NEW.pt --labels NAMES --preset kinetics|hkair" in err.value.cause


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
    with pytest.raises(WeightsError, match="is a text file, not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
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
