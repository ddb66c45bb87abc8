"""Folder batches on the local backend: failures isolated, manifest, resume, --overwrite, kill + resume.

Real pieces throughout: synthetic H.264 videos written here, ultralytics' YOLOv8n built
from its yaml (random weights: a real model that finds nothing, fast), the real CLI.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import EXIT_BATCH_FAILED, main
from pipeline.manifest import MANIFEST_NAME, Manifest, VideoResult, verify_video
from tests.synth import linear_path, make_video, player

REPO = Path(__file__).resolve().parents[2]
FAST = ["--weights", "yolov8n.yaml", "--device", "cpu", "--imgsz", "160", "--no-progress"]


def make_games(folder: Path, n_frames: tuple[int, ...] = (24, 24, 24), corrupt: bool = True) -> list[Path]:
    """``g0.mp4 ...`` small synthetic games (one running player each) plus, optionally, a corrupt ``bad.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = []
    for i, n in enumerate(n_frames):
        path = folder / f"g{i}.mp4"
        make_video(path, size=(160, 128), n_frames=n, fps=12.0, seed=i,
                   objects=[player(1, linear_path(n, 12.0, (30.0 + 10 * i, 64.0), (40.0, 0.0)))])
        videos.append(path)
    if corrupt:
        good = videos[0].read_bytes()
        (folder / "bad.mp4").write_bytes(b"\x00" * 64 + good[len(good) // 2:])  # no header, half a stream
    return videos


def by_name(manifest: Path) -> dict[str, list[VideoResult]]:
    out: dict[str, list[VideoResult]] = {}
    for r in Manifest(manifest).read():
        out.setdefault(Path(r.input).name, []).append(r)
    return out


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != MANIFEST_NAME}


def test_bad_file_among_good_ones_then_resume_then_overwrite(tmp_path, capsys):
    games, out = tmp_path / "games", tmp_path / "out"
    make_games(games)
    argv = [str(games), "-o", str(out), "--json", "--csv", *FAST]

    assert main(argv) == EXIT_BATCH_FAILED
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "bad.mp4" in err and "3 done, 1 failed" in err
    runs = by_name(out / MANIFEST_NAME)
    assert sorted(runs) == ["bad.mp4", "g0.mp4", "g1.mp4", "g2.mp4"]
    bad = runs["bad.mp4"][-1]
    assert (bad.status, bad.error_type, bad.exit_code) == ("failed", "InputVideoError", 3)
    assert "bad.mp4" in bad.error and not (out / "bad.mp4").exists()
    for name in ("g0", "g1", "g2"):
        r = runs[f"{name}.mp4"][-1]
        assert (r.status, r.frames, r.backend) == ("done", 24, "local")
        assert r.fps == pytest.approx(r.frames / r.seconds, rel=0.01)
        assert verify_video(out / f"{name}.mp4", 24) is None
        assert json.loads((out / f"{name}.json").read_text())["video"]["frames"] == 24
        assert set(r.outputs) == {"json", "csv"}
    before = mtimes(out)

    # same command again: the 3 done videos are skipped, the bad one is tried (and fails) again
    assert main(argv) == EXIT_BATCH_FAILED
    err = capsys.readouterr().err
    assert "0 done, 1 failed, 3 skipped" in err
    assert mtimes(out) == before
    runs = by_name(out / MANIFEST_NAME)
    assert [len(runs[n]) for n in ("bad.mp4", "g0.mp4", "g1.mp4", "g2.mp4")] == [2, 1, 1, 1]

    # a damaged output is redone, the others are not
    (out / "g1.mp4").write_bytes((out / "g1.mp4").read_bytes()[:2000])
    assert main(argv) == EXIT_BATCH_FAILED
    capsys.readouterr()
    after = mtimes(out)
    assert after["g1.mp4"] != before["g1.mp4"] and verify_video(out / "g1.mp4", 24) is None
    assert after["g0.mp4"] == before["g0.mp4"] and after["g2.mp4"] == before["g2.mp4"]

    assert main([*argv, "--overwrite"]) == EXIT_BATCH_FAILED
    capsys.readouterr()
    redone = mtimes(out)
    assert all(redone[f"g{i}.mp4"] != after[f"g{i}.mp4"] for i in range(3))
    runs = by_name(out / MANIFEST_NAME)
    assert [len(runs[f"g{i}.mp4"]) for i in range(3)] == [2, 3, 2]
    assert not list(out.glob(".*partial*"))


def test_killed_run_resumes_without_redoing_finished_videos(tmp_path):
    games, out = tmp_path / "games", tmp_path / "out"
    make_games(games, n_frames=(24, 96, 96), corrupt=False)
    argv = [str(games), "-o", str(out), "--json", *FAST]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *argv], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / MANIFEST_NAME
    deadline = time.monotonic() + 120
    while not (manifest.exists() and manifest.read_text().count('"done"')) and proc.poll() is None:
        assert time.monotonic() < deadline, "the first video never finished"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    first = by_name(manifest)
    done_before = {n for n, rs in first.items() if rs[-1].status == "done"}
    assert "g0.mp4" in done_before and len(done_before) < 3
    finished_mtimes = {n: (out / n).stat().st_mtime_ns for n in done_before}

    # started again (as a user would, in a fresh process, which must not even import Ray)
    code = ("import sys; from pipeline.cli import main; rc = main(sys.argv[1:]); "
            "assert 'ray' not in sys.modules, 'the local backend imported ray'; sys.exit(rc)")
    rerun = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(done_before)} skipped" in rerun.stderr
    runs = by_name(manifest)
    assert sorted(runs) == ["g0.mp4", "g1.mp4", "g2.mp4"]
    for name, rs in runs.items():
        assert [r.status for r in rs] == ["done"], name  # each finished exactly once
        assert verify_video(out / name, rs[-1].frames) is None
    assert {n: (out / n).stat().st_mtime_ns for n in done_before} == finished_mtimes
    assert not [p.name for p in out.iterdir() if "partial" in p.name]  # the killed run's temp file is gone


