"""Real time on a CPU (issue 17): our whole pipeline against the detector-and-tracker-only peer, in one run.

On the same clip (the first ``--frames`` frames of each video, remuxed with their audio, no
re-encoding), one after the other in this process:

* **peer**: ultralytics ``YOLO.track`` (ByteTrack, persons only) with the same detector
  weights, decoding with OpenCV; nothing else (no drawing, no encoding, no output); timed from its
  first result (its model set-up and first frame are not counted; ours counts all of ``run``);
* **ours**: ``bball-annotate`` built from CLI arguments (the shipped path: the same options,
  threads and defaults a user gets), writing the annotated H.264 video with audio and the JSON;
  at default flags (court filter, teams, ball, kinematic actions, ``--detect-every`` default), at
  ``--detect-every 1`` (the detector on every frame), and at the fast setting.

Then the ``--detect-every`` sweep: N = 1, 2, 3, 4 on every video, with fps, fragmentation
(unique IDs / mean players tracked per frame) and the mean IoU of each predicted box against the
best-matching box of the every-frame run on the same frame.

Prints Markdown tables (fps, ratio to the peer, fragmentation). Timings are wall clock; on a
shared machine they are noisy: compare the ratios within one run.

    python bench/cpu_realtime.py --frames 90            # a few minutes on 2 cores
    python bench/cpu_realtime.py --frames 0 --videos ../shared/demo_videos/*.mp4   # whole clips
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.cli import build_parser, config_from  # noqa: E402
from tracker.game.quality import TrackingQuality  # noqa: E402

SHARED = REPO.parent / "shared"
VIDEOS = [SHARED / "demo_videos/nba_broadcast_480p.mp4", SHARED / "demo_videos/court_3players_720p.mp4"]
WEIGHTS = SHARED / "weights/yolov8n_int8.tflite"
FAST = ["--all-people", "--no-teams", "--no-ball", "--detect-every", "4"]


def trim(src: Path, dst: Path, frames: int) -> Path:
    """The first ``frames`` video frames of ``src`` and the audio up to them, remuxed (no re-encoding)."""
    if frames <= 0:
        return src
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        v = inp.streams.video[0]
        streams = {v.index: out.add_stream_from_template(v)}
        if inp.streams.audio:
            a = inp.streams.audio[0]
            streams[a.index] = out.add_stream_from_template(a)
        end, seen = None, 0
        for packet in inp.demux(*[s for s in inp.streams if s.index in streams]):
            if packet.dts is None:
                continue
            if packet.stream.index == v.index:
                if seen >= frames:
                    end = end if end is not None else float(packet.pts * packet.time_base)
                    continue
                seen += 1
            elif end is not None and float(packet.pts * packet.time_base) >= end:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def run_peer(video: Path, weights: Path) -> dict:
    """ultralytics' own detect + ByteTrack, persons only, same detector weights and thresholds."""
    from ultralytics import YOLO

    model = YOLO(str(weights), task="detect")
    import supervision as sv

    quality = TrackingQuality()
    first = None  # timed from the first result on: the runtime's setup on the first call is not counted
    n = 0
    for result in model.track(source=str(video), stream=True, persist=True, tracker="bytetrack.yaml",
                              classes=[0], conf=0.25, iou=0.45, imgsz=640, verbose=False):
        quality.update(sv.Detections.from_ultralytics(result))
        n += 1
        first = time.perf_counter() if first is None else first
    seconds = time.perf_counter() - first
    return {"frames": n, "seconds": seconds, "fps": (n - 1) / seconds,
            "fragmentation": quality.report()["fragmentation"]}


def run_ours(video: Path, weights: Path, flags: list[str], out_dir: Path, tag: str) -> dict:
    """``bball-annotate VIDEO -o OUT --json --weights W --device cpu FLAGS``, through the CLI's own builder."""
    out = out_dir / f"{video.stem}_{tag}.mp4"
    args = build_parser().parse_args([str(video), "-o", str(out), "--json", "--weights", str(weights),
                                      "--device", "cpu", "--no-progress", "--overwrite", *flags])
    pipeline = config_from(args).build()  # models load outside the timing, as for the peer's first call
    start = time.perf_counter()
    report = pipeline.run(video, output=out, json=out.with_suffix(".json"), overwrite=True)
    seconds = time.perf_counter() - start
    frag = report.summary.get("tracking", {}).get("fragmentation")
    return {"frames": report.frames, "seconds": seconds, "fps": report.frames / seconds, "fragmentation": frag,
            "report": report, "detect_every": pipeline.detect_every}


def stage_line(r: dict) -> str:
    """``detect 30.1, track 12.0, ...`` ms per frame of each stage of one of our runs (wall clock of its thread)."""
    stages = r["report"].summary.get("stages", {})
    return ", ".join(f"{k} {1000 * v['seconds'] / max(r['frames'], 1):.1f}" for k, v in stages.items())


