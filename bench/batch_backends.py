"""Wall time of a folder batch: the local backend against the Ray backend (2 workers), on this machine.

    python bench/batch_backends.py                     # the tests' folder: 3 videos, 24 frames, 160x128
    python bench/batch_backends.py --frames 240 --size 320x240 --weights yolov8n.yaml

Both backends run the same CLI (``pipeline.cli.main``) in this process, on a folder of
synthetic games written here, with the same options. Each backend runs twice:

* cold: first run (local: model load + first-inference warm-up in this process;
  Ray: worker processes start, import torch/ultralytics, load the model);
* warm: the same command again with ``--overwrite`` (Ray reuses its worker processes).

Python imports in the driver are done before any timing. The Ray cluster is started here
with ``ray.init(num_cpus=2)`` (2 workers, ``--cpus-per-video 1``) and its start time is
printed separately. Per-video fps comes from the run manifests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.node()}: {cpu}, {cores} cores, Python {platform.python_version()}"


def _run(argv: list[str]) -> float:
    from pipeline.cli import main

    t0 = time.perf_counter()
    rc = main(argv)
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"batch failed (exit {rc}): {' '.join(argv)}")
    return seconds


def _fps(out: Path) -> float:
    from pipeline.manifest import MANIFEST_NAME, Manifest

    return statistics.median(r.fps for r in Manifest(out / MANIFEST_NAME).latest().values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--frames", type=int, default=24, help="frames per video")
    ap.add_argument("--size", default="160x128", help="WxH of the synthetic videos")
    ap.add_argument("--weights", default="yolov8n.yaml", help="detector weights (default: random YOLOv8n)")
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--workers", type=int, default=2, help="Ray CPUs = concurrent videos")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    import ray

    from pipeline.cli import main as _cli  # noqa: F401  (imports before timing)
    from tests.synth import linear_path, make_video, player

    with tempfile.TemporaryDirectory(prefix="bball-batch-bench-") as tmp:
        games = Path(tmp) / "games"
        games.mkdir()
        for i in range(args.videos):
            n = args.frames
            make_video(games / f"g{i}.mp4", size=(width, height), n_frames=n, fps=12.0, seed=i,
                       objects=[player(k, linear_path(n, 12.0, (30.0 + 40 * k, height / 2), (40.0, 0.0)))
                                for k in range(1, 4)])
        common = ["--weights", args.weights, "--device", "cpu", "--imgsz", str(args.imgsz), "--json",
                  "--no-progress"]
        out_local, out_ray = Path(tmp) / "local", Path(tmp) / "ray"
        local_cold = _run([str(games), "-o", str(out_local), *common])
        local_warm = _run([str(games), "-o", str(out_local), "--overwrite", *common])
        local_fps = _fps(out_local)

        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        ray_args = ["--backend", "ray", "--cpus-per-video", "1", "--gpus-per-video", "0", *common]
        try:
            ray_cold = _run([str(games), "-o", str(out_ray), *ray_args])
            ray_warm = _run([str(games), "-o", str(out_ray), "--overwrite", *ray_args])
        finally:
            ray.shutdown()
        ray_fps = _fps(out_ray)

    print(f"machine: {_machine()}")
    print(f"folder: {args.videos} videos x {args.frames} frames, {width}x{height}; weights {args.weights}, "
          f"imgsz {args.imgsz}, device cpu")
    print(f"{'backend':<22} {'cold run s':>10} {'warm run s':>10} {'video fps (median)':>19}")
    print(f"{'local':<22} {local_cold:>10.1f} {local_warm:>10.1f} {local_fps:>19.1f}")
    print(f"{f'ray ({args.workers} workers)':<22} {ray_cold:>10.1f} {ray_warm:>10.1f} {ray_fps:>19.1f}")
    print(f"ray cluster start (ray.init): {ray_start:.1f} s, not included above")
    print(f"ratio local/ray wall time: cold {local_cold / ray_cold:.2f}x, warm {local_warm / ray_warm:.2f}x")


if __name__ == "__main__":
    main()
