"""Checkpoint files that are not ours: one clear sentence each, and ``bball-train convert`` to wrap them.

Before: a garbage file gave a torch message cut at 120 characters, a whole pickled model a raw
``\\x1b[1m`` escape, a text file ``(KeyError: 101)``, and a 3-class state_dict advice to
"re-save it with bball-train" that no command did.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recognizer.checkpoint import KINETICS_CLIP, HKAIR_CLIP, load_checkpoint, save_checkpoint
from recognizer.evaluate import main as eval_main
from recognizer.labels import SPACEJAM_LABELS
from recognizer.models import build_model
from recognizer.train import main as train_main
from tracker.common.errors import WeightsError

EXPECTED = "expected a checkpoint written by bball-train (best.pt) or hkair's {'epoch', 'state_dict', 'optimizer'}"


@pytest.fixture(scope="module")
def tiny3() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("r2plus1d_tiny", 3).eval()


def _files(tmp_path, tiny3) -> dict[str, tuple]:
    """name -> (path, the cause the user reads)."""
    cases = {}
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    cases["garbage"] = (garbage, f"is not a PyTorch checkpoint (neither a torch.save archive nor a pickle); {EXPECTED}")
    whole = tmp_path / "whole.pt"
    torch.save(tiny3, whole)
    cases["whole model"] = (whole, (
        "holds a pickled Python object (torchvision.models.video.resnet.VideoResNet), e.g. a whole model saved with "
        "torch.save(model), which is not loaded because unpickling can run code; save model.state_dict() instead "
        "and wrap it with bball-train convert"))  # fmt: skip
    text = tmp_path / "notes.pt"
    text.write_text("epoch 3: loss 0.41\nthis is a training log, not weights\n")
    cases["text"] = (text, f"is a text file, not a PyTorch checkpoint; {EXPECTED}")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cases["empty"] = (empty, f"is empty (0 bytes), not a checkpoint: the save or download was cut short; {EXPECTED}")
    classes = tmp_path / "classes.pt"
    save_checkpoint(classes, tiny3, "r2plus1d_tiny", SPACEJAM_LABELS, KINETICS_CLIP)
    cases["wrong classes"] = (classes, f"weights have a 3-class head but 10 labels are named ({', '.join(SPACEJAM_LABELS)})")
    bare = tmp_path / "bare3.pt"
    torch.save(tiny3.state_dict(), bare)
    cases["bare 3-class"] = (bare, (
        "is a bare state_dict (fc.weight (3, 512)) that says neither its classes nor the input it was trained on "
        f"(channel order, value scale, mean/std, size); wrap it with bball-train convert {bare} --out NEW.pt "
        "--labels NAMES --preset kinetics|hkair"))  # fmt: skip
    return cases


def test_each_unusable_file_gets_one_whole_sentence(tmp_path, tiny3, capsys):
    for name, (path, cause) in _files(tmp_path, tiny3).items():
        with pytest.raises(WeightsError) as err:
            load_checkpoint(path)
        assert err.value.cause == cause, name
        assert eval_main([str(path), "--data", str(tmp_path), "--device", "cpu"]) == 4
        lines = capsys.readouterr().err.splitlines()
        assert lines == [f"bball-eval: error: {path}: {cause}"], name  # one line, whole, no escape codes
        assert "\x1b" not in lines[0]


def test_convert_wraps_a_bare_state_dict_with_the_named_labels_and_input(tmp_path, tiny3, capsys):
    bare, out = tmp_path / "bare3.pt", tmp_path / "ours.pt"
    torch.save(tiny3.state_dict(), bare)
    base = ["convert", str(bare), "--out", str(out), "--arch", "r2plus1d_tiny"]
    assert train_main([*base, "--labels", "still,slow,fast"]) == 2  # the input is not guessed
    assert "name the input its weights were trained on with --preset" in capsys.readouterr().err
    assert train_main([*base, "--preset", "kinetics"]) == 2  # nor the classes
    assert "name its classes with --labels" in capsys.readouterr().err
    assert not out.exists()

    assert train_main([*base, "--labels", "still,slow,fast", "--preset", "kinetics"]) == 0
    assert f"wrote {out}: r2plus1d_tiny, 3 classes (still, slow, fast)" in capsys.readouterr().out
    ckpt = load_checkpoint(out)  # ours now: its .sha256 is checked too
    assert ckpt.labels == ["still", "slow", "fast"] and ckpt.clip == KINETICS_CLIP and ckpt.source == "bball-annotate/1"
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.inference_mode():
        np.testing.assert_allclose(ckpt.model(x).numpy(), tiny3(x).numpy(), atol=1e-5)
    assert train_main([*base, "--labels", "a,b,c", "--preset", "kinetics"]) == 5  # never over a file silently
    assert "already exists" in capsys.readouterr().err
    assert train_main([*base, "--labels", "a,b", "--preset", "kinetics", "--overwrite"]) == 4
    assert "weights have a 3-class head but 2 labels are named (a, b)" in capsys.readouterr().err


def test_convert_takes_hkair_files_as_they_are(tmp_path, capsys):
    torch.manual_seed(1)
    model = build_model("r2plus1d_tiny", 10)
    src, out = tmp_path / "hkair.pt", tmp_path / "ours.pt"
    torch.save({"epoch": 2, "state_dict": model.state_dict(), "optimizer": {"state": {}, "param_groups": []}}, src)
    assert train_main(["convert", str(src), "--out", str(out), "--arch", "r2plus1d_tiny"]) == 0
    assert "BGR, 0-255, no mean/std" in capsys.readouterr().out
    ckpt = load_checkpoint(out)
    assert ckpt.labels == SPACEJAM_LABELS and ckpt.clip == HKAIR_CLIP and ckpt.metrics == {"epoch": 2}
