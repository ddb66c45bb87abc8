"""Train :class:`~.net.BallNet` on synthetic balls pasted into the user's own footage.

    python -m tracker.game.ball.net_train --backgrounds VIDEO [VIDEO ...] --out ball_net.pt [--minutes 20]

Samples are made on the fly (:class:`~.net_data.SampleMaker`); a fixed synthetic validation set (other
random draws over the same footage) is scored at the end: per crop, the heatmap's strongest peak is a
hit when within half a ball diameter of the pasted ball, and a report on a crop without a ball is a false
one. The threshold with the best F1 there is stored in the file (``meta["threshold"]``). No hand label
is used. The weights are derived from the footage: mind its licence before sharing them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from tracker.common.errors import run_command
from tracker.common.files import atomic_write
from tracker.game.ball.net import BallNet, BallHeatmap, focal_loss, save_ball_net
from tracker.game.ball.net_data import Backgrounds, SampleMaker

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def validate(net: BallNet, maker: SampleMaker, n: int = 300, seed: int = 12345) -> list[dict]:
    """Recall / precision / F1 of the strongest peak per crop at each of :data:`THRESHOLDS` on ``n``
    synthetic crops drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    x, _, infos = maker.batch(rng, n)
    net.eval()
    with torch.no_grad():
        heat = torch.sigmoid(net(torch.from_numpy(x)))[:, 0].numpy()
    best = [BallHeatmap.peaks(h, 0.0, k=1) for h in heat]
    out = []
    for th in THRESHOLDS:
        hit = made = 0
        for (xy, val), info in zip(best, infos):
            if not len(val) or val[0] < th:
                continue
            made += 1
            if info["xy"] is not None and np.hypot(*(xy[0] - info["xy"])) <= info["diameter"] / 2:
                hit += 1
        pos = sum(i["xy"] is not None for i in infos)
        r, p = hit / max(pos, 1), hit / max(made, 1)
        out.append({"threshold": th, "recall": r, "precision": p, "f1": 2 * r * p / max(r + p, 1e-9)})
    return out


def train(maker: SampleMaker, minutes: float | None = None, steps: int | None = None, batch: int = 32,
          lr: float = 3e-3, seed: int = 0, width: int = 16, log=print, log_every: int = 50) -> tuple[BallNet, dict]:
    """Adam with a cosine-decayed learning rate, until ``steps`` steps or ``minutes`` of wall time
    (whichever comes first; the schedule follows the step budget when given, else the time). Returns
    the net (eval mode) and ``{"steps", "seconds", "last_loss"}``."""
    if minutes is None and steps is None:
        raise ValueError("give minutes or steps")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = BallNet(width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    t0, step, losses = time.perf_counter(), 0, []
    while True:
        elapsed = time.perf_counter() - t0
        frac = step / steps if steps else elapsed / (60 * minutes)
        if (steps is not None and step >= steps) or (minutes is not None and elapsed >= 60 * minutes):
            break
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        x, y, _ = maker.batch(rng, batch)
        net.train()
        loss = focal_loss(net(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if log is not None and step % log_every == 0:
            log(f"step {step}: loss {np.mean(losses[-log_every:]):.3f} ({time.perf_counter() - t0:.0f} s)")
    return net.eval(), {"steps": step, "seconds": time.perf_counter() - t0,
                        "last_loss": float(np.mean(losses[-log_every:])) if losses else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ball-net-train", description=__doc__.splitlines()[0])
    ap.add_argument("--backgrounds", nargs="+", required=True, help="videos whose frames are the backgrounds")
    ap.add_argument("--out", required=True, help="weights file to write (.pt)")
    ap.add_argument("--minutes", type=float, default=20.0, help="training wall time")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps instead")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=96, help="crop side (multiple of 4)")
    ap.add_argument("--width", type=int, default=16, help="channels of the first layers")
    ap.add_argument("--max-width", type=int, default=1280, help="downscale wider background frames to this")
    ap.add_argument("--diameter", type=float, nargs=2, default=(6.0, 24.0), metavar=("MIN", "MAX"),
                    help="rendered ball diameter range, crop pixels")
    ap.add_argument("--defocus", type=float, default=0.0, help="share of balls blurred before pasting")
    ap.add_argument("--fade", type=float, nargs=2, default=(1.0, 1.0), metavar=("LO", "HI"),
                    help="ball opacity range (below 1: low contrast)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        bgs = [Backgrounds(v, max_width=args.max_width) for v in args.backgrounds]
        print(f"backgrounds: {', '.join(f'{v} ({len(b.frames)} distinct frames)' for v, b in zip(args.backgrounds, bgs))}")
        maker = SampleMaker(bgs, size=args.size, diameter=tuple(args.diameter), defocus=args.defocus,
                            fade=tuple(args.fade))
        net, info = train(maker, minutes=None if args.steps else args.minutes, steps=args.steps,
                          batch=args.batch, seed=args.seed, width=args.width)
        val = validate(net, maker)
        best = max(val, key=lambda v: v["f1"])
        print("synthetic validation (threshold: recall / precision): " + "; ".join(
            f"{v['threshold']:.1f}: {v['recall']:.0%} / {v['precision']:.0%}" for v in val))
        meta = {**info, "threshold": best["threshold"], "validation": val, "backgrounds": args.backgrounds,
                "size": args.size, "batch": args.batch, "seed": args.seed, "diameter": list(args.diameter),
                "defocus": args.defocus, "fade": list(args.fade)}
        atomic_write(args.out, lambda tmp: save_ball_net(net, tmp, meta))
        print(f"wrote {args.out}: {info['steps']} steps in {info['seconds']:.0f} s, threshold {best['threshold']} "
              f"(synthetic F1 {best['f1']:.2f})")
        return 0

    return run_command("ball-net-train", body, args.debug)


if __name__ == "__main__":
    sys.exit(main())
