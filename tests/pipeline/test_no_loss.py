"""Issue 13 (items 3 and 5-13): nothing the user had is destroyed, nothing silently wrong, one-line messages."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

import pipeline.export as export
from pipeline.core import Pipeline
from tests.conftest import REPO
from tests.pipeline.test_interrupt import _InterruptingDetector
from tests.pipeline.test_io import pattern_frames, write_video
from tests.pipeline.test_reliability import FAST, assert_error, run_cli
from tests.synth import GroundTruthDetector, linear_path, make_video, player
from tracker.common.errors import OutputError, UsageError
from tracker.common.files import OutputSet
from tracker.tracking.detector import Detector


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- 3. --overwrite never destroys

@pytest.fixture()
def previous_run(tmp_path):
    src = write_video(tmp_path / "in.mp4", pattern_frames(24, 96, 64))
    out = tmp_path / "res" / "o.mp4"
    sides = {k: out.with_suffix(s) for k, s in (("json", ".json"), ("csv", ".csv"), ("plot", ".png"))}
    detector = Detector("yolov8n.yaml", imgsz=64, device="cpu")
    Pipeline(detector, device="cpu").run(src, output=out, **sides)
    return src, out, sides, detector, snapshot(out.parent)


def test_interrupted_overwrite_keeps_the_previous_outputs(previous_run):
    src, out, sides, detector, before = previous_run

    def ctrl_c():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Pipeline(_InterruptingDetector(detector, 2, ctrl_c), batch_size=8, device="cpu").run(
            src, output=out, **sides, overwrite=True)
    assert snapshot(out.parent) == before


def test_overwrite_failing_on_the_last_output_keeps_the_previous_set(previous_run, monkeypatch):
    src, out, sides, detector, before = previous_run

    def disk_full(report, path):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(export.EXPORTERS, "plot", disk_full)
    with pytest.raises(OutputError, match="No space left on device"):
        Pipeline(detector, device="cpu").run(src, output=out, **sides, overwrite=True)
    assert snapshot(out.parent) == before, "old video, JSON, CSV and PNG all kept, no temp file left"


def test_a_failed_swap_puts_the_old_set_back(tmp_path):
    for name in ("a.json", "b.csv"):
        (tmp_path / name).write_text(f"old {name}")
    staged = OutputSet(overwrite=True)
    a, b = staged.add("json", tmp_path / "a.json"), staged.add("csv", tmp_path / "b.csv")
    a.begin().write_text("new a")
    b.begin()  # b's temp file is never written: its rename fails after a's succeeded
    with pytest.raises(OutputError, match="previous outputs are kept"):
        staged.commit()
    assert snapshot(tmp_path) == {"a.json": b"old a.json", "b.csv": b"old b.csv"}


# ---------------------------------------------------------------- 5. players from frame 0

@pytest.mark.parametrize("tracker", ["bytetrack", "sort"])
def test_players_are_reported_from_the_first_frame(tmp_path, tracker):
    n = 20
    truth = make_video(tmp_path / "g.mp4", n_frames=n, objects=[
        player(1, linear_path(n, 30.0, (60, 150), (90, 0))), player(2, linear_path(n, 30.0, (250, 150), (-75, 0)))])
    report = Pipeline(GroundTruthDetector(truth), tracker=tracker, all_people=True, teams=False, ball=False,
                      device="cpu").run(tmp_path / "g.mp4")
    assert len(report.players) == 2
    for p in report.players:
        assert p.box_rows()[0][0] == 0, f"player {p.track_id} starts at frame {p.box_rows()[0][0]}"


@pytest.mark.parametrize("n_frames", [1, 3])
def test_real_footage_reports_as_many_players_on_frame_0_as_after(tmp_path, capsys, nba_clip, tflite_weights,
                                                                  n_frames):
    import av

    with av.open(str(nba_clip)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(n_frames), c.decode(video=0))]
    src = write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "clip_annotated.mp4"
    code, lines = run_cli(capsys, src, "-o", out, "--json", "--weights", tflite_weights, "--device", "cpu",
                          "--no-progress")
    assert code == 0, lines
    doc = json.loads(out.with_suffix(".json").read_text())
    per_frame = [sum(any(b[0] == k for b in p["boxes"]) for p in doc["players"]) for k in range(n_frames)]
    assert per_frame[0] >= 2, per_frame
    assert per_frame[0] == max(per_frame), per_frame


# ---------------------------------------------------------------- 6-8. values, images, formats

@pytest.mark.parametrize("flag, value, message", [
    ("--conf", "2", r"--conf must be in \[0, 1\], got 2"),
    ("--conf", "-1", r"--conf must be in \[0, 1\], got -1"),
    ("--iou", "5", r"--iou must be in \[0, 1\], got 5"),
    ("--imgsz", "0", r"--imgsz must be in \[32, 4096\], got 0"),
    ("--imgsz", "31", r"--imgsz must be in \[32, 4096\], got 31"),
    ("--batch-size", "0", r"--batch-size must be >= 1, got 0"),
])
def test_numbers_out_of_range_are_usage_errors(tmp_path, capsys, flag, value, message):
    src = write_video(tmp_path / "v.mp4", pattern_frames(4, 96, 64))
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.mp4", *FAST, flag, value)
    assert code == 2 and len(lines) == 1 and "error: " + message.replace("\\", "") in lines[0].replace("\\", ""), lines
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_still_image_is_refused_clearly(tmp_path, capsys, suffix):
    image = tmp_path / f"photo{suffix}"
    cv2.imwrite(str(image), pattern_frames(1, 96, 64)[0])
    code, lines = run_cli(capsys, image, "-o", tmp_path / "o.mp4", *FAST)
    assert_error(code, lines, 3, image, r"still image, not a video")
    assert sorted(p.name for p in tmp_path.iterdir()) == [image.name]


def test_library_and_cli_refuse_a_non_mp4_output_alike(tmp_path, capsys):
    src = write_video(tmp_path / "v.mp4", pattern_frames(4, 96, 64))
    with pytest.raises(UsageError, match=r"must end in \.mp4"):
        Pipeline(Detector("yolov8n.yaml", imgsz=64, device="cpu"), device="cpu").run(src, output=tmp_path / "o.avi")
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.avi", *FAST)
    assert_error(code, lines, 2, tmp_path / "o.avi", r"must end in \.mp4")
    assert not (tmp_path / "o.avi").exists()


# ---------------------------------------------------------------- 9-12. messages

def test_an_unwritable_output_folder_in_folder_mode_is_an_output_error(tmp_path, capsys):
    games = tmp_path / "games"
    games.mkdir()
    write_video(games / "a.mp4", pattern_frames(4, 96, 64))
    code, lines = run_cli(capsys, games, "-o", "/proc/self", *FAST)
    assert code == 5 and len(lines) == 1 and "not writable" in lines[0], lines


def test_messages_name_the_right_option(tmp_path, capsys):
    src = write_video(tmp_path / "v.mp4", pattern_frames(6, 96, 64))
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.mp4", "--json", src, *FAST)
    assert_error(code, lines, 5, src, r"the --json path is the input video; choose another --json path")
    folder = tmp_path / "existing"
    folder.mkdir()
    code, lines = run_cli(capsys, src, "-o", folder, *FAST)
    assert_error(code, lines, 2, folder, r"is a folder; give the output video's path")
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.mp4", *FAST)
    assert code == 0 and "(6 frames; processed at " in lines[0] and lines[0].endswith(" frames/s)"), lines


def test_an_unknown_choice_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, tmp_path / "v.mp4", "--tracker", "foo")
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert exit_info.value.code == 2 and len(err) == 1 and "invalid choice: 'foo'" in err[0], err


def test_a_folder_of_subfolders_says_how_to_recurse(tmp_path, capsys):
    games = tmp_path / "games"
    (games / "week1").mkdir(parents=True)
    write_video(games / "week1" / "a.mp4", pattern_frames(4, 96, 64))
    code, lines = run_cli(capsys, games, "-o", tmp_path / "out", *FAST)
    assert_error(code, lines, 2, games, r"subfolders are not searched \(pass --recursive\)")
    code, lines = run_cli(capsys, games, "-o", tmp_path / "out", "--recursive", *FAST)
    assert code == 0 and (tmp_path / "out" / "week1" / "a.mp4").is_file(), lines


def test_library_chatter_stays_out_of_the_terminal(tmp_path, tflite_weights):
    src = write_video(tmp_path / "v.mp4", pattern_frames(4, 96, 64))
    proc = subprocess.run([sys.executable, "-m", "pipeline", str(src), "-o", str(tmp_path / "o.mp4"), "--weights",
                           str(tflite_weights), "--device", "cpu", "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "INFO" not in proc.stderr and "Loading" not in proc.stderr and "XNNPACK" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- 13. leftovers

def test_a_rerun_removes_what_a_killed_run_left(tmp_path, capsys):
    src = write_video(tmp_path / "v.mp4", pattern_frames(4, 96, 64))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".o.{dead.pid}.partial.mp4"
    stale.write_bytes(b"half a video")
    live = tmp_path / f".o.{os.getpid() + 0}.partial.json"  # our own pid: not another live run's file
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.mp4", *FAST)
    assert code == 0, lines
    assert not stale.exists() and not live.exists()


def test_a_failed_run_leaves_no_folders_it_created(tmp_path, capsys):
    src = write_video(tmp_path / "v.mp4", pattern_frames(4, 96, 64))
    out = tmp_path / "new" / "sub" / "o.mp4"
    code, lines = run_cli(capsys, src, "-o", out, "--weights", tmp_path / "missing.pt", "--no-progress")
    assert code == 4, lines
    assert not (tmp_path / "new").exists()


def test_the_audio_re_encode_notice_is_one_line(tmp_path, capsys):
    from tests.pipeline.test_media_inputs import make_av_file

    src = tmp_path / "pcm.avi"
    make_av_file(src, "mpeg4", "pcm_s16le", 48000, "stereo")
    code, lines = run_cli(capsys, src, "-o", tmp_path / "o.mp4", *FAST)
    assert code == 0, lines
    assert lines[0] == f"bball-annotate: {src}: pcm_s16le audio cannot go into a browser-playable MP4; re-encoded to AAC"
