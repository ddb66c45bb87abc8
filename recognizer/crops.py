"""Player crops for clip models: one code path for CPU and GPU (``torchvision.ops.roi_align``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import roi_align

from tracker.tubes import ClipWindow


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
        rois = torch.from_numpy(np.stack([b for _, b in items])).to(frame.device, dtype)
        out[slots] = roi_align(
            frame[None].to(dtype), [rois], output_size=out_hw, spatial_scale=1.0, sampling_ratio=2, aligned=True
        )
    return out.view(len(windows), t, 3, *out_hw).permute(0, 2, 1, 3, 4)
