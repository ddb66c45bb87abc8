"""Is memory flat in video length? Peak RSS after 1 minute and after 10 minutes of game.

Writes a synthetic low-resolution game (default 10 minutes, 160x120 at 30 fps:
a textured court and ``--players`` people running on smooth closed paths for the
whole game, with an AAC track), then runs :class:`pipeline.core.Pipeline` over it
(video + JSON + CSV outputs, the default kinematic recogniser, ByteTrack) and
samples the process's resident memory as the video goes by:

* ``peak@1min`` / ``peak@10min``: peak RSS (``getrusage`` ``ru_maxrss``) once the
  1st / the last minute of video has been decoded and detected;
* ``+exports``: the peak once the JSON, CSV and video are written at the end;
* ``rss@min k``: the current RSS at every minute (psutil), to see a trend.

Detectors (``--detector``):

* ``random``: YOLOv8n built from ultralytics' bundled ``yolov8n.yaml`` with random
  weights: the real model at ``--imgsz``, but it finds nobody, so nothing is
  tracked downstream;
* ``replay``: the drawn players' true boxes, handed out per frame (no model):
  every player is tracked for the whole game, which is what stresses the
  tracker, tubes, windows, recogniser and timeline;
* ``tflite``: the shared int8 YOLOv8n (``../shared/weights/yolov8n_int8.tflite``)
  at ``--imgsz``; slow on CPU, so best with fewer ``--minutes``.

Each detector runs in its own process (peaks do not mix). Examples::

    python bench/memory_long_game.py                         # random and replay, 10 minutes each
    python bench/memory_long_game.py --detector replay --minutes 2

The issue's bar: growth (peak@10min - peak@1min) under 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MB = 1024 * 1024


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MB


def player_boxes(t: np.ndarray | int, size: tuple[int, int], n: int) -> np.ndarray:
    """``(n, 4)`` xyxy boxes of the ``n`` players on frame ``t``: Lissajous paths that never leave the frame."""
    w, h = size
    pw, ph = max(6, w // 16), max(14, h // 5)
    k = np.arange(n)
    phase = 2 * np.pi * k / max(n, 1)
    period = 240.0 + 37.0 * k  # frames
    cx = w / 2 + (w / 2 - pw) * 0.9 * np.sin(2 * np.pi * t / period + phase)
    cy = h / 2 + (h / 2 - ph / 2 - 1) * 0.8 * np.sin(4 * np.pi * t / (period * 1.3) + 2 * phase)
    return np.stack([cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2], axis=1).round().astype(np.float32)


def make_game(path: Path, minutes: float, size: tuple[int, int], fps: int, players: int) -> int:
    """Encode the synthetic game; return its frame count."""
    import av
    import cv2

    from tests.synth import PALETTE, _write_tone, court_texture

    n = int(round(minutes * 60 * fps))
    court = court_texture(*size, seed=0)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        v.options = {"preset": "ultrafast", "crf": "23"}
        a = out.add_stream("aac", rate=44100, layout="mono")
        done = 0
        for t in range(n):
            img = court.copy()
            for i, (x1, y1, x2, y2) in enumerate(player_boxes(t, size, players).astype(int)):
                cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), PALETTE[i % len(PALETTE)], -1)
                cv2.rectangle(img, (x1 + 1, y1), (x2 - 2, y1 + (y2 - y1) // 5), (120, 160, 210), -1)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = t, Fraction(1, fps)
            out.mux(v.encode(frame))
            done = _write_tone(out, a, done, (t + 1) / fps)
        out.mux(v.encode())
        out.mux(a.encode())
    return n


class ReplayDetector:
    """The drawn players' boxes, frame after frame (class 0, confidence 0.9)."""

    def __init__(self, size: tuple[int, int], players: int) -> None:
        self.size, self.players, self.next = size, players, 0
        self.weights = "replay"

    def __call__(self, frames):
        import supervision as sv

        out = []
        for _ in frames:
            boxes = player_boxes(self.next, self.size, self.players)
            out.append(sv.Detections(xyxy=boxes, confidence=np.full(len(boxes), 0.9, np.float32),
                                     class_id=np.zeros(len(boxes), np.int64)))
            self.next += 1
        return out


