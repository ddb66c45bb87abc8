"""Issue 6, items 1-3 and 6: every kind of bad input, output and weights, through the real CLI.

Each case gets either a correct result or exactly one stderr line
``bball-annotate: error: <file>: <cause>`` and the documented exit code (see
pipeline/cli.py), never a traceback. A representative subset runs as real
subprocesses (``python -m pipeline``); the rest call :func:`pipeline.cli.main`
in-process (same code path, minus interpreter start-up).

Every input is generated here. The fast cases use ``--weights yolov8n.yaml``
(ultralytics builds YOLOv8n with random weights: a real model that finds
nothing); the people-counting cases use the shared int8 TFLite detector.
docs/reliability.md maps each case to its test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from pipeline.cli import main
from tests.conftest import REPO
from tests.pipeline.test_io import damage, packet_spans, pattern_frames, write_video
from tests.synth import _write_tone, court_texture, make_video
from tracker.common.errors import InputVideoError, WeightsError
from tracker.common.weights import verify_weights

ERROR_LINE = re.compile(r"^bball-annotate: error: (?P<file>.+?): (?P<cause>.+)$")
FAST = ["--weights", "yolov8n.yaml", "--imgsz", "64", "--device", "cpu", "--no-progress"]
INPUT, WEIGHTS, OUTPUT = InputVideoError.exit_code, WeightsError.exit_code, 5


def run_cli(capsys, *argv) -> tuple[int, list[str]]:
    """``main(argv)`` in-process: exit code and the non-empty stderr lines."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, [ln for ln in err.splitlines() if ln.strip()]


def assert_error(code: int, lines: list[str], exit_code: int, file: Path | str, cause: str) -> None:
    """Exactly one line naming ``file`` with a cause matching ``cause``, and ``exit_code``."""
    assert code == exit_code, lines
    assert len(lines) == 1, lines
    m = ERROR_LINE.match(lines[0])
    assert m is not None, lines[0]
    assert m["file"] == str(file), lines[0]
    assert re.search(cause, m["cause"]), lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_times(path: Path) -> tuple[tuple[int, int], list[float], list[str]]:
    """Coded size, frame presentation times and audio codecs of an output video."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        audio = [a.codec_context.name for a in c.streams.audio]
        size = (s.codec_context.width, s.codec_context.height)
        times = [float(f.pts * s.time_base) for f in c.decode(s)]
    return size, times, audio


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A small, healthy 160x120 clip with audio."""
    return make_video(tmp_path_factory.mktemp("good") / "good.mp4", size=(160, 120), n_frames=12, audio=True).path


# ------------------------------------------------------- real subprocesses

@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory, good) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """The subprocess cases, started together (interpreter start-up dominates), keyed by case."""
    d = tmp_path_factory.mktemp("sub")
    zero = d / "zero.mp4"
    zero.write_bytes(b"")
    text = d / "notes.mp4"
    text.write_text("These are my scouting notes, not a video.\n" * 40)
    existing = d / "existing.mp4"
    existing.write_bytes(b"an earlier result")
    cases = {
        "zero_byte": ([zero, "-o", d / "a.mp4"], zero),
        "text_as_mp4": ([text, "-o", d / "b.mp4"], text),
        "existing_output": ([good, "-o", existing], existing),
        "debug_traceback": ([d / "nope.mp4", "-o", d / "c.mp4", "--debug"], d / "nope.mp4"),
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = {
        name: (subprocess.Popen([sys.executable, "-m", "pipeline", *map(str, argv), *FAST], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), blamed)
        for name, (argv, blamed) in cases.items()
    }
    out = {}
    for name, (proc, blamed) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), blamed)
    return out


@pytest.mark.parametrize(
    "case, exit_code, cause",
    [
        ("zero_byte", INPUT, r"^empty file \(0 bytes\)$"),
        ("text_as_mp4", INPUT, r"^not a readable video \(Invalid data"),
        ("existing_output", OUTPUT, r"^already exists; pass --overwrite"),
    ],
)
def test_subprocess_prints_one_error_line_and_exit_code(subprocess_runs, case, exit_code, cause):
    proc, blamed = subprocess_runs[case]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert_error(proc.returncode, lines, exit_code, blamed, cause)
    if case == "existing_output":
        assert blamed.read_bytes() == b"an earlier result"


