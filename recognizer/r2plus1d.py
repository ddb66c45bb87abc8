"""R(2+1)D action recogniser and the checkpoint format that feeds it.

A checkpoint carries everything needed to use it, as torchvision's weight enums
carry their transforms and categories::

    {"format": "bball-annotate/1", "arch": "r2plus1d_18", "labels": [...],
     "clip": {"frames": 16, "size": [112, 112], "stride": 8, "margin": 0.25,
              "mean": [...], "std": [...]},
     "state_dict": {...}, "metrics": {...}}

A bare torchvision ``r2plus1d_18`` state_dict whose ``fc.weight`` is ``(10, 512)``
(what hkair's ``train.py`` saves) is read as SpaceJam's 10 classes with the
default clip settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.models.video as tv_video
from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.crops import crop_window_reference, crop_windows
from recognizer.labels import SPACEJAM_LABELS
from tracker.common.device import resolve_device
from tracker.common.errors import WeightsError
from tracker.tracking.tubes import ClipWindow
from tracker.common.weights import file_sha256, verify_weights

CHECKPOINT_FORMAT = "bball-annotate/1"
KINETICS_MEAN = [0.43216, 0.394666, 0.37645]
KINETICS_STD = [0.22803, 0.22145, 0.216989]


@dataclass
class ClipConfig:
    """How clips are cut and normalised for a model.

    Attributes:
        frames: frames per clip.
        size: crop size ``[h, w]`` (112x112 default; SpaceJam's native is 128x176).
        stride: frames between window starts along a tube.
        margin: context added around the player box (fraction of its larger side).
        mean, std: per-channel RGB normalisation of ``[0, 1]`` pixels.
    """

    frames: int = 16
    size: list[int] = field(default_factory=lambda: [112, 112])
    stride: int = 8
    margin: float = 0.25
    mean: list[float] = field(default_factory=lambda: list(KINETICS_MEAN))
    std: list[float] = field(default_factory=lambda: list(KINETICS_STD))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        cfg = cls(**known)
        if cfg.frames < 1 or len(cfg.size) != 2 or min(cfg.size) < 8 or len(cfg.mean) != 3 or len(cfg.std) != 3:
            raise ValueError(f"bad clip settings {d}")
        return cfg


def r2plus1d_tiny(num_classes: int = 10) -> VideoResNet:
    """R(2+1)D with one block per stage (torchvision's blocks): for tests and quick experiments."""
    return VideoResNet(
        block=BasicBlock,
        conv_makers=[Conv2Plus1D] * 4,
        layers=[1, 1, 1, 1],
        stem=R2Plus1dStem,
        num_classes=num_classes,
    )


ARCHS = ("r2plus1d_18", "r3d_18", "mc3_18", "s3d", "mvit_v2_s", "r2plus1d_tiny")


def build_model(arch: str, num_classes: int) -> nn.Module:
    """An untrained video classifier of ``arch`` with a ``num_classes`` head."""
    if arch == "r2plus1d_tiny":
        return r2plus1d_tiny(num_classes)
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return getattr(tv_video, arch)(weights=None, num_classes=num_classes)


@dataclass
class ActionCheckpoint:
    """A loaded, verified action model: model in eval mode plus what feeds it."""

    model: nn.Module
    arch: str
    labels: list[str]
    clip: ClipConfig
    sha256: str
    metrics: dict[str, Any]


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    arch: str,
    labels: Sequence[str],
    clip: ClipConfig,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint in our format (atomically) plus ``<path>.sha256``; return the sha256."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "labels": list(labels),
        "clip": asdict(clip),
        "state_dict": state,
        "metrics": dict(metrics or {}),
    }
    if extra:
        payload.update(extra)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    digest = file_sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """The tensors of a state_dict, found at the top level or under ``state_dict`` / ``model_state_dict``
    / ``model``, with DataParallel's ``module.`` prefix removed; ``None`` when there are none."""
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    return {k.removeprefix("module."): v for k, v in obj.items()}


def read_checkpoint_file(path: Path, missing: str) -> Any:
    """``torch.load(path, weights_only=True)``, or a :class:`WeightsError` (``missing`` when there is no file)."""
    if not path.is_file():
        raise WeightsError(path, missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(path, f"not a readable PyTorch checkpoint ({type(exc).__name__}: {str(exc)[:120]})") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ActionCheckpoint:
    """Load and verify an action checkpoint (ours, or a bare SpaceJam r2plus1d_18 state_dict).

    Raises:
        WeightsError: missing file, not a checkpoint, unknown layout, or weights
            that do not fit the architecture.
    """
    path = Path(path)
    missing = "action model not found; pass --action-model PATH to a checkpoint made by bball-train"
    digest = verify_weights(path) if path.is_file() else ""  # a wrong sha256 is named before the file is read
    raw = read_checkpoint_file(path, missing)
    if isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT:
        try:
            arch, labels = str(raw["arch"]), [str(x) for x in raw["labels"]]
            clip = ClipConfig.from_dict(raw.get("clip", {}))
            state = unwrap_state_dict(raw["state_dict"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(path, f"malformed {CHECKPOINT_FORMAT} checkpoint ({exc})") from None
        metrics = raw.get("metrics", {}) or {}
    else:
        state = unwrap_state_dict(raw)
        if state is None:
            raise WeightsError(path, "not an action checkpoint: expected bball-train's format or a torchvision state_dict")
        fc = state.get("fc.weight")
        if fc is None or tuple(fc.shape) != (len(SPACEJAM_LABELS), 512):
            shape = None if fc is None else tuple(fc.shape)
            raise WeightsError(
                path,
                f"bare state_dict with fc.weight {shape}; only SpaceJam r2plus1d_18 (fc.weight (10, 512)) "
                "is recognised without metadata; re-save it with bball-train",
            )
        arch, labels, clip, metrics = "r2plus1d_18", list(SPACEJAM_LABELS), ClipConfig(), {}
    if state is None:
        raise WeightsError(path, "checkpoint holds no tensors")
    try:
        model = build_model(arch, len(labels))
    except ValueError as exc:
        raise WeightsError(path, str(exc)) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][1:2]
        raise WeightsError(path, f"weights do not fit {arch} with {len(labels)} classes: {' '.join(first)[:200]}") from None
    model.eval().to(device)
    return ActionCheckpoint(model=model, arch=arch, labels=labels, clip=clip, sha256=digest, metrics=dict(metrics))


def normalise_clips(crops: torch.Tensor, clip: ClipConfig) -> torch.Tensor:
    """``(N, 3, T, h, w)`` pixels in ``[0, 255]`` -> model input (mean/std of ``clip``)."""
    mean = torch.tensor(clip.mean, device=crops.device, dtype=crops.dtype).view(1, 3, 1, 1, 1) * 255.0
    std = torch.tensor(clip.std, device=crops.device, dtype=crops.dtype).view(1, 3, 1, 1, 1) * 255.0
    return (crops - mean) / std


class R2Plus1DRecognizer(ActionRecognizer):
    """Batched clip classification with a checkpointed torchvision video model.

    Args:
        checkpoint: a path, or an :class:`ActionCheckpoint` already loaded.
        device: where crops and the model run (``"cuda"`` keeps frames on the GPU).
        half: autocast to float16 on CUDA (bfloat16 on CPU is not used: slower there).
        batch_size: clips per forward pass.
        compile: ``torch.compile`` the model (CUDA only; first call is slow).
        batched: the fast path (default): all windows' crops with ``roi_align`` from the
            frames already on ``device``, ``batch_size`` clips per forward. ``False`` is the
            simple path: OpenCV crops on the CPU and one forward per window (the naive
            baseline in ``bench/``, and the oracle for the fast path's tests).
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
