"""Player crops for clip models: one code path for CPU and GPU (``torchvision.ops.roi_align``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import roi_align

from tracker.tracking.tubes import ClipWindow


def context_boxes(boxes: np.ndarray, out_hw: tuple[int, int], margin: float) -> np.ndarray:
    """Grow ``(N, 4)`` xyxy player boxes into crop boxes with the output's aspect ratio.

    The crop is centred on the box; its height is ``max(h, w / aspect) * (1 + margin)``
    with ``aspect = out_w / out_h``, so the whole player plus context fits undistorted.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    aspect = out_hw[1] / out_hw[0]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    ch = np.maximum(h, w / aspect) * (1.0 + margin)
    cw = ch * aspect
    return np.stack([cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2], axis=1)


def crop_windows(
    windows: Sequence[ClipWindow],
    frame_tensor,
    out_hw: tuple[int, int],
    margin: float,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Crop every window's boxes from its frames.

    Args:
        windows: N windows of T frames each.
        frame_tensor: callable ``frame_index -> (3, H, W)`` uint8 RGB tensor (on any device).
        out_hw: crop size ``(h, w)``.
        margin: context margin (see :func:`context_boxes`).
        dtype: dtype of the crops (``float16`` on GPU halves the memory traffic).

    Returns:
        ``(N, 3, T, h, w)`` crops in ``[0, 255]``, on the frames' device. Regions
        outside the frame are black.
    """
    if not windows:
        raise ValueError("crop_windows needs at least one window")
    t = len(windows[0].frame_indices)
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = {}
    for wi, win in enumerate(windows):
        if len(win.frame_indices) != t:
            raise ValueError("all windows in a batch must have the same length")
        crops = context_boxes(win.boxes, out_hw, margin)
        for ti, (f, box) in enumerate(zip(win.frame_indices.tolist(), crops)):
            by_frame.setdefault(f, []).append((wi * t + ti, box))
    out = None
    for f, items in by_frame.items():
        frame = frame_tensor(f)
        if out is None:
            out = torch.empty((len(windows) * t, 3, *out_hw), dtype=dtype, device=frame.device)
        slots = torch.tensor([s for s, _ in items], device=frame.device)
        boxes = np.stack([b for _, b in items])
        region, (x0, y0) = _covering(frame, boxes)
        rois = torch.from_numpy(boxes - np.float32([x0, y0, x0, y0])).to(frame.device, dtype)
        out[slots] = roi_align(
            region[None].to(dtype), [rois], output_size=out_hw, spatial_scale=1.0, sampling_ratio=2, aligned=True
        )
    return out.view(len(windows), t, 3, *out_hw).permute(0, 2, 1, 3, 4)


def _covering(frame: torch.Tensor, boxes: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
    """The part of a ``(3, H, W)`` frame that every sample ``roi_align`` takes for ``(K, 4)`` boxes
    needs (two pixels round their union for the bilinear neighbours), and its top-left corner.

    Only that part is converted to floating point: a whole 1080p frame per window frame is most
    of the cropping's cost on a CPU. The crops are the same as from the whole frame: where the
    part stops short of the frame's edge no sample comes near it, and at the frame's own edges
    ``roi_align``'s border rules apply as before.
    """
    height, width = frame.shape[-2:]
    x0 = int(np.clip(np.floor(boxes[:, 0].min()) - 2, 0, width))
    y0 = int(np.clip(np.floor(boxes[:, 1].min()) - 2, 0, height))
    x1 = int(np.clip(np.ceil(boxes[:, 2].max()) + 3, x0, width))
    y1 = int(np.clip(np.ceil(boxes[:, 3].max()) + 3, y0, height))
    if x1 - x0 < 1 or y1 - y0 < 1:  # every box is off the frame: all its samples are black
        return frame[:, :1, :1] * 0, (-(10**6), -(10**6))
    return frame[:, y0:y1, x0:x1], (x0, y0)


def crop_window_reference(window: ClipWindow, image, out_hw: tuple[int, int], margin: float) -> np.ndarray:
    """The simple path: one window's crops with OpenCV on the CPU, ``(3, T, h, w)`` float32 RGB in ``[0, 255]``.

    It samples exactly as :func:`crop_windows` (``roi_align``, ``aligned=True``,
    2x2 samples per output pixel): an affine warp onto a 2x grid of sample points
    (edge pixels repeated up to one pixel outside the frame, black beyond, as
    ``roi_align`` does), then the mean of each 2x2 block. It is the naive baseline of ``bench/`` and the
    oracle the batched GPU path is tested against. ``image(i)`` returns frame ``i``
    as ``(H, W, 3)`` uint8 BGR.
    """
    import cv2

    h, w = out_hw
    crops = context_boxes(window.boxes, out_hw, margin)
    out = np.empty((3, len(window.frame_indices), h, w), np.float32)
    for t, (f, (x1, y1, x2, y2)) in enumerate(zip(window.frame_indices.tolist(), crops)):
        bw, bh = (x2 - x1) / w, (y2 - y1) / h
        m = np.array([[bw / 2, 0, x1 - 0.5 + bw / 4], [0, bh / 2, y1 - 0.5 + bh / 4]], np.float64)
        src = image(f)[..., ::-1].astype(np.float32)
        fine = cv2.warpAffine(src, m, (2 * w, 2 * h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        xs = m[0, 2] + m[0, 0] * np.arange(2 * w)
        ys = m[1, 2] + m[1, 1] * np.arange(2 * h)
        inside = ((ys >= -1) & (ys <= src.shape[0]))[:, None] & ((xs >= -1) & (xs <= src.shape[1]))[None, :]
        fine *= inside[..., None]
        out[:, t] = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    return out
