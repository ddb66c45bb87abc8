"""Stress the interrupt path: the scenario of ``tests/pipeline/test_interrupt.py``, many times.

Each round starts three ``python -m pipeline`` runs together (as the test does) and signals each
once its video temp file is growing: SIGINT once, SIGTERM once, SIGINT every 10 ms until it exits.
Every run has ``PYTHONFAULTHANDLER=1``, so a native crash leaves every thread's stack on stderr.
It counts exit codes and keeps the stderr of every run that did not exit 130 with the one line.

    python bench/stress_interrupt.py --rounds 20 --load 1 --keep /tmp/stress

``--load N`` runs N busy processes alongside (a loaded machine, like the full test suite).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FAST = ["--weights", "yolov8n.yaml", "--imgsz", "64", "--device", "cpu", "--no-progress"]
INTERRUPTED = "bball-annotate: interrupted; no output was written and any previous outputs are unchanged"
CASES = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGINT-repeated": signal.SIGINT}


def _burn(stop) -> None:  # a busy process: numpy matrix products until told to stop
    import numpy as np

    a = np.random.rand(256, 256)
    while not stop.is_set():
        a = (a @ a) / 256.0


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a shell's background job starts with SIGINT ignored, and
    Python then keeps ignoring it (no KeyboardInterrupt), so the runs would not be interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_round(video: Path, work: Path) -> dict[str, tuple[int, str, bool]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    runs = {}
    for case in CASES:
        out_dir = work / case
        out_dir.mkdir(parents=True)
        cmd = [sys.executable, "-m", "pipeline", str(video), "-o", str(out_dir / "game.mp4"),
               "--json", "--csv", "--plot", *FAST]
        runs[case] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, preexec_fn=_default_sigint), out_dir)
    pending = dict(runs)
    deadline = time.monotonic() + 240
    while pending and time.monotonic() < deadline:
        for case, (proc, out_dir) in list(pending.items()):
            if proc.poll() is not None:
                del pending[case]
                continue
            temps = [p for p in out_dir.iterdir() if p.name.endswith(".partial.mp4")]
            if temps and temps[0].stat().st_size > 0:
                proc.send_signal(CASES[case])
                del pending[case]
        time.sleep(0.05)
    proc = runs["SIGINT-repeated"][0]
    until = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < until:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    results = {}
    for case, (proc, out_dir) in runs.items():
        try:
            _, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # hung: keep every thread's stack (py-spy, when installed), then kill
            dump = subprocess.run(["py-spy", "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                                  check=False) if shutil.which("py-spy") else None
            proc.kill()
            _, stderr = proc.communicate()
            stderr += "\n[hung: killed after 120 s]\n" + (dump.stdout if dump else "")
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        clean = proc.returncode == 130 and bool(lines) and lines[-1] == INTERRUPTED and not any(out_dir.iterdir())
        results[case] = (proc.returncode, stderr, clean)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--load", type=int, default=1, help="busy processes alongside")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the stderr of the runs that failed")
    args = ap.parse_args()
    from tests.pipeline.test_io import pattern_frames, write_video

    tmp = Path(tempfile.mkdtemp(prefix="stress-interrupt-"))
    video = write_video(tmp / "long.mp4", pattern_frames(30, 160, 96) * 120, audio=True)
    keep = args.keep or tmp / "failures"
    keep.mkdir(parents=True, exist_ok=True)
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    codes: collections.Counter = collections.Counter()
    failed = 0
    try:
        for r in range(args.rounds):
            for case, (code, stderr, clean) in one_round(video, tmp / f"r{r}").items():
                codes[(case, code)] += 1
                if not clean:
                    failed += 1
                    (keep / f"r{r}-{case}-rc{code}.txt").write_text(stderr)
                    print(f"round {r} {case}: exit {code}; stderr in {keep}", flush=True)
    finally:
        stop.set()
        for b in burners:
            b.join(timeout=5)
    runs = args.rounds * len(CASES)
    print(f"{runs} runs, {failed} not clean; exit codes: "
          + ", ".join(f"{case} {code}: {n}" for (case, code), n in sorted(codes.items())))


if __name__ == "__main__":
    main()
