"""Fast path vs naive pipeline, in one process, on a game-like video (issue 5).

(a) naive: PyAV decode in the main thread, ultralytics ``YOLO.track`` frame by frame,
    one R(2+1)D call per player per window on OpenCV crops made on the CPU, OpenCV
    drawing, libx264 encode, all sequential;
(b) ours: ``Pipeline`` with threaded decode, the detector on frame tensors already on
    the device (letterbox/NMS there, fp16 with --half), ``roi_align`` crops of all ready
    windows in one batched R(2+1)D call, drawing, conversion and encoding each in its own
    thread (h264_nvenc when the device is CUDA and the encoder opens); run twice: as a user
    gets it (with issue 8's on-court filter, team colours and ball), and "ours-lean" without
    them (``--all-people --no-teams --no-ball``), which is the work the naive baseline does.

Both see the same players: the detector runs for real (its cost is measured) but,
as the weights are random, the boxes handed on are the video's known player boxes
(10 players), so tracking and action recognition do the work a real game gives them.
The R(2+1)D weights are random too (speed does not depend on them).

Prints fps per stage and end to end, the speed-up and peak GPU memory. Examples:

    python bench/fast_path.py --device cuda --half --size 1920x1080 --frames 600      # H100
    python bench/fast_path.py --device cpu --size 640x360 --frames 48                  # any machine
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import supervision as sv
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.core import Pipeline  # noqa: E402
from pipeline.timing import busiest_thread  # noqa: E402
from recognizer.base import FrameBuffer  # noqa: E402
from recognizer.checkpoint import ClipConfig, save_checkpoint  # noqa: E402
from recognizer.models import build_model  # noqa: E402
from recognizer.r2plus1d import R2Plus1DRecognizer  # noqa: E402
from tests.synth import linear_path, make_video, player  # noqa: E402
from tracker.tracking.detector import Detector  # noqa: E402
from tracker.tracking.tubes import ClipWindow  # noqa: E402


def game_video(path: Path, width: int, height: int, frames: int, fps: float, players: int):
    rng = np.random.default_rng(0)
    size = (max(12, width // 40), max(30, height // 10))
    objects = []
    for k in range(players):
        start = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.3, 0.85) * height)
        velocity = rng.uniform(-0.08, 0.08, 2) * np.array([width, height / 3])
        objects.append(player(k, linear_path(frames, fps, start, velocity), size=size))
    return make_video(path, size=(width, height), n_frames=frames, fps=fps, objects=objects)


class KnownBoxes:
    """Runs the real detector (timed) and hands on the video's known boxes instead of its random output."""

    def __init__(self, detector: Detector, truth) -> None:
        self.detector, self.truth = detector, truth
        self.accepts_tensors = detector.accepts_tensors
        self.weights = detector.weights
        self._next = 0

    def _known(self, n: int) -> list[sv.Detections]:
        out = []
        for t in range(self._next, self._next + n):
            boxes = self.truth.boxes[t]
            out.append(sv.Detections(xyxy=boxes.astype(np.float32), confidence=np.full(len(boxes), 0.9, np.float32),
                                     class_id=np.zeros(len(boxes), int)))
        self._next += n
        return out

    def __call__(self, frames):
        self.detector(frames)
        return self._known(len(frames))

    def detect_tensors(self, tensors):
        self.detector.detect_tensors(tensors)
        return self._known(len(tensors))


def naive(video: Path, truth, weights: str, ckpt: Path, device: str, out: Path) -> dict:
    """The baseline: everything sequential, one model call per player per window."""
    from ultralytics import YOLO

    yolo = YOLO(weights, task="detect")
    rec = R2Plus1DRecognizer(ckpt, device=device, batched=False)
    stages = dict.fromkeys(["decode", "detect+track", "recognize", "render", "encode"], 0.0)
    history: dict[int, list[tuple[int, np.ndarray]]] = {}
    frames = FrameBuffer(truth.fps)
    t_start = time.perf_counter()
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=int(round(truth.fps)))
        stream.width, stream.height, stream.pix_fmt = truth.size[0], truth.size[1], "yuv420p"
        decoder = src.decode(video=0)
        for i in range(truth.n_frames):
            t0 = time.perf_counter()
            image = next(decoder).to_ndarray(format="bgr24")
            t1 = time.perf_counter()
            yolo.track(image, persist=True, verbose=False, classes=[0], device=device)
            t2 = time.perf_counter()
            frames.add(i, image)
            for k, box in zip(truth.ids[i].tolist(), truth.boxes[i]):
                history.setdefault(k, []).append((i, box))
                track = history[k][-16:]
                if len(history[k]) >= 16 and (len(history[k]) - 16) % 8 == 0:
                    win = ClipWindow(k, np.array([f for f, _ in track]), np.stack([b for _, b in track]))
                    rec.predict([win], frames)
            for j in [j for j in frames.indices() if j < i - 16]:
                frames.pop(j)
            t3 = time.perf_counter()
            for box in truth.boxes[i].astype(int):
                cv2.rectangle(image, tuple(box[:2]), tuple(box[2:]), (0, 255, 0), 2)
            t4 = time.perf_counter()
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                dst.mux(packet)
            t5 = time.perf_counter()
            for k, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                stages[k] += dt
        for packet in stream.encode():
            dst.mux(packet)
    total = time.perf_counter() - t_start
    return {"total": total, "stages": stages}


