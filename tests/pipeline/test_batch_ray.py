"""Folder batches on a real local Ray cluster (2 CPUs): same manifest and outputs as the local backend,
Ctrl-C cancels the outstanding tasks cleanly, and the next run resumes.

The detector is a real YOLOv8n built from ultralytics' yaml with seeded random weights whose
"person" logit bias is raised, saved to a .pt in the test: every process that loads it gets the
same weights, and it reports a fixed set of boxes, so the timelines compared are not empty.
"""

from __future__ import annotations

import _thread
import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import EXIT_BATCH_FAILED, EXIT_INTERRUPTED, main
from pipeline.manifest import MANIFEST_NAME, Manifest
from tests.synth import linear_path, make_video, player, read_frames

COMMON = ["--device", "cpu", "--imgsz", "160", "--no-progress"]


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed (it is in the test extra)")
        pytest.skip("ray is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A YOLOv8n checkpoint with seeded random weights that finds ~20 fixed 'people' per frame."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    with torch.no_grad():
        for branch in model.model.model[-1].cv3:  # Detect head, class logits per scale
            branch[-1].bias[0] = 2.0  # class 0 (person): sigmoid(2) = 0.88 > --conf
    path = tmp_path_factory.mktemp("weights") / "yolov8n_fixed_people.pt"
    model.save(str(path))
    return path


def make_games(folder: Path, n_frames: tuple[int, ...], corrupt: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(n_frames):
        make_video(folder / f"g{i}.mp4", size=(160, 128), n_frames=n, fps=12.0, seed=i,
                   objects=[player(1, linear_path(n, 12.0, (30.0 + 10 * i, 64.0), (40.0, 0.0)))])
    if corrupt:
        good = (folder / "g0.mp4").read_bytes()
        (folder / "bad.mp4").write_bytes(b"\x00" * 64 + good[len(good) // 2:])


def latest(out: Path) -> dict:
    return {Path(i).name: r for i, r in Manifest(out / MANIFEST_NAME).latest().items()}


def comparable(doc: dict) -> dict:
    """The JSON timeline without what legitimately differs between runs (timings)."""
    doc = json.loads(json.dumps(doc))
    doc["summary"].pop("seconds")
    doc["summary"].pop("fps")
    doc["summary"].pop("stages")
    return doc


def assert_close(a, b, where="$"):
    """Same structure and values; floats within 0.01 (thread counts may change float summation order)."""
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=0.01), where
    else:
        assert a == b, where


def test_ray_backend_matches_local_backend(ray_cluster, weights, tmp_path, capsys):
    games = tmp_path / "games"
    make_games(games, (24, 24, 24), corrupt=True)
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    opts = ["--weights", str(weights), "--json", "--csv", *COMMON]

    assert main([str(games), "-o", str(ray_out), "--backend", "ray", "--cpus-per-video", "1",
                 "--gpus-per-video", "0", *opts]) == EXIT_BATCH_FAILED
    err = capsys.readouterr().err
    assert "3 done, 1 failed" in err and "Traceback" not in err
    assert main([str(games), "-o", str(local_out), *opts]) == EXIT_BATCH_FAILED
    capsys.readouterr()

    on_ray, on_local = latest(ray_out), latest(local_out)
    assert {n: r.status for n, r in on_ray.items()} == {"bad.mp4": "failed", "g0.mp4": "done", "g1.mp4": "done",
                                                       "g2.mp4": "done"}
    assert {n: r.status for n, r in on_local.items()} == {n: r.status for n, r in on_ray.items()}
    assert on_ray["bad.mp4"].error_type == "InputVideoError" and on_ray["bad.mp4"].exit_code == 3
    assert {r.backend for r in on_ray.values()} == {"ray"}
    assert not (ray_out / "bad.mp4").exists()

    players = 0
    for name in ("g0", "g1", "g2"):
        assert on_ray[f"{name}.mp4"].frames == on_local[f"{name}.mp4"].frames == 24
        doc_ray = json.loads((ray_out / f"{name}.json").read_text())
        doc_local = json.loads((local_out / f"{name}.json").read_text())
        assert_close(comparable(doc_ray), comparable(doc_local))
        players += len(doc_ray["players"])
        with open(ray_out / f"{name}.csv") as a, open(local_out / f"{name}.csv") as b:
            rows_a, rows_b = list(csv.reader(a)), list(csv.reader(b))
        assert len(rows_a) == len(rows_b) > 1
        frames_ray, frames_local = read_frames(ray_out / f"{name}.mp4"), read_frames(local_out / f"{name}.mp4")
        assert len(frames_ray) == len(frames_local) == 24
        diff = np.abs(np.stack(frames_ray).astype(int) - np.stack(frames_local).astype(int))
        assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 8
    assert players > 0  # the comparison covered real timelines, not empty ones


def test_ctrl_c_cancels_outstanding_tasks_and_the_next_run_resumes(ray_cluster, weights, tmp_path, capsys):
    games, out = tmp_path / "games", tmp_path / "out"
    make_games(games, (12, 180, 180), corrupt=False)  # g0 finishes long before g1 and g2
    argv = [str(games), "-o", str(out), "--backend", "ray", "--cpus-per-video", "1", "--weights", str(weights),
            "--json", *COMMON]
    manifest = out / MANIFEST_NAME
    stop = threading.Event()

    def interrupt_after_first_video() -> None:  # Ctrl-C, as the terminal would send it
        while not stop.is_set():
            if manifest.exists() and '"done"' in manifest.read_text():
                _thread.interrupt_main()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_after_first_video, daemon=True)
    watcher.start()
    handler = signal.getsignal(signal.SIGINT)
    try:
        rc = main(argv)
    finally:
        stop.set()
        watcher.join()
    err = capsys.readouterr().err
    assert rc == EXIT_INTERRUPTED, err[-2000:]
    # called in-process, the CLI gives Ctrl-C back (processes started later would inherit an ignored SIGINT)
    assert signal.getsignal(signal.SIGINT) is handler
    assert "run the same command again to resume" in err
    first = latest(out)
    assert list(first) == ["g0.mp4"] and first["g0.mp4"].status == "done"
    assert sorted(p.name for p in out.iterdir()) == ["g0.json", "g0.mp4", MANIFEST_NAME]  # no partial outputs
    deadline = time.monotonic() + 30  # the cancelled tasks gave their CPUs back
    while ray_cluster.available_resources().get("CPU", 0) < 2:
        assert time.monotonic() < deadline, ray_cluster.available_resources()
        time.sleep(0.2)
    g0_mtime = (out / "g0.mp4").stat().st_mtime_ns

    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 done, 0 failed, 1 skipped" in err
    runs = Manifest(manifest).read()
    assert sorted((Path(r.input).name, r.status) for r in runs) == [("g0.mp4", "done"), ("g1.mp4", "done"),
                                                                      ("g2.mp4", "done")]
    assert (out / "g0.mp4").stat().st_mtime_ns == g0_mtime
    assert latest(out)["g1.mp4"].frames == 180


def test_a_killed_worker_is_retried_and_the_video_still_comes_out_whole(ray_cluster, weights, tmp_path, capsys):
    """A worker process dying mid-video (OOM killer, node trouble) is retried; its temp files are swept."""
    import psutil

    games, out = tmp_path / "games", tmp_path / "out"
    make_games(games, (150,), corrupt=False)
    argv = [str(games), "-o", str(out), "--backend", "ray", "--cpus-per-video", "1", "--weights", str(weights),
            "--json", *COMMON]
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_worker_mid_video() -> None:
        while not stop.is_set() and not killed:
            if out.is_dir() and any(p.name.endswith(".partial.mp4") for p in out.iterdir()):
                for proc in psutil.process_iter(["pid", "cmdline"]):
                    if "_ray_task" in " ".join(proc.info["cmdline"] or []):
                        proc.kill()
                        killed.append(proc.pid)
                        return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_worker_mid_video, daemon=True)
    killer.start()
    try:
        rc = main(argv)
    finally:
        stop.set()
        killer.join()
    err = capsys.readouterr().err
    assert killed, "no worker was found running the video"
    assert rc == 0, err[-2000:]
    result = latest(out)["g0.mp4"]
    assert result.status == "done" and result.frames == 150
    assert sorted(p.name for p in out.iterdir()) == ["g0.json", "g0.mp4", MANIFEST_NAME]  # the dead try's temp files
    assert len(read_frames(out / "g0.mp4")) == 150
