"""A tiny TrackNet-style ball heatmap network, trained on synthetic balls (:mod:`.net_data`,
:mod:`.net_train`); an opt-in candidate source of :class:`~.finder.BallFinder` (``ball_net=PATH``).

Input: three consecutive *distinct* frames ``(t-2, t-1, t)`` of a region (a frame that repeats the
previous one, e.g. frame-rate conversion, is skipped), as 9 channels: frame ``t`` (BGR, scaled to
[0, 1]), ``t - (t-1)`` and ``(t-1) - (t-2)`` (BGR differences in [-1, 1]); no camera compensation (the
net sees real pans in its training backgrounds). Output: ball-centre heatmap logits at half the
input resolution (``(H/2, W/2)`` for an input of ``(H, W)``, H and W padded up to multiples of 4).
Fully convolutional: the same weights run on a 96x96 training crop or a whole 1280x720 frame.

No weights ship with the project: ``python -m tracker.game.ball.net_train --backgrounds VIDEO ...
--out ball_net.pt`` makes them from the user's own footage (a ball is rendered into it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tracker.common.errors import WeightsError
from tracker.game.ball.candidates import BallCandidates, expected_diameter

#: Output stride: heatmap pixel (i, j) is the input's (2 j + 0.5, 2 i + 0.5) region centre.
STRIDE = 2
#: What a saved file holds besides the weights (a check that it is one of ours).
KIND = "bball-annotate ball heatmap net v1"


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BallNet(nn.Module):
    """``(B, 9, H, W)`` -> ``(B, 1, H/2, W/2)`` logits (H, W multiples of 4). ~35k parameters at width 16.

    Encoder: stride-2 then stride-4 features with dilated convolutions (receptive field ~60 px, enough
    to see a hand or the floor around a ball); decoder: the stride-4 features upsampled and joined to
    the stride-2 ones (a ~6 px ball is 3 heatmap pixels wide)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.width = w
        self.enc1 = nn.Sequential(_block(9, w, 2), _block(w, w))
        self.enc2 = nn.Sequential(_block(w, 2 * w, 2), _block(2 * w, 2 * w, dilation=2), _block(2 * w, 2 * w, dilation=4))
        self.dec = _block(3 * w, w)
        self.head = nn.Conv2d(w, 1, 1)
        nn.init.constant_(self.head.bias, -4.0)  # start near "no ball anywhere" (focal-loss practice)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.enc1(x)
        b = self.enc2(a)
        b = F.interpolate(b, size=a.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.dec(torch.cat([a, b], 1)))


