"""The detector's CPU runtimes side by side (issue 17): PyTorch, ONNX Runtime, OpenVINO, LiteRT int8.

YOLOv8n made from ``yolov8n.yaml`` (random weights: the speed of a forward pass does not depend on
the weights) is exported by ultralytics to ONNX and OpenVINO; the shared int8 ``.tflite`` runs on
LiteRT. Each is timed through our :class:`~tracker.tracking.detector.Detector` (ultralytics'
pre- and post-processing included) on frames of the shared NBA clip, batch 1, at the thread count
of the pipeline's rule (:class:`pipeline.threads.ThreadPlan`) and at the runtime's own default,
best of ``--repeats`` passes. Prints ms per frame and the ratio to PyTorch.

    python bench/cpu_runtimes.py --frames 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.threads import ThreadPlan  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from tracker.tracking.detector import Detector  # noqa: E402

SHARED = REPO.parent / "shared"


def time_detector(detector: Detector, frames, repeats: int) -> float:
    """Best-of-``repeats`` milliseconds per frame, frames one at a time (as the pipeline's key frames)."""
    detector(frames[:1])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for f in frames:
            detector([f])
        best = min(best, (time.perf_counter() - start) / len(frames))
    return 1000 * best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--video", type=Path, default=SHARED / "demo_videos/nba_broadcast_480p.mp4")
    p.add_argument("--tflite", type=Path, default=SHARED / "weights/yolov8n_int8.tflite")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    from ultralytics import YOLO

    plan = ThreadPlan.for_cores()
    plan.apply()
    with VideoReader(a.video) as reader:
        frames = [f.image for _, f in zip(range(a.frames), reader)]
    print(f"{len(os.sched_getaffinity(0))} cores usable, load average {os.getloadavg()[0]:.2f}; "
          f"{len(frames)} frames of {a.video.name}, imgsz 640; thread rule: detector {plan.detector}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(tmp) / "yolov8n_random.pt"
        YOLO("yolov8n.yaml").save(pt)
        exported = {"onnx": YOLO(str(pt)).export(format="onnx", imgsz=640, dynamic=True, simplify=False,
                                                  verbose=False),
                    "openvino": YOLO(str(pt)).export(format="openvino", imgsz=640, dynamic=True, verbose=False)}
        candidates = [("PyTorch (.pt)", str(pt)), ("ONNX Runtime (.onnx)", exported["onnx"]),
                      ("OpenVINO (_openvino_model/)", exported["openvino"])]
        if a.tflite.exists():
            candidates.append(("LiteRT int8 (.tflite)", str(a.tflite)))
        for name, weights in candidates:
            ours = time_detector(Detector(weights, device="cpu", threads=plan.detector), frames, a.repeats)
            own = time_detector(Detector(weights, device="cpu"), frames, a.repeats) if "PyTorch" not in name \
                else None
            rows.append((name, ours, own))
    torch_ms = rows[0][1]
    print("\n| runtime | ms / frame, rule's threads | × PyTorch | ms / frame, runtime's default threads |")
    print("|---|---|---|---|")
    for name, ours, own in rows:
        print(f"| {name} | {ours:.1f} | {torch_ms / ours:.2f}× | {'—' if own is None else f'{own:.1f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
