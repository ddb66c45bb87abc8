"""bball-train / bball-eval on a data set with unreadable clips, and the run's checks and log lines.

Before: a corrupt clip stopped ``bball-train`` (a 49-line DataLoader traceback with worker
processes; with ``--workers 0`` one line naming only the first bad clip), and ``bball-eval``
the same. Now every unreadable clip is listed once, the run goes on without them, and
``--max-bad-clips`` stops it with one line when there are too many.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

from recognizer.checkpoint import ClipConfig
from recognizer.clips import BadClips, ClipDataset, collate_clips, write_clip
from recognizer.data import ClipItem
from recognizer.evaluate import evaluate_items
from recognizer.evaluate import main as eval_main
from recognizer.models import build_model
from recognizer.train import main as train_main
from tests.recognizer.spacejam_layout import write_spacejam
from recognizer.training.init import require_network
from tracker.common.errors import InputVideoError, WeightsError

LABELS = ["still", "slow", "fast", "unused"]  # the fourth class has no clips
TINY = [
    "--arch", "r2plus1d_tiny", "--init", "none", "--frames", "4", "--size", "16", "16", "--margin", "0",
    "--batch-size", "8", "--epochs", "1", "--test-fraction", "0.2", "--device", "cpu", "--threads", "1",
]  # fmt: skip


def _clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """``(8, 16, 16, 3)``: a bright square moving ``2 * label`` px per frame on a dark ground."""
    frames = np.full((8, 16, 16, 3), 30, np.uint8)
    x0 = int(rng.integers(0, 4))
    for t in range(8):
        x = (x0 + 2 * label * t) % 12
        frames[t, 6:10, x : x + 4] = 220
    return frames


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> dict:
    """SpaceJam layout: 40 good clips of 3 classes, one garbage file and one empty file (2 of 42 = 4.8 %)."""
    rng = np.random.default_rng(0)
    clips = {f"{i:07d}": (_clip(i % 3, rng), i % 3) for i in range(40)}
    clips["0000100"] = (b"not a video at all " * 50, 0)
    clips["0000101"] = (b"", 1)
    root = write_spacejam(tmp_path_factory.mktemp("faulty"), clips, LABELS)
    garbage, empty = root / "examples" / "0000100.mp4", root / "examples" / "0000101.mp4"
    return {"root": root, "bad": [str(garbage), str(empty)]}


def test_training_lists_each_unreadable_clip_once_and_goes_on(faulty, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", str(faulty["root"]), "--out", str(out), "--workers", "2", "--log-every", "1", *TINY]
    assert train_main(args) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for path in faulty["bad"]:
        assert sum(path in line for line in err.splitlines()) == 1, err
    assert "unreadable clip, skipped: " + faulty["bad"][0] in err
    assert "40 clips, 2 unreadable left out" in err
    assert "3 of 4 classes have clips (none: unused)" in err  # not "4 classes"
    assert "epoch 1/1: batch 1/" in err  # stderr is not a terminal: plain progress lines
    split = json.loads((out / "split.json").read_text())
    assert sorted(split["unreadable"]) == sorted(faulty["bad"])
    assert not set(split["train"] + split["val"] + split["test"]) & {"0000100", "0000101"}
    assert (out / "best.pt").is_file()

    # bball-eval on every clip of the same folder: the same two listed, left out of the numbers
    ev = tmp_path / "ev"
    assert eval_main([str(out / "best.pt"), "--data", str(faulty["root"]), "--out", str(ev), "--workers", "2",
                      "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "2 unreadable clips left out" in captured.out
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["n"] == 40 and sorted(metrics["unreadable"]) == sorted(faulty["bad"])
    assert metrics["macro_f1_classes"] == LABELS[:3] and set(metrics["per_class"]) == set(LABELS)


@pytest.mark.parametrize("limit, allowed", [("1", 1), ("0.01", 0)])
def test_too_many_unreadable_clips_stop_with_one_line(faulty, tmp_path, capsys, limit, allowed):
    out = tmp_path / "run"
    rc = train_main(["--data", str(faulty["root"]), "--out", str(out), "--workers", "0", "--max-bad-clips", limit,
                     *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and "Traceback" not in "\n".join(err)
    assert err[-1] == (
        f"bball-train: error: {faulty['root']}: 2 of 42 clips are unreadable, more than --max-bad-clips "
        f"{float(limit):g} allows ({allowed}); mend or remove them, or raise --max-bad-clips"
    )
    assert not out.exists()  # nothing written for a run that did not start


def test_a_clip_that_fails_while_loading_is_skipped_not_raised(tmp_path):
    """A clip can pass the header check and still fail later (deleted, truncated): the loader
    hands it over instead of raising in a worker process."""
    rng = np.random.default_rng(1)
    items = []
    for i in range(5):
        write_clip(tmp_path / f"{i}.mp4", _clip(i % 3, rng))
        items.append(ClipItem(str(i), tmp_path / f"{i}.mp4", i % 3))
    items.insert(2, ClipItem("gone", tmp_path / "gone.mp4", 1))
    clip = ClipConfig(frames=4, size=[16, 16], margin=0)
    x, y, problems = collate_clips([ClipDataset(items, clip)[i] for i in range(3)])
    assert x.shape == (2, 3, 4, 16, 16) and y.tolist() == [0, 1]
    assert problems == [f"{tmp_path / 'gone.mp4'}\tclip not found"]

    model = build_model("r2plus1d_tiny", 3).eval()
    bad = BadClips(tmp_path, len(items), 1, print)
    metrics, y_true, _ = evaluate_items(model, items, ["a", "b", "c"], clip, torch.device("cpu"), 2, 2, bad=bad)
    assert metrics["n"] == 5 and list(bad.clips) == [str(tmp_path / "gone.mp4")]
    with pytest.raises(InputVideoError, match="1 of 6 clips are unreadable"):
        evaluate_items(model, items, ["a", "b", "c"], clip, torch.device("cpu"), 2, 0, bad=BadClips(tmp_path, 6, 0, print))


def test_out_is_checked_before_the_data_is_indexed(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "best.pt").write_bytes(b"a previous run")
    assert train_main(["--data", str(tmp_path / "no-such-data"), "--out", str(out), *TINY]) == 5
    assert "already holds a run" in capsys.readouterr().err
    # --init kinetics for an architecture without Kinetics weights is also refused before indexing
    args = [a if a != "none" else "kinetics" for a in TINY]
    assert train_main(["--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "o"), *args]) == 2
    assert "r2plus1d_tiny has no Kinetics-400 weights" in capsys.readouterr().err


def test_debug_shows_the_traceback_and_usage_errors_exit_2(tmp_path, capsys):
    args = ["--data", str(tmp_path / "no-such-data"), "--out", str(tmp_path / "o"), *TINY]
    with pytest.raises(InputVideoError, match="dataset folder not found"):
        train_main([*args, "--debug"])
    assert train_main([*args, "--max-bad-clips"]) == 2  # argparse: missing value
    assert eval_main(["--no-such-option"]) == 2
    with pytest.raises(WeightsError, match="action model not found"):
        eval_main([str(tmp_path / "x.pt"), "--data", str(tmp_path / "no-such-data"), "--debug"])
    capsys.readouterr()


def test_max_bad_clips_reads_fractions_and_counts(tmp_path):
    assert BadClips(tmp_path, 200, 0.05, print).limit == 10
    assert BadClips(tmp_path, 200, 3, print).limit == 3
    assert BadClips(tmp_path, 19, 0.05, print).limit == 0
    assert Path(BadClips(tmp_path, 1, 0, print).root) == tmp_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "192.0.2.1"])  # refused at once; TEST-NET-1, never answers
def test_kinetics_download_host_out_of_reach_is_one_line_naming_the_fix(host):
    """Offline, --init kinetics used to take 61 s (urllib's attempts) to fail; now a connect check
    with a short timeout (in a thread, so a hanging name lookup cannot hold it) decides first."""
    url = f"http://{host.format(port=_closed_port())}/r2plus1d_18-91a641e6.pth"
    with pytest.raises(WeightsError) as err:
        require_network(url, timeout=0.5)
    cause = err.value.cause
    assert cause.startswith(f"cannot reach {urlparse(url).hostname} to download the Kinetics-400 weights (")
    assert "go online, or put the file at " in cause and "r2plus1d_18-91a641e6.pth or pass it with --init PATH" in cause
    assert cause.endswith("or use --init none")