def test_missing_input(tmp_path, capsys):
    code, lines = run_cli(capsys, tmp_path / "nope.mp4", "-o", tmp_path / "out.mp4", *FAST)
    assert_error(code, lines, INPUT, tmp_path / "nope.mp4", r"^no such file")


def test_debug_shows_the_traceback(subprocess_runs):
    proc, blamed = subprocess_runs["debug_traceback"]
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    assert f"InputVideoError: {blamed}: no such file" in proc.stderr


# ------------------------------------------------------- bad inputs, in-process

def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=44100, layout="mono")
        _write_tone(out, a, 0, 1.0)
        out.mux(a.encode())
    return path


def _truncated(path: Path) -> Path:
    make_video(path, size=(160, 120), n_frames=30)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize(
    "make, cause",
    [
        (_audio_only, r"^has no video stream \(only audio\)$"),
        (_truncated, r"^not a readable video .*truncated"),
    ],
    ids=["audio_only", "truncated_index_at_end"],
)
def test_unusable_inputs_fail_with_one_line(tmp_path, capsys, make, cause):
    src = make(tmp_path / "in.mp4")
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o" / "out.mp4", "--json", *FAST)
    assert_error(code, lines, INPUT, src, cause)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def _check_ok(code: int, lines: list[str], out: Path) -> dict:
    assert code == 0, lines
    assert lines[0].startswith(f"bball-annotate: wrote {out} "), lines
    assert all(line.startswith("  ") for line in lines[1:]), lines  # then only the indented run summary
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, out.with_suffix(".json").name])
    return json.loads(out.with_suffix(".json").read_text())


def test_one_frame_video(tmp_path, capsys):
    src = make_video(tmp_path / "one.mp4", size=(160, 120), n_frames=1).path
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert doc["video"]["frames"] == 1 and doc["video"]["lost_frames"] == 0
    assert output_times(out)[1] == [0.0]


def test_variable_frame_rate_keeps_source_timestamps(tmp_path, capsys):
    times = np.concatenate([[0.0], np.cumsum([1 / 30, 1 / 15, 1 / 60, 0.1, 1 / 30, 1 / 24, 0.2, 1 / 30])])
    src = write_video(tmp_path / "vfr.mp4", pattern_frames(len(times), 160, 96), times=times, audio=True)
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert doc["video"]["frames"] == len(times) and doc["video"]["lost_frames"] == 0
    size, got, audio = output_times(out)
    assert np.allclose(got, times, atol=1e-3) and audio == ["aac"]