def ours(video: Path, truth, weights: str, ckpt: Path, device: str, half: bool, out: Path, compile: bool,
         lean: bool = False) -> dict:
    """Our pipeline; ``lean`` leaves out issue 8's per-frame CPU work (on-court filter, team colours,
    ball), which the naive baseline does not do either (``--all-people --no-teams --no-ball``)."""
    detector = KnownBoxes(Detector(weights, device=device, half=half, engine="auto"), truth)
    # big batches feed a GPU; on a CPU they only add memory traffic
    rec = R2Plus1DRecognizer(ckpt, device=device, half=half, batch_size=64 if device.startswith("cuda") else 4,
                             compile=compile)
    encoder = "h264_nvenc" if device.startswith("cuda") else "libx264"
    pipeline = Pipeline(detector, tracker="bytetrack", recognizer=rec, batch_size=16, device=device, encoder=encoder,
                        all_people=lean, teams=not lean, ball=not lean)
    t0 = time.perf_counter()
    report = pipeline.run(video, output=out, overwrite=True)
    return {"total": time.perf_counter() - t0, "stages": {k: v["seconds"] for k, v in report.summary["stages"].items()},
            "players": report.summary["unique_ids"], "windows": report.summary["windows"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--half", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--players", type=int, default=10)
    ap.add_argument("--weights", default="yolov8n.yaml", help="detector weights (random yolov8n.yaml by default)")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = Path(tempfile.mkdtemp(prefix="bench_fast_path_"))
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'CPU only'}; torch {torch.__version__}")
    t0 = time.perf_counter()
    truth = game_video(work / "game.mp4", width, height, args.frames, 30.0, args.players)
    print(f"made {width}x{height} x {args.frames} frames, {args.players} players in {time.perf_counter() - t0:.1f} s")
    torch.manual_seed(0)
    save_checkpoint(work / "r2plus1d_random.pt", build_model("r2plus1d_18", 10), "r2plus1d_18",
                    [str(i) for i in range(10)], ClipConfig(), metrics={"note": "random weights, for timing only"})
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    results = {}
    results["ours"] = ours(work / "game.mp4", truth, args.weights, work / "r2plus1d_random.pt", args.device,
                           args.half, work / "ours.mp4", args.compile)
    results["ours-lean"] = ours(work / "game.mp4", truth, args.weights, work / "r2plus1d_random.pt", args.device,
                                args.half, work / "ours_lean.mp4", args.compile, lean=True)
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
    if not args.skip_naive:
        results["naive"] = naive(work / "game.mp4", truth, args.weights, work / "r2plus1d_random.pt", args.device,
                                 work / "naive.mp4")
    n = args.frames
    print(f"\n{'variant':<10} {'stage':<14} {'seconds':>8} {'fps':>9}")
    for name, r in results.items():
        for stage, sec in r["stages"].items():
            print(f"{name:<10} {stage:<14} {sec:>8.2f} {n / sec if sec else float('inf'):>9.1f}")
        print(f"{name:<10} {'END TO END':<14} {r['total']:>8.2f} {n / r['total']:>9.1f}")
        if name != "naive":
            thread, busy = busiest_thread(r["stages"])
            print(f"{name:<10} busiest thread: {thread}, {n / busy:.1f} fps of work (the bound with a core per thread)")
    if "naive" in results:
        for name in ("ours", "ours-lean"):
            print(f"\nspeed-up {name} / naive: {results['naive']['total'] / results[name]['total']:.2f}x", end="")
        print()
    if peak is not None:
        print(f"peak GPU memory (ours): {peak:.2f} GiB")
    print(f"ours: {results['ours']['players']} players, {results['ours']['windows']} clip windows")


if __name__ == "__main__":
    main()