def boxes_by_frame(report) -> dict[int, np.ndarray]:
    """Frame -> ``(K, 4)`` boxes of every player the report has on that frame."""
    out: dict[int, list] = {}
    for p in report.players:
        for f, b in zip(p.frames.view()[:, 0].tolist(), p.boxes.view()):
            out.setdefault(int(f), []).append(b)
    return {f: np.asarray(b, np.float64) for f, b in out.items()}


def predicted_iou(report, reference: dict[int, np.ndarray], every: int) -> tuple[float | None, float | None, int]:
    """For each box of ``report`` predicted on a frame the detector skipped: its IoU with the best-matching
    box of the every-frame run on that frame (0 where that run has nobody there), and the same for the
    baseline a prediction must beat, the player's box on the key frame before, held (not moved).
    Returns both means over the predicted boxes whose player has a box on that key frame, and their count."""
    from supervision.detection.utils.iou_and_nms import box_iou_batch

    def best(box: np.ndarray, f: int) -> float:
        ref = reference.get(int(f))
        return 0.0 if ref is None else float(box_iou_batch(box[None].astype(np.float64), ref).max())

    moved, held = [], []
    for p in report.players:
        by_frame = dict(zip(p.frames.view()[:, 0].tolist(), p.boxes.view().astype(np.float64)))
        for f in p.predicted_frames():
            key = f - f % every
            if key in by_frame:
                moved.append(best(by_frame[f], f))
                held.append(best(by_frame[key], f))
    mean = (lambda v: float(np.mean(v)) if v else None)
    return mean(moved), mean(held), len(moved)


def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", nargs="+", type=Path, default=VIDEOS)
    p.add_argument("--weights", type=Path, default=WEIGHTS)
    p.add_argument("--frames", type=int, default=90, help="first N frames of each clip (0: all)")
    p.add_argument("--every", type=int, nargs="+", default=[1, 2, 3, 4], help="--detect-every values to sweep")
    p.add_argument("--no-sweep", action="store_true", help="only the peer comparison on the first video")
    a = p.parse_args(argv)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {len(os.sched_getaffinity(0))} cores "
          f"usable, load average {os.getloadavg()[0]:.2f}; weights {a.weights.name}; frames {a.frames or 'all'}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [trim(v, tmp / f"in_{v.stem}.mp4", a.frames) for v in a.videos]
        video = clips[0]
        rows = [("peer: ultralytics YOLO.track (ByteTrack), detector + tracker only", run_peer(video, a.weights))]
        lean = FAST[:3]
        # (name, flags, the run with the same flags but every frame detected)
        runs = (("ours, default flags", [], 2), ("ours, default flags, --detect-every 1", ["--detect-every", "1"], 2),
                (f"ours, fast: {' '.join(FAST)}", FAST, 4),
                (f"ours, {' '.join(lean)} --detect-every 1", [*lean, "--detect-every", "1"], 4))
        for k, (name, flags, _) in enumerate(runs):
            rows.append((name, run_ours(video, a.weights, flags, tmp, f"run{k}")))
        peer = rows[0][1]
        print(f"\n### {a.videos[0].name}, {peer['frames']} frames: ours against the peer\n")
        print("| run | detect every | fps | × peer | fragmentation | frag. vs same flags, every frame detected |")
        print("|---|---|---|---|---|---|")
        for k, (name, r) in enumerate(rows):
            every1 = rows[runs[k - 1][2]][1]["fragmentation"] if k else None
            rel = None if r["fragmentation"] is None or every1 is None else r["fragmentation"] / every1 - 1
            print(f"| {name} | {r.get('detect_every', 1)} | {r['fps']:.2f} | {r['fps'] / peer['fps']:.2f}× "
                  f"| {fmt(r['fragmentation'])} | {fmt(rel, '+.1%')} |")
        print("\nms per frame per stage (wall clock of each stage's thread; waits included in decode/wait):")
        for name, r in rows[1:]:
            print(f"- {name}: {stage_line(r)}")
        if a.no_sweep:
            return 0
        print("\n### --detect-every sweep (default flags otherwise)\n")
        print("| clip | N | frames | fps | × N=1 | fragmentation (unique IDs / mean tracked) | frag. vs N=1 | predicted boxes | "
              "mean IoU predicted vs every-frame | same, key-frame box held instead |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for src, clip in zip(a.videos, clips):
            base = None
            for n in sorted({1, *a.every}):
                r = run_ours(clip, a.weights, ["--detect-every", str(n)], tmp, f"n{n}")
                if base is None:
                    base = r
                    reference = boxes_by_frame(r["report"])
                iou, held, count = predicted_iou(r["report"], reference, n)
                rel = None if r["fragmentation"] is None or base["fragmentation"] is None \
                    else r["fragmentation"] / base["fragmentation"] - 1
                t = r["report"].summary.get("tracking", {})
                print(f"| {src.name} | {n} | {r['frames']} | {r['fps']:.2f} | {r['fps'] / base['fps']:.2f}× "
                      f"| {fmt(r['fragmentation'])} ({t.get('unique_ids')} / {fmt(t.get('mean_tracked'))}) | {fmt(rel, '+.1%')} | {count} | {fmt(iou, '.3f')} "
                      f"| {fmt(held, '.3f')} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
