"""Issue 6, item 4: outputs appear whole or not at all, also when the run is interrupted.

A real ``python -m pipeline`` subprocess is stopped with SIGINT and with SIGTERM
while it is encoding the video (its temp file is growing): it must print one
short line, exit 130 and leave nothing in the output folder, temp files
included. In-process: an interrupt inside the detector, a real SIGINT while the
main thread waits on a worker thread (raised between steps, never inside the
queue: that corrupted the queue's locks, hung the run or let cleanup free the
decoder under its thread, a segfault), and an output folder that becomes
unusable after the video was finished (all outputs or none).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from pipeline.core import Pipeline
from tests.conftest import REPO
from tests.pipeline.test_io import pattern_frames, write_video
from tracker.tracking.detector import Detector
from tracker.common.errors import OutputError

FAST = ["--weights", "yolov8n.yaml", "--imgsz", "64", "--device", "cpu", "--no-progress"]
INTERRUPTED = "bball-annotate: interrupted; no output was written and any previous outputs are unchanged"


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """2 min of 160x96 video: far longer than the time it takes to interrupt it, also on a loaded machine."""
    frames = pattern_frames(30, 160, 96)
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", frames * 120, audio=True)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, long_video) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Start one run per case (together: start-up dominates), signal each once its video temp file grows.

    "SIGINT-repeated" is Ctrl-C pressed again and again: every 10 ms until the process has exited, so that
    some land while it is cleaning up.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cases = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGINT-repeated": signal.SIGINT}
    runs = {}
    for case, sig in cases.items():
        out_dir = tmp_path_factory.mktemp(case)
        cmd = [sys.executable, "-m", "pipeline", str(long_video), "-o", str(out_dir / "game.mp4"),
               "--json", "--csv", "--plot", *FAST]
        runs[case] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True), out_dir)
    pending = dict(runs)
    deadline = time.monotonic() + 240
    while pending and time.monotonic() < deadline:
        for case, (proc, out_dir) in list(pending.items()):
            assert proc.poll() is None, f"run for {case} ended before it was interrupted: {proc.communicate()}"
            temps = [p for p in out_dir.iterdir() if p.name.endswith(".partial.mp4")]
            if temps and temps[0].stat().st_size > 0:  # mid-video: frames are being encoded
                proc.send_signal(cases[case])
                del pending[case]
        time.sleep(0.05)
    proc = runs["SIGINT-repeated"][0]
    until = time.monotonic() + 20
    while "SIGINT-repeated" not in pending and proc.poll() is None and time.monotonic() < until:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    results = {}
    for case, (proc, out_dir) in runs.items():
        if case in pending:
            proc.kill()
        stdout, stderr = proc.communicate(timeout=120)
        assert case not in pending, f"no video temp file appeared for {case}: {stderr[-2000:]}"
        results[case] = (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), out_dir)
    return results


@pytest.mark.parametrize("case", ["SIGINT", "SIGTERM", "SIGINT-repeated"])
def test_signal_mid_video_leaves_nothing_and_says_so(interrupted, case):
    proc, out_dir = interrupted[case]
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1] == INTERRUPTED, lines
    assert list(out_dir.iterdir()) == [], "no output and no temp file may remain"


class _InterruptingDetector:
    """The real detector, interrupted (as Ctrl-C would) on its ``n``-th batch."""

    def __init__(self, detector: Detector, n: int, action) -> None:
        self.detector, self.n, self.action, self.calls = detector, n, action, 0

    def __call__(self, frames):
        self.calls += 1
        if self.calls == self.n:
            self.action()
        return self.detector(frames)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector("yolov8n.yaml", imgsz=64, device="cpu")


def test_interrupt_inside_the_pipeline_removes_every_temp_file(tmp_path, detector, long_video):
    out = tmp_path / "o" / "game.mp4"

    def ctrl_c():
        assert any(out.parent.iterdir()), "the video temp file exists by now"
        raise KeyboardInterrupt

    pipe = Pipeline(_InterruptingDetector(detector, 12, ctrl_c), batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        pipe.run(long_video, output=out, json=out.with_suffix(".json"), csv=out.with_suffix(".csv"))
    assert not out.parent.exists(), "the folder the run created goes with its temp files"


class _SignallingDetector:
    """The real detector; on its ``n``-th batch, once the main thread is inside a queue operation
    (waiting for detections), it sends SIGINT to the main thread as Ctrl-C does, and again on every later batch."""

    def __init__(self, detector: Detector, n: int) -> None:
        self.detector, self.n, self.calls = detector, n, 0

    def __call__(self, frames):
        self.calls += 1
        main = threading.main_thread()
        if self.calls == self.n:
            while not _inside(main, "queue.py"):  # it has used up the detections queued so far
                time.sleep(0.001)
        if self.calls >= self.n:
            signal.pthread_kill(main.ident, signal.SIGINT)
        return self.detector(frames)


def _inside(thread: threading.Thread, module_file: str) -> bool:
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_filename.endswith(module_file):
            return True
        frame = frame.f_back
    return False


def test_ctrl_c_while_the_main_thread_waits_on_a_worker_is_raised_between_steps(tmp_path, detector):
    src = write_video(tmp_path / "in.mp4", pattern_frames(30, 160, 96) * 4)
    out = tmp_path / "o" / "game.mp4"
    handler = signal.getsignal(signal.SIGINT)
    threads_before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt) as caught:
        Pipeline(_SignallingDetector(detector, 3), batch_size=8).run(src, output=out, json=out.with_suffix(".json"))
    chain, exc = [], caught.value
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            chain.append(exc)
        exc = exc.__context__
    where = [f"{f.filename}:{f.lineno} {f.name}" for e in chain for f in traceback.extract_tb(e.__traceback__)]
    assert not [w for w in where if "/queue.py:" in w or "/threading.py:" in w], where
    assert not out.parent.exists(), "no output and no temp file may remain"
    assert signal.getsignal(signal.SIGINT) is handler
    ours = {"decode", "detect", "render", "convert", "encode"}
    left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive() and t.name in ours]
    assert not left, f"threads still running after the run: {left}"


def test_all_outputs_or_none_when_a_late_output_fails(tmp_path, detector):
    src = write_video(tmp_path / "short.mp4", pattern_frames(24, 160, 96))
    out = tmp_path / "video" / "game.mp4"
    side = tmp_path / "tables"
    side.mkdir()

    def lose_the_side_folder():  # the folder of the CSV turns into a file while the video is processed
        shutil.rmtree(side)
        side.write_text("not a folder any more")

    pipe = Pipeline(_InterruptingDetector(detector, 2, lose_the_side_folder), batch_size=8)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        pipe.run(src, output=out, json=out.with_suffix(".json"), csv=side / "game.csv")
    assert not out.parent.exists(), "the finished video and JSON are withdrawn with the failed CSV, folder too"