class Sampler:
    """Wraps a detector; notes memory when each minute of video has gone through it."""

    def __init__(self, detector, fps: float, total: int) -> None:
        self.detector, self.fps, self.total = detector, fps, total
        self.weights = getattr(detector, "weights", "?")
        self.seen = 0
        self.minutes: list[tuple[int, float, float]] = []  # (minute, rss, peak)

    def __call__(self, frames):
        out = self.detector(frames)
        before = self.seen
        self.seen += len(frames)
        per_min = int(round(60 * self.fps))
        if self.seen // per_min > before // per_min or self.seen == self.total:
            self.minutes.append((int(np.ceil(self.seen / per_min)), rss_mb(), peak_rss_mb()))
        return out


def run_one(args: argparse.Namespace) -> dict:
    from pipeline.core import Pipeline
    from pipeline.video.reader import VideoReader

    size = tuple(int(x) for x in args.size.split("x"))
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    video = work / f"game_{args.minutes:g}min_{size[0]}x{size[1]}.mp4"
    t0 = time.perf_counter()
    if not video.exists():
        make_game(video, args.minutes, size, args.fps, args.players)
    make_s = time.perf_counter() - t0
    with VideoReader(video) as r:
        info = r.info
    if args.detector == "replay":
        detector = ReplayDetector(size, args.players)
    else:
        from tracker.tracking.detector import Detector

        weights = "yolov8n.yaml" if args.detector == "random" else str(REPO.parent / "shared/weights/yolov8n_int8.tflite")
        detector = Detector(weights, imgsz=args.imgsz, device="cpu")
    sampler = Sampler(detector, info.fps, info.frame_count)
    out = work / f"out_{args.detector}"
    start_rss, start_peak = rss_mb(), peak_rss_mb()
    t0 = time.perf_counter()
    report = Pipeline(sampler, batch_size=8).run(video, output=out / "game.mp4", json=out / "game.json",
                                                 csv=out / "game.csv", overwrite=True)
    run_s = time.perf_counter() - t0
    final_peak = peak_rss_mb()
    first = next(m for m in sampler.minutes if m[0] >= 1)
    last = sampler.minutes[-1]
    return {
        "detector": args.detector, "minutes": args.minutes, "size": list(size), "fps": args.fps,
        "frames": report.frames, "players_tracked": report.summary["unique_ids"],
        "mean_players_per_frame": report.summary["mean_players_per_frame"],
        "rss_before_run_mb": round(start_rss, 1), "peak_before_run_mb": round(start_peak, 1),
        "peak_at_1min_mb": round(first[2], 1), "peak_at_end_mb": round(last[2], 1),
        "growth_1_to_end_mb": round(last[2] - first[2], 1), "peak_with_exports_mb": round(final_peak, 1),
        "rss_by_minute_mb": [round(m[1], 1) for m in sampler.minutes],
        "json_mb": round((out / "game.json").stat().st_size / MB, 2),
        "make_video_s": round(make_s, 1), "run_s": round(run_s, 1), "pipeline_fps": round(report.frames / run_s, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--detector", choices=["random", "replay", "tflite", "all"], default="all",
                   help="all = random then replay, each in its own process")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--size", default="160x120")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--players", type=int, default=10)
    p.add_argument("--imgsz", type=int, default=160, help="detector input size (random/tflite)")
    p.add_argument("--workdir", default=None, help="where the video and outputs go (default: a temp folder)")
    args = p.parse_args()
    if args.detector != "all":
        if args.workdir is None:
            args.workdir = tempfile.mkdtemp(prefix="bball-mem-")
        print(json.dumps(run_one(args)))
        return
    with tempfile.TemporaryDirectory(prefix="bball-mem-") as work:
        rows = []
        for det in ("random", "replay"):
            cmd = [sys.executable, __file__, "--detector", det, "--minutes", str(args.minutes), "--size", args.size,
                   "--fps", str(args.fps), "--players", str(args.players), "--imgsz", str(args.imgsz),
                   "--workdir", args.workdir or work]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
            if proc.returncode:
                sys.exit(f"{det} failed:\n{proc.stderr[-3000:]}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"{'detector':<8} {'frames':>6} {'players':>7} {'peak@1min':>10} {'peak@end':>9} {'growth':>7} "
          f"{'+exports':>9} {'fps':>6}  rss by minute (MB)")
    for r in rows:
        print(f"{r['detector']:<8} {r['frames']:>6} {r['players_tracked']:>7} {r['peak_at_1min_mb']:>10} "
              f"{r['peak_at_end_mb']:>9} {r['growth_1_to_end_mb']:>7} {r['peak_with_exports_mb']:>9} "
              f"{r['pipeline_fps']:>6}  {r['rss_by_minute_mb']}")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
