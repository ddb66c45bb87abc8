"""Training throughput of bball-train's step on SpaceJam-shaped clips: fp32 vs AMP, and the data path.

Times ``recognizer.training.loop.train_step`` (the code ``bball-train`` runs: forward,
class-weighted cross-entropy, backward, AdamW step; ``channels_last_3d`` on
CUDA) on synthetic batches already on the device, once in fp32 and once under
autocast (float16 + GradScaler on CUDA, bfloat16 on CPU), and prints clips/s and
the AMP / fp32 ratio. With ``--data-clips N`` it also writes N synthetic
SpaceJam-format mp4s (16 frames, 128x176) and times the data path alone
(PyAV decode + resize + augmentation in ``--workers`` DataLoader processes), to
show whether decoding or the GPU limits a run.

    python bench/train_throughput.py                         # r2plus1d_18, 16x176x128, batch 16
    python bench/train_throughput.py --device cpu --arch r2plus1d_tiny --size 32 32 --batch-size 4 --steps 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recognizer.checkpoint import ClipConfig  # noqa: E402
from recognizer.clips import Augment, write_clip  # noqa: E402
from recognizer.data import ClipItem  # noqa: E402
from recognizer.models import ARCHS, build_model  # noqa: E402
from recognizer.training.loop import make_loader, train_step  # noqa: E402
from tracker.common.device import resolve_device  # noqa: E402


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads (torch {torch.__version__})"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(args: argparse.Namespace, device: torch.device, amp: bool) -> tuple[float, float]:
    """``(clips/s, peak GiB)`` of ``args.steps`` training steps after ``args.warmup`` untimed ones."""
    torch.manual_seed(0)
    model = build_model(args.arch, args.classes).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    loss_fn = nn.CrossEntropyLoss(weight=torch.rand(args.classes, device=device) + 0.5)
    shape = (args.batch_size, 3, args.frames, *args.size)
    batches = [
        (torch.randn(shape, device=device), torch.randint(0, args.classes, (args.batch_size,), device=device))
        for _ in range(2)
    ]
    for i in range(args.warmup):
        train_step(model, *batches[i % 2], optimizer, scaler, loss_fn, amp)
    sync(device)
    t0 = time.perf_counter()
    for i in range(args.steps):
        train_step(model, *batches[i % 2], optimizer, scaler, loss_fn, amp)
    sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return args.steps * args.batch_size / seconds, peak


def time_data(args: argparse.Namespace) -> float:
    """clips/s of the training data path (decode + resize + augment) over ``args.data_clips`` written clips."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        items = []
        for i in range(args.data_clips):
            # smooth random content moving a little each frame: compresses like real footage, not like noise
            base = rng.integers(0, 255, (23, 17, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:184, :136]
            frames = np.stack([base[t // 2 : t // 2 + 176, t // 2 : t // 2 + 128] for t in range(16)])
            path = Path(tmp) / f"{i:07d}.mp4"
            write_clip(path, frames)
            items.append(ClipItem(path.stem, path, i % args.classes))
        clip = ClipConfig(frames=args.frames, size=list(args.size))
        loader = make_loader(items, clip, args.batch_size, args.workers, torch.device("cpu"), Augment(),
                             generator=torch.Generator().manual_seed(0))  # the training loader bball-train uses
        t0 = time.perf_counter()
        n = sum(len(y) for _, y, _ in loader)
        return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--arch", default="r2plus1d_18", choices=list(ARCHS))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, nargs=2, default=[176, 128], metavar=("H", "W"))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--data-clips", type=int, default=0, help="also time the data path over N written clips")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(resolve_device(args.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"machine: {machine(device)}")
    print(
        f"model: {args.arch}, batch {args.batch_size} x {args.frames}x{args.size[0]}x{args.size[1]}, "
        f"{args.steps} timed steps after {args.warmup} warm-up"
    )
    fp32, fp32_mem = time_steps(args, device, amp=False)
    amp_name = "amp fp16" if device.type == "cuda" else "amp bf16"
    amp, amp_mem = time_steps(args, device, amp=True)
    for name, rate, mem in (("fp32", fp32, fp32_mem), (amp_name, amp, amp_mem)):
        peak = f"   peak {mem:.2f} GiB" if device.type == "cuda" else ""
        print(f"{name:>9}: {rate:9.1f} clips/s{peak}")
    print(f"AMP / fp32 = {amp / fp32:.2f}x")
    if args.data_clips:
        data = time_data(args)
        print(f"data path ({args.workers} workers, decode+resize+augment): {data:.1f} clips/s "
              f"= {data / max(fp32, amp):.2f}x the faster model step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