def test_backend_ray_without_ray_says_how_to_install(tmp_path, capsys, monkeypatch):
    games = tmp_path / "games"
    make_games(games, n_frames=(8,), corrupt=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets on a base install
    rc = main([str(games), "-o", str(tmp_path / "out"), "--backend", "ray", *FAST])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'pip install "bball-annotate[ray]"' in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, cause", [
    (["--address", "auto"], "--address needs --backend ray"),
    (["--gpus-per-video", "1"], "--gpus-per-video needs --backend ray"),
    (["--json", "one.json"], "without a path"),
])
def test_usage_errors(tmp_path, capsys, extra, cause):
    games = tmp_path / "games"
    make_games(games, n_frames=(8,), corrupt=False)
    assert main([str(games), "-o", str(tmp_path / "out"), *extra, *FAST]) == 2
    err = capsys.readouterr().err
    assert cause in err and err.startswith("bball-annotate: error:")


def test_output_folder_equal_to_input_is_refused(tmp_path, capsys):
    make_games(tmp_path, n_frames=(8,), corrupt=False)
    assert main([str(tmp_path), "-o", str(tmp_path), *FAST]) == 2
    assert "must differ from the input folder" in capsys.readouterr().err


def test_manifest_survives_a_torn_last_line(tmp_path):
    m = Manifest(tmp_path / MANIFEST_NAME)
    m.append(VideoResult(input="/a.mp4", output="/o/a.mp4", status="failed", error="x"))
    with open(m.path, "a") as f:
        f.write('{"input": "/b.mp4", "outp')  # killed mid-write
    m.append(VideoResult(input="/a.mp4", output="/o/a.mp4", status="done", frames=5))
    assert [(r.input, r.status) for r in m.read()] == [("/a.mp4", "failed"), ("/a.mp4", "done")]
    assert m.latest()["/a.mp4"].frames == 5
    assert m.path.read_text().count("\n") == 3


def test_verify_video_checks_count_and_decoding(tmp_path):
    path = tmp_path / "v.mp4"
    make_video(path, size=(64, 48), n_frames=40, fps=10.0)
    assert verify_video(path, 40) is None
    assert "40 frames, expected 41" in verify_video(path, 41)
    assert "missing" in verify_video(tmp_path / "nope.mp4", 40)
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert "empty" in verify_video(tmp_path / "empty.mp4", 40)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert verify_video(cut, 40) is not None
    noisy = tmp_path / "noisy.mp4"
    rng = np.random.default_rng(0)
    noisy.write_bytes(rng.integers(0, 256, len(data), dtype=np.uint8).tobytes())
    assert verify_video(noisy, 40) is not None
