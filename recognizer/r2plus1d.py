"""R(2+1)D action recogniser: batched clip classification with a checkpointed torchvision video model.

The checkpoint formats (ours, hkair's) and what feeds a model live in :mod:`recognizer.checkpoint`,
the architectures in :mod:`recognizer.models`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.checkpoint import (
    ActionCheckpoint,
    load_checkpoint,
    normalise_clips,
)
from recognizer.crops import crop_window_reference, crop_windows
from tracker.common.device import resolve_device
from tracker.tracking.tubes import ClipWindow


class R2Plus1DRecognizer(ActionRecognizer):
    """Batched clip classification with a checkpointed torchvision video model.

    The checkpoint decides the labels, the clip length and size, the crop margin and how pixels
    become model input (channel order, scale, mean/std): nothing about the input is set here.

    Args:
        checkpoint: a path (ours or hkair's format, see :mod:`recognizer.checkpoint`), or an
            :class:`ActionCheckpoint` already loaded.
        device: where crops and the model run, by the one device rule
            (:func:`tracker.common.device.resolve_device`: ``"auto"`` is CUDA when there is a GPU).
            ``"cuda"`` keeps frames on the GPU (crops with ``roi_align`` there); ``"cpu"`` runs the
            same code on the CPU, much slower for ``r2plus1d_18``. :meth:`to` moves it later.
        half: autocast to float16 on CUDA: faster and half the activation memory on tensor-core
            GPUs, probabilities within float16 rounding of float32. Ignored on the CPU (bfloat16
            is slower there).
        batch_size: clips per forward pass. Raising it keeps a GPU busier, up to the point where
            its memory runs out; lowering it lowers peak memory. The probabilities do not change.
        compile: ``torch.compile`` the model (CUDA only): faster steady state, a first call
            that takes tens of seconds; off for short videos.
        batched: ``True`` (default) is the fast path: all windows' crops with ``roi_align`` from
            the frames already on ``device``, ``batch_size`` clips per forward. ``False`` is the
            simple path: OpenCV crops on the CPU and one forward per window (the naive baseline
            in ``bench/`` and the oracle for the fast path's tests); same probabilities, slower.
    """

    def __init__(
        self,
        checkpoint: str | Path | ActionCheckpoint,
        device: str | torch.device = "cpu",
        half: bool = False,
        batch_size: int = 32,
        compile: bool = False,
        batched: bool = True,
    ) -> None:
        self.batched = batched
        self._half, self._compile = half, compile
        ckpt = checkpoint if isinstance(checkpoint, ActionCheckpoint) else load_checkpoint(checkpoint, "cpu")
        self.checkpoint = ckpt
        self.labels = list(ckpt.labels)
        self.clip = ckpt.clip
        self.window, self.stride = int(ckpt.clip.frames), int(ckpt.clip.stride)
        self.checkpoint_sha256 = ckpt.sha256
        self.name = f"{ckpt.arch} ({len(self.labels)} classes)"
        self.batch_size = max(1, int(batch_size))
        self.to(device)

    def to(self, device: str | torch.device) -> R2Plus1DRecognizer:
        """Run on ``device`` from now on (half precision and ``compile`` apply on CUDA only)."""
        self.device = torch.device(resolve_device(str(device)))
        cuda = self.device.type == "cuda"
        self.half = bool(self._half and cuda)
        self._crop_dtype = torch.float16 if self.half else torch.float32
        self.model = self.checkpoint.model.to(self.device)
        if cuda:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        if self._compile and cuda:
            self.model = torch.compile(self.model)
        return self

    @torch.inference_mode()
    def predict(self, windows: Sequence[ClipWindow], frames: FrameBuffer, context=None) -> list[WindowPrediction]:
        if not self.batched:
            return [WindowPrediction(w.track_id, w.frame_indices, self._predict_one(w, frames)) for w in windows]
        out: list[WindowPrediction] = []
        for i in range(0, len(windows), self.batch_size):
            batch = list(windows[i : i + self.batch_size])
            probs = self.predict_probs(batch, frames.tensor)
            out.extend(
                WindowPrediction(w.track_id, w.frame_indices, p) for w, p in zip(batch, probs)
            )
        return out

    def _predict_one(self, window: ClipWindow, frames: FrameBuffer) -> np.ndarray:
        window = self._fit_length(window)
        size = (int(self.clip.size[0]), int(self.clip.size[1]))
        crops = torch.from_numpy(crop_window_reference(window, frames.image, size, self.clip.margin))[None]
        x = normalise_clips(crops.to(self.device), self.clip)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1)[0].cpu().numpy()

    def _fit_length(self, window: ClipWindow) -> ClipWindow:
        """A window of ``clip.frames`` samples (evenly resampled when the caller cut another length)."""
        n = len(window.frame_indices)
        if n == self.clip.frames:
            return window
        idx = np.linspace(0, n - 1, self.clip.frames).round().astype(np.int64)
        return ClipWindow(window.track_id, window.frame_indices[idx], window.boxes[idx])

    def predict_probs(self, windows: Sequence[ClipWindow], frame_tensor) -> np.ndarray:
        """``(N, C)`` probabilities for windows whose frames ``frame_tensor(i)`` returns."""
        windows = [self._fit_length(w) for w in windows]
        size = (int(self.clip.size[0]), int(self.clip.size[1]))
        crops = crop_windows(windows, frame_tensor, size, self.clip.margin, dtype=self._crop_dtype)
        x = normalise_clips(crops.to(self.device), self.clip)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()