@pytest.mark.parametrize("rotation", [90, -90])
def test_phone_rotation_metadata_gives_an_upright_output(tmp_path, capsys, rotation):
    src_frames = pattern_frames(6, 160, 96)
    src = write_video(tmp_path / "phone.mp4", src_frames, rotation=rotation)
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert (doc["video"]["width"], doc["video"]["height"]) == (96, 160)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0)).to_ndarray(format="bgr24")
    assert first.shape == (160, 96, 3)
    upright = np.rot90(src_frames[0], rotation // 90)
    # the recogniser's name is drawn top-left; compare below it
    assert np.abs(first[40:].astype(int) - upright[40:].astype(int)).mean() < 8


def test_odd_size_853x479(tmp_path, capsys):
    src = write_video(tmp_path / "odd.mp4", pattern_frames(4, 853, 479), pix_fmt="yuv444p")
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert (doc["video"]["width"], doc["video"]["height"], doc["video"]["frames"]) == (853, 479, 4)
    size, times, _ = output_times(out)
    assert size == (854, 480) and len(times) == 4  # padded by one black row and column for H.264 4:2:0


def test_grayscale_source(tmp_path, capsys):
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in pattern_frames(5, 160, 96)]
    src = write_video(tmp_path / "bw.mkv", gray, codec="ffv1", pix_fmt="gray")
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert doc["video"]["frames"] == 5 and doc["video"]["lost_frames"] == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        img = next(c.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    assert np.abs(img[40:] - gray[0][40:, :, None]).mean() < 8  # still the same gray picture


def test_4k_frames(tmp_path, capsys):
    src = write_video(tmp_path / "uhd.mp4", pattern_frames(2, 3840, 2160))
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    assert (doc["video"]["width"], doc["video"]["height"], doc["video"]["frames"]) == (3840, 2160, 2)
    assert output_times(out)[0] == (3840, 2160)


def test_random_bytes_over_the_middle_decode_the_rest_and_keep_timing(tmp_path, capsys):
    n, fps = 60, 30.0
    src = write_video(tmp_path / "dmg.mp4", pattern_frames(n, 160, 96), gop=10, audio=True)
    hit = [s for s in packet_spans(src) if 25 / fps - 1e-6 <= s[0] <= 34 / fps + 1e-6]
    start = min(s[1] for s in hit)
    damage(src, start, max(s[1] + s[2] for s in hit) - start)
    out = tmp_path / "o" / "out.mp4"
    code, lines = run_cli(capsys, src, "-o", out, "--json", *FAST)
    doc = _check_ok(code, lines, out)
    lost = doc["video"]["lost_frames"]
    assert 0 < lost <= 20 and doc["video"]["frames"] == n - lost
    assert f"{lost} frames could not be decoded;" in lines[0]
    _, times, audio = output_times(out)
    assert len(times) == n - lost and audio == ["aac"]
    k = np.asarray(times) * fps
    assert np.allclose(k, np.round(k), atol=0.01) and np.all(np.diff(times) > 0), "each frame at its source time"
    kept = set(np.round(k).astype(int).tolist())
    assert set(range(25)) | set(range(40, n)) <= kept


def test_truncated_moov_first_mp4_annotates_what_is_there(tmp_path, capsys):
    src = write_video(tmp_path / "cut.mp4", pattern_frames(60, 160, 96), faststart=True)
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    out = tmp_path / "o" / "out.mp4"
    doc = _check_ok(*run_cli(capsys, src, "-o", out, "--json", *FAST), out)
    frames, lost = doc["video"]["frames"], doc["video"]["lost_frames"]
    assert frames >= 5 and frames + lost == 60
    assert np.allclose(output_times(out)[1], np.arange(frames) / 30.0, atol=1e-3)


# ------------------------------------------------------- outputs

def test_unwritable_output_folder(tmp_path, capsys, good):
    # Tests run as root, for whom chmod is no barrier: a regular file as the "folder", and /proc.
    a_file = tmp_path / "report.txt"
    a_file.write_text("x")
    code, lines = run_cli(capsys, good, "-o", a_file / "out.mp4", *FAST)
    assert_error(code, lines, OUTPUT, a_file, r"^is a file, not a folder$")
    if os.path.isdir("/proc"):
        code, lines = run_cli(capsys, good, "-o", "/proc/out.mp4", *FAST)
        assert_error(code, lines, OUTPUT, "/proc", r"^output folder is not writable")
        ok_video = tmp_path / "o" / "out.mp4"
        code, lines = run_cli(capsys, good, "-o", ok_video, "--csv", "/proc/out.csv", *FAST)
        assert_error(code, lines, OUTPUT, "/proc", r"^output folder is not writable")
        assert not ok_video.exists()


def test_output_equal_to_input_is_refused(tmp_path, capsys):
    src = make_video(tmp_path / "game.mp4", size=(160, 120), n_frames=4).path
    before = sha(src)
    code, lines = run_cli(capsys, src, "-o", src, "--overwrite", *FAST)
    assert_error(code, lines, OUTPUT, src, r"^the -o path is the input video")
    assert sha(src) == before


def test_existing_output_needs_overwrite(tmp_path, capsys, good):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")
    code, lines = run_cli(capsys, good, "-o", out, *FAST)
    assert_error(code, lines, OUTPUT, out, r"^already exists; pass --overwrite to replace it$")
    assert out.read_bytes() == b"previous"
    code, lines = run_cli(capsys, good, "-o", out, "--overwrite", *FAST)
    assert code == 0, lines
    assert output_times(out)[0] == (160, 120)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


# ------------------------------------------------------- weights (item 6)

def _small_checkpoint(path: Path, **changes) -> Path:
    """A bball-annotate/1 checkpoint whose tensors do not make an r2plus1d_tiny (cheap to write)."""
    payload = {"format": "bball-annotate/1", "arch": "r2plus1d_tiny", "labels": ["run", "walk", "shoot"],
               "clip": {"frames": 16, "size": [112, 112]},
               "state_dict": {"fc.weight": torch.zeros(3, 512), "fc.bias": torch.zeros(3)}, "metrics": {}}
    payload.update(changes)
    torch.save(payload, path)
    return path


def _garbage(path: Path, n: int = 4096) -> Path:
    path.write_bytes(np.random.default_rng(3).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize(
    "flag, make, cause",
    [
        ("--weights", lambda d: d / "missing.tflite", r"^detector weights not found"),
        ("--weights", lambda d: _garbage(d / "yolov8n_int8.tflite"), r"does not match the weights manifest"),
        ("--weights", lambda d: _garbage(d / "mine.pt"), r"^not a loadable YOLO weights file"),
        ("--weights", lambda d: _small_checkpoint(d / "action.pt"), r"^not a loadable YOLO weights file"),
        ("--action-model", lambda d: d / "missing.pt", r"^action model not found"),
        ("--action-model", lambda d: _garbage(d / "action.pt"),
         r"^is not a PyTorch checkpoint \(neither a torch\.save archive nor a pickle\); expected a checkpoint"),
        ("--action-model", lambda d: _small_checkpoint(d / "action.pt"), r"^weights do not fit r2plus1d_tiny"),
        ("--action-model", lambda d: _small_checkpoint(d / "action.pt", arch="resnet9000"),
         r"unknown architecture 'resnet9000'"),
    ],
    ids=["detector_missing", "detector_manifest_sha_mismatch", "detector_garbage", "detector_is_not_yolo",
         "action_missing", "action_garbage", "action_wrong_architecture", "action_unknown_architecture"],
)
def test_bad_weights_fail_clearly_and_never_run(tmp_path, capsys, good, flag, make, cause):
    weights = make(tmp_path)
    out = tmp_path / "o" / "out.mp4"
    argv = [good, "-o", out, "--json", *FAST]
    if flag == "--weights":
        argv[argv.index("yolov8n.yaml")] = weights
    else:
        argv += [flag, weights]
    code, lines = run_cli(capsys, *argv)
    lines = [ln for ln in lines if ln.startswith("bball-annotate:")]  # ultralytics may log a warning first
    assert_error(code, lines, WEIGHTS, weights, cause)
    assert not out.parent.exists() or not any(out.parent.iterdir()), "nothing ran, nothing was written"


def test_action_checkpoint_sha256_is_checked(tmp_path, capsys, good):
    ckpt = _small_checkpoint(tmp_path / "action.pt")
    side = tmp_path / "action.pt.sha256"
    side.write_text(f"{'0' * 64}  action.pt\n")  # what bball-train wrote for another file
    code, lines = run_cli(capsys, good, "-o", tmp_path / "o" / "out.mp4", "--action-model", ckpt, *FAST)
    assert_error(code, lines, WEIGHTS, ckpt, r"^sha256 does not match action\.pt\.sha256")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": [{"name": "action.pt", "kind": "action", "sha256": "f" * 64,
                                               "labels": ["run", "walk", "shoot"], "source": "test"}]}))
    side.unlink()
    with pytest.raises(WeightsError, match="does not match the weights manifest"):
        verify_weights(ckpt, manifest=manifest)
    manifest.write_text(json.dumps({"files": [{"name": "action.pt", "kind": "action", "sha256": sha(ckpt)}]}))
    assert verify_weights(ckpt, manifest=manifest) == sha(ckpt)


