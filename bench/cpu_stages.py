"""The CPU side of the fast path (issue 5): what each per-frame stage costs at 1080p, and the
alternatives we chose between, measured in one run.

On the GPU the models cost about a millisecond a frame (issue 5's numbers: YOLOv8n fp16 at
~2600 images/s, R(2+1)D at ~2000 clips/s), so whether the pipeline reaches 300 fps is decided
by what the CPU does per frame: decoding, colour conversion, tracking, team colours, drawing,
encoding. This script times each of them on a game-like video (10 players), best of
``--repeats``, and for each choice it prints the alternative and the ratio:

* frame -> RGB tensor: a BGR->RGB copy in NumPy, then upload (before) / upload the BGR bytes and
  reorder the channels where the tensor lives (``FrameBuffer.tensor``, now);
* team colours: descriptors made for each of the three uses (hint, re-link appearance, team vote)
  / once per frame and shared (``PlayerTracking``);
* drawing: on a copy / in place;
* BGR -> YUV 4:2:0 for the encoder: FFmpeg's swscale / ``bgr_to_yuv420p`` (OpenCV).

Then the whole ``Pipeline`` runs (``--device``) with the video's known boxes and a tiny R(2+1)D on
32x32 crops, and prints its per-stage table. Its stages run in six threads (decode; detect;
track and recognise; draw; convert; encode), so with enough cores the end-to-end rate is the
slowest thread's. "decode" is the detect thread's wait for decoded frames and "wait" the main
thread's wait for detections: large waits name the stage upstream as the bottleneck. On a CPU
the recogniser's convolutions still dominate that run (on the GPU they are about a millisecond
a frame); the rows to read are the other threads'.

    python bench/cpu_stages.py                                   # 1920x1080, 120 frames
    python bench/cpu_stages.py --size 1280x720 --frames 60
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import supervision as sv
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fast_path import game_video  # noqa: E402

from pipeline.core import Pipeline  # noqa: E402
from pipeline.players import PlayerTracking  # noqa: E402
from pipeline.render import Renderer  # noqa: E402
from pipeline.timeline import FrameLabel  # noqa: E402
from pipeline.timing import STAGE_THREADS, busiest_thread  # noqa: E402
from pipeline.video.colour import bgr_to_yuv420p  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from pipeline.video.writer import VideoWriter  # noqa: E402
from recognizer.base import FrameBuffer  # noqa: E402
from recognizer.checkpoint import ClipConfig, save_checkpoint  # noqa: E402
from recognizer.models import build_model  # noqa: E402
from recognizer.r2plus1d import R2Plus1DRecognizer  # noqa: E402
from tests.synth import GroundTruthDetector  # noqa: E402
from tracker.game.ball.candidates import ColourCandidates  # noqa: E402
from tracker.game.ball.finder import BallFinder  # noqa: E402
from tracker.game.ball.flight import FlightFinder, FlightTracker  # noqa: E402
from tracker.game.ball.possession import PossessionTracker  # noqa: E402
from tracker.game.ball.tiles import TileBallDetector  # noqa: E402
from tracker.game.jersey import NumberReader, crop, ocr_available, torso_boxes  # noqa: E402
from tracker.game.teams.colours import appearance  # noqa: E402
from tracker.tracking.base import make_tracker  # noqa: E402
from tracker.tracking.camera_motion import CameraMotionEstimator  # noqa: E402
from tracker.tracking.cuts import CutDetector  # noqa: E402


def best_of(repeats: int, fn) -> float:
    """Seconds of the fastest of ``repeats`` calls (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_flip_upload(image: np.ndarray) -> torch.Tensor:
    """Before: BGR->RGB in NumPy (a strided copy), then to a (3, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)


def swscale_frame(image: np.ndarray) -> av.VideoFrame:
    """FFmpeg's conversion, as the encoder does it when handed BGR."""
    return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")


def ours_frame(image: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(bgr_to_yuv420p(image), format="yuv420p")


def teams_each_use(players: PlayerTracking, i: int, image: np.ndarray, tracked: sv.Detections) -> None:
    """The team assigner's per-frame work with descriptors made for each use."""
    teams = players.teams
    teams.classify(image, tracked)
    appearance(teams.describer.describe(image, tracked.xyxy))
    teams.update(i, image, tracked)


def teams_shared(players: PlayerTracking, i: int, image: np.ndarray, tracked: sv.Detections) -> None:
    teams = players.teams
    described = teams.describer.describe(image, tracked.xyxy)
    teams.classify(image, tracked, described)
    appearance(described)
    teams.update(i, image, tracked, described)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--players", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ball-tiles", metavar="WEIGHTS", help="also time the ball detector on upper-body tiles")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="where the pipeline run keeps frames and runs the tiny R(2+1)D")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    n, reps = args.frames, args.repeats
    work = Path(tempfile.mkdtemp(prefix="bench_cpu_stages_"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"PyAV {av.__version__}; {width}x{height}, {n} frames, {args.players} players, best of {reps}")
    truth = game_video(work / "game.mp4", width, height, n, 30.0, args.players)
    rows: list[tuple[str, str, float]] = []  # (stage, variant, seconds for n frames)

    def measure(stage: str, variant: str, fn) -> float:
        sec = best_of(reps, fn)
        rows.append((stage, variant, sec))
        return sec

    frames: list[np.ndarray] = []
    measure("decode", "VideoReader (decode + BGR)", lambda: frames.__setitem__(
        slice(None), [f.image for f in VideoReader(work / "game.mp4")]))
    buffer = FrameBuffer(30.0)
    for i, f in enumerate(frames):
        buffer.add(i, f)

    def device_reorder() -> None:
        buffer._tensors.clear()
        for i in range(n):
            buffer.tensor(i)

    measure("frame -> RGB tensor", "NumPy flip, then upload", lambda: [numpy_flip_upload(f) for f in frames])
    measure("frame -> RGB tensor", "FrameBuffer.tensor (reorder after upload)", device_reorder)

    detections = [sv.Detections(xyxy=b.astype(np.float32), confidence=np.full(len(b), 0.9, np.float32),
                                class_id=np.zeros(len(b), int)) for b in truth.boxes]
    tracked: list[sv.Detections] = []

    def track_all() -> None:
        players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0))
        tracked[:] = [players.update(i, i / 30.0, frames[i], detections[i]) for i in range(n)]

    measure("players", "PlayerTracking (court, ByteTrack, teams, re-link, ball, cuts, jerseys)", track_all)
    measure("players", "the same, ball=False (--no-ball: no ball finder, no possession)", lambda: [
        players.update(i, i / 30.0, frames[i], detections[i]) for players in [
            PlayerTracking.build(make_tracker("bytetrack", fps=30.0), ball=False)] for i in range(n)])

    main_cpu: dict[str, float] = {}  # variant -> least main-thread CPU seconds (the wall clock counts the OCR
    # thread's use of a shared core too)

    def track_with(jerseys: bool, cuts: bool, name: str):
        def run() -> None:
            players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0), jerseys=jerseys, cuts=cuts)
            cpu = time.thread_time()
            try:
                for i in range(n):
                    players.update(i, i / 30.0, frames[i], detections[i])
            finally:
                main_cpu[name] = min(main_cpu.get(name, float("inf")), time.thread_time() - cpu)
                players.close()
        return run

    # issue 15: the main thread's cost of cut detection and jersey reading (OCR in its own thread,
    # which on a small machine competes for the same cores: the main-thread figure includes that)
    for name, jerseys, cuts in (("no cut detector, no jersey reader (before)", False, False),
                                ("+ cut detector (64-px frames)", False, True),
                                ("+ cut detector + jersey reader (OCR thread)", True, True)):
        measure("who is who (main)", name, track_with(jerseys, cuts, name))
    for name, work_width in (("PySceneDetect ContentDetector, full frame", None), ("the same on 64-px frames (CutDetector)", 64)):
        def cuts_only(work_width=work_width) -> None:
            detector = CutDetector(30.0, work_width=work_width)
            for i in range(n):
                detector(i, frames[i])
        measure("cut detection", name, cuts_only)
    print("who is who, main-thread CPU time (time.thread_time, not disturbed by the OCR thread):")
    base = next(iter(main_cpu.values()))
    for name, sec in main_cpu.items():
        print(f"  {name:<50} {1000 * sec / n:7.2f} ms/frame  (+{1000 * (sec - base) / n:.2f})")
    if ocr_available():
        reader = NumberReader()
        torsos = [crop(frames[i], b) for i in range(0, n, 10) for b in torso_boxes(detections[i].xyxy)]
        torsos = [t for t in torsos if t is not None]
        sec = best_of(1, lambda: reader(torsos))
        print(f"jersey OCR (worker thread): {1000 * sec / max(1, len(torsos)):.1f} ms per torso crop "
              f"({len(torsos)} crops); a track is read every 5 frames until its number is decided, "
              f"60 times at most")
    
    # The ball stages (issue 14), on the tracked players: what --no-ball saves.
    def ball_all(tiles=None, flight=False) -> None:
        finder = BallFinder(camera=CameraMotionEstimator().estimate, tiles=tiles,
                            flight=FlightFinder(tracker=FlightTracker(fps=30.0)) if flight else None)
        possession = PossessionTracker()
        for i in range(n):
            obs = finder.update(i, frames[i], tracked[i], detections[i], possession.holder)
            possession.update(i, None if obs.xy is None else np.array(obs.xy), tracked[i])

    def colour_only() -> None:
        colour = ColourCandidates()
        prev = None
        for i in range(n):
            prepared = colour.prepare(frames[i])
            colour.candidates(prepared, tracked[i].xyxy, None if prev is None else prev[1],
                              None if prev is None else prev[0])
            prev = prepared

    estimator = CameraMotionEstimator()
    measure("ball", "camera motion (sparse flow + RANSAC)", lambda: [
        estimator.estimate(frames[i - 1], frames[i], tracked[i - 1].xyxy) for i in range(1, n)])
    measure("ball", "colour + motion candidates", colour_only)
    measure("ball", "BallFinder + possession (all of the above + Kalman)", ball_all)
    measure("ball", "the same + the flight stage (frame-difference blobs, chains; opt-in)", lambda: ball_all(flight=True))
    if args.ball_tiles:
        from tracker.tracking.detector import Detector

        tile_detector = Detector(args.ball_tiles, ball=True, ball_conf=0.05, device=args.device)
        measure("ball", "BallFinder + detector on 2 tiles every 5th frame", lambda: ball_all(
            TileBallDetector(tile_detector, every=5, max_tiles=2)))
        measure("ball", "BallFinder + detector on 1 tile (nearest the ball) every 5th frame", lambda: ball_all(
            TileBallDetector(tile_detector, every=5, max_tiles=1)))
    for name, fn in (("descriptors per use (x3)", teams_each_use), ("descriptors shared", teams_shared)):
        def teams_only(fn=fn) -> None:
            players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0), all_people=True, ball=False)
            for i in range(n):
                fn(players, i, frames[i], tracked[i])
        measure("team colours", name, teams_only)

    renderer = Renderer("r2plus1d_18", height)
    labels = [[FrameLabel(2, "run", 0.87)] * len(d) for d in tracked]
    for name, in_place in (("on a copy", False), ("in place", True)):
        copies = [f.copy() for f in frames] if in_place else frames
        measure("draw", name, lambda: [renderer.render(copies[i], tracked[i], labels[i], in_place=in_place)
                                       for i in range(n)])
    measure("BGR -> YUV 4:2:0", "FFmpeg swscale", lambda: [swscale_frame(f) for f in frames])
    measure("BGR -> YUV 4:2:0", "bgr_to_yuv420p (OpenCV)", lambda: [ours_frame(f) for f in frames])

    def encode(codec: str) -> None:
        writer = VideoWriter(work / f"{codec}.mp4", width, height, 30.0, codec=codec, overwrite=True)
        for i, f in enumerate(frames):
            writer.write(f, i / 30.0)
        writer.close()

    measure("encode (VideoWriter)", "libx264 veryfast", lambda: encode("libx264"))
    if torch.cuda.is_available():
        measure("encode (VideoWriter)", "h264_nvenc", lambda: encode("h264_nvenc"))

    print(f"\n{'stage':<22} {'variant':<58} {'ms/frame':>9} {'fps':>8} {'ratio':>7}")
    first: dict[str, float] = {}
    for stage, variant, sec in rows:
        base = first.setdefault(stage, sec)
        ratio = f"{base / sec:6.2f}x" if base != sec else ""
        print(f"{stage:<22} {variant:<58} {1000 * sec / n:>9.2f} {n / sec:>8.1f} {ratio:>7}")

    torch.manual_seed(0)
    clip = ClipConfig(size=[32, 32])
    save_checkpoint(work / "tiny.pt", build_model("r2plus1d_tiny", 10), "r2plus1d_tiny",
                    [str(i) for i in range(10)], clip, metrics={"note": "random weights, for timing only"})
    encoder = "h264_nvenc" if args.device.startswith("cuda") else "libx264"
    pipeline = Pipeline(GroundTruthDetector(truth), recognizer=R2Plus1DRecognizer(work / "tiny.pt", device=args.device),
                        batch_size=16, device=args.device, encoder=encoder)
    t0 = time.perf_counter()
    report = pipeline.run(work / "game.mp4", output=work / "annotated.mp4", overwrite=True)
    total = time.perf_counter() - t0
    print(f"\nPipeline on {args.device} (known boxes, tiny R(2+1)D on 32x32 crops, {encoder}), {n} frames:")
    print(f"{'stage':<14} {'thread':<8} {'ms/frame':>9} {'fps':>8}")
    for stage, v in report.summary["stages"].items():
        sec = v["seconds"]
        fps = n / sec if sec else float("inf")
        print(f"{stage:<14} {STAGE_THREADS.get(stage, 'main'):<8} {1000 * sec / n:>9.2f} {fps:>8.1f}")
    print(f"{'END TO END':<14} {'':<8} {1000 * total / n:>9.2f} {n / total:>8.1f}")
    thread, busy = busiest_thread({k: v["seconds"] for k, v in report.summary["stages"].items()})
    print(f"busiest thread: {thread} ({1000 * busy / n:.2f} ms of work a frame: {n / busy:.1f} fps with a core each)")


if __name__ == "__main__":
    main()