def make_input(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Three BGR uint8 ``(H, W, 3)`` frames ``(t-2, t-1, t)`` -> ``(9, H, W)`` float32 net input."""
    f0, f1, f2 = (np.asarray(f, np.float32) / 255.0 for f in frames)
    return np.concatenate([f2, f2 - f1, f1 - f0], axis=2).transpose(2, 0, 1).copy()


def heatmap_target(xy: np.ndarray | None, diameter: float, size: tuple[int, int]) -> np.ndarray:
    """``(h, w)`` float32 training target at the net's output scale for a ball centred at input pixel
    ``xy`` (None: no ball): a Gaussian of sigma ``max(0.75, diameter / 4 / STRIDE)`` output pixels
    whose nearest pixel to the centre is exactly 1 (the focal loss's positive)."""
    h, w = size
    out = np.zeros((h, w), np.float32)
    if xy is None:
        return out
    cx, cy = (xy[0] - 0.5) / STRIDE, (xy[1] - 0.5) / STRIDE  # output pixel j covers input 2j..2j+1
    s = max(0.75, diameter / 4 / STRIDE)
    yy, xx = np.mgrid[0:h, 0:w]
    out[:] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    i, j = int(round(cy)), int(round(cx))
    if 0 <= i < h and 0 <= j < w:
        out[i, j] = 1.0
    return out


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss: positives where ``target == 1``, negatives elsewhere
    down-weighted near a positive by ``(1 - target) ** beta``; normalised by the positives (>= 1)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def save_ball_net(net: BallNet, path: str | Path, meta: dict | None = None) -> None:
    """Write the weights with :data:`KIND`, the width and ``meta`` (how it was trained)."""
    torch.save({"kind": KIND, "width": net.width, "state_dict": net.state_dict(), "meta": meta or {}}, str(path))


def load_ball_net(path: str | Path) -> BallNet:
    """Read a :func:`save_ball_net` file; a missing, unreadable or foreign file raises
    :class:`WeightsError` with a one-line cause."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(p, "ball net weights not found" if not p.exists() else "ball net weights is not a file")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds on a corrupt file
        raise WeightsError(p, f"not a readable ball net file ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        raise WeightsError(p, "not a ball net file (made by python -m tracker.game.ball.net_train)")
    net = BallNet(width=int(ckpt.get("width", 16)))
    net.meta = dict(ckpt.get("meta") or {})
    try:
        net.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError) as e:
        raise WeightsError(p, f"ball net weights do not fit the network ({str(e).splitlines()[0][:120]})") from None
    return net.eval()


class BallHeatmap:
    """A trained :class:`BallNet` run on whole frames or regions, keeping the last distinct frames.

    Args:
        net: the network (or a path, read with :func:`load_ball_net`); it runs with torch's thread
            pool as the caller set it.
    """

    def __init__(self, net: BallNet | str | Path) -> None:
        self.net = (load_ball_net(net) if isinstance(net, (str, Path)) else net).eval()

    @torch.no_grad()
    def heatmap(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """``(t-2, t-1, t)`` BGR uint8 frames of one size ``(H, W, 3)`` -> ``(ceil(H/4)*2, ceil(W/4)*2)``
        float32 ball probability (sigmoid) at half resolution; the input is zero-padded to multiples of 4
        at the bottom / right."""
        x = torch.from_numpy(make_input(frames))[None]
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % 4, 0, (-h) % 4))
        return torch.sigmoid(self.net(x))[0, 0].numpy()

    @staticmethod
    def peaks(heat: np.ndarray, threshold: float, k: int = 3, offset: tuple[float, float] = (0.0, 0.0)
              ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` local maxima (3x3) of ``heat`` at or above ``threshold``, strongest first:
        ``(N, 2)`` input-pixel centres (+ ``offset``, sub-pixel by a 3x3 weighted mean) and ``(N,)`` values."""
        t = torch.from_numpy(heat)[None, None]
        local = (F.max_pool2d(t, 3, 1, 1) == t)[0, 0].numpy() & (heat >= threshold)
        ii, jj = np.nonzero(local)
        order = np.argsort(-heat[ii, jj])[:k]
        xy, val = [], []
        for i, j in zip(ii[order], jj[order]):
            i0, i1, j0, j1 = max(i - 1, 0), min(i + 2, heat.shape[0]), max(j - 1, 0), min(j + 2, heat.shape[1])
            patch = heat[i0:i1, j0:j1]
            yy, xx = np.mgrid[i0:i1, j0:j1]
            cy, cx = (patch * yy).sum() / patch.sum(), (patch * xx).sum() / patch.sum()
            xy.append((STRIDE * cx + 0.5 + offset[0], STRIDE * cy + 0.5 + offset[1]))
            val.append(float(heat[i, j]))
        return np.array(xy, np.float64).reshape(-1, 2), np.array(val, np.float64)


class NetCandidates:
    """:class:`BallHeatmap` peaks as ball candidates for :class:`~.finder.BallFinder` (opt-in:
    ``BallFinder(net=...)``, ``PlayerTracking.build(ball_net=PATH)``). Call it once per *distinct*
    frame (the finder answers repeated frames without looking); it keeps the two previous ones.

    Args:
        heatmap: the trained net (a :class:`BallHeatmap`, a :class:`BallNet`, or a weights path).
        threshold: peaks at or above it become candidates (None: the file's ``meta["threshold"]``,
            chosen on synthetic validation, else 0.5).
        trust: a peak at or above this is a ``detected`` candidate (starts or takes a track at once,
            like a detector hit); None: never (the net's peaks are ``moving`` candidates, confirmed by
            the tracker's chain like a moving colour blob).
        max_candidates: strongest peaks kept per frame.
        work_width: frames wider than this are downscaled before the net (cost grows with the area).
    """

    def __init__(self, heatmap: BallHeatmap | BallNet | str | Path, threshold: float | None = None, trust: float | None = None,
                 max_candidates: int = 3, work_width: int | None = None) -> None:
        self.heatmap = heatmap if isinstance(heatmap, BallHeatmap) else BallHeatmap(heatmap)
        if threshold is None:
            threshold = float(getattr(self.heatmap.net, "meta", {}).get("threshold", 0.5))
        self.threshold, self.trust, self.max_candidates, self.work_width = threshold, trust, max_candidates, work_width
        self._history: list[np.ndarray] = []

    def reset(self) -> None:
        self._history = []

    def __call__(self, image: np.ndarray, players_xyxy: np.ndarray) -> BallCandidates:
        s = 1.0 if self.work_width is None or image.shape[1] <= self.work_width else self.work_width / image.shape[1]
        small = image if s == 1.0 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        self._history = (self._history + [small])[-3:]
        if len(self._history) < 3 or self._history[0].shape != small.shape or self._history[1].shape != small.shape:
            return BallCandidates.empty()
        xy, val = self.heatmap.peaks(self.heatmap.heatmap(self._history), self.threshold, self.max_candidates)
        if not len(val):
            return BallCandidates.empty()
        xy = xy / s
        dia = expected_diameter(xy, players_xyxy, default=10.0)
        detected = val >= self.trust if self.trust is not None else np.zeros(len(val), bool)
        return BallCandidates(xy, dia, val, np.ones(len(val), bool), detected)