def test_project_manifest_pins_the_shared_detector(tflite_weights):
    entries = json.loads((REPO / "weights" / "manifest.json").read_text())["files"]
    pinned = {e["name"]: e["sha256"] for e in entries}
    assert pinned["yolov8n_int8.tflite"] == sha(tflite_weights)
    assert verify_weights(tflite_weights) == pinned["yolov8n_int8.tflite"]


# ------------------------------------------------------- no people / 40 people (real detector)

GRID = (8, 5)  # columns, rows: 40 cells


@pytest.fixture(scope="module")
def crowd_videos(tmp_path_factory, nba_clip, tflite_weights) -> tuple[Path, Path]:
    """A 640x480 clip of 40 people (NBA players cut out where the TFLite detector found them, tiled
    one per cell over a court texture) and the same court with nobody on it."""
    from tracker.tracking.detector import Detector

    detector = Detector(tflite_weights, device="cpu")
    with av.open(str(nba_clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i % 20 == 0 and i < 160]
    crops = []
    for img, dets in zip(frames, detector(frames)):
        for (x1, y1, x2, y2), conf in zip(dets.xyxy, dets.confidence):
            h, w = y2 - y1, x2 - x1
            if conf > 0.75 and h >= 60 and 1.6 <= h / w <= 4:  # clear, whole, upright people
                m = int(0.1 * h)
                crops.append(img[max(0, int(y1) - m) : int(y2) + m, max(0, int(x1) - m) : int(x2) + m])
    assert len(crops) >= 3, "the NBA clip should give a few clear player crops"
    width, height = 640, 480
    cw, ch = width // GRID[0], height // GRID[1]
    people, empty = [], []
    for t in range(12):
        shift = t % 3 - 1  # a little camera shake
        court = court_texture(width, height, seed=1)
        canvas = court.copy()
        for k in range(GRID[0] * GRID[1]):
            crop = crops[k % len(crops)]
            crop = crop[:, ::-1] if (k // len(crops)) % 2 else crop
            s = min((cw - 8) / crop.shape[1], (ch - 8) / crop.shape[0])
            im = cv2.resize(crop, (int(crop.shape[1] * s), int(crop.shape[0] * s)), interpolation=cv2.INTER_AREA)
            r, col = divmod(k, GRID[0])
            y, x = r * ch + (ch - im.shape[0]) // 2, col * cw + (cw - im.shape[1]) // 2 + shift
            canvas[y : y + im.shape[0], x : x + im.shape[1]] = im
        people.append(canvas)
        empty.append(np.roll(court, shift, axis=1))
    d = tmp_path_factory.mktemp("crowd")
    return write_video(d / "forty.mp4", people), write_video(d / "nobody.mp4", empty)


def test_forty_people_are_all_tracked(tmp_path, capsys, crowd_videos, tflite_weights):
    src = crowd_videos[0]
    out = tmp_path / "o" / "out.mp4"
    code, lines = run_cli(capsys, src, "-o", out, "--json", "--weights", tflite_weights, "--no-progress",
                          "--device", "cpu")
    doc = _check_ok(code, [ln for ln in lines if ln.startswith("bball-annotate:")], out)
    players = doc["players"]
    cells = []
    for p in players:
        boxes = np.asarray(p["boxes"])[:, 1:]
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        cell = set(zip((cx // (640 // GRID[0])).astype(int).tolist(), (cy // (480 // GRID[1])).astype(int).tolist()))
        assert len(cell) == 1, f"player {p['id']} wandered across cells: {cell}"
        cells.append(cell.pop())
    assert len(players) >= 38, f"{len(players)} players tracked of 40"
    assert len(set(cells)) == len(cells), "one ID per person"
    assert doc["summary"]["mean_players_per_frame"] >= 34
    assert len(output_times(out)[1]) == 12


def test_nobody_on_court(tmp_path, capsys, crowd_videos, tflite_weights):
    src = crowd_videos[1]
    out = tmp_path / "o" / "out.mp4"
    code, lines = run_cli(capsys, src, "-o", out, "--json", "--weights", tflite_weights, "--no-progress",
                          "--device", "cpu")
    doc = _check_ok(code, [ln for ln in lines if ln.startswith("bball-annotate:")], out)
    assert doc["players"] == [] and doc["video"]["frames"] == 12
    assert len(output_times(out)[1]) == 12
