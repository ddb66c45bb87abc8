"""Action checkpoints: what feeds a model (:class:`ClipConfig`), our file format, and the foreign ones.

A checkpoint carries everything needed to use it, as torchvision's weight enums carry
their transforms and categories::

    {"format": "bball-annotate/1", "arch": "r2plus1d_18", "labels": [...],
     "clip": {"frames": 16, "size": [112, 112], "stride": 8, "margin": 0.25,
              "channels": "RGB", "pixel_range": 1.0, "mean": [...], "std": [...]},
     "state_dict": {...}, "metrics": {...}}

Files read, and how they are fed:

* **ours** (above, written by ``bball-train``): as its ``clip`` says. Files written before
  ``channels`` / ``pixel_range`` existed mean RGB in ``[0, 1]``, which is what they were trained on.
* **hkair's** (``{"epoch", "state_dict", "optimizer"}``, a torchvision ``r2plus1d_18`` with a
  10-class ``fc``, fine-tuned on SpaceJam): fed as hkair's ``dataset.py`` fed it during training
  -- 16-frame player crops 176 high x 128 wide, **BGR** channel order (OpenCV), values
  **0-255**, **no mean/std** (:data:`HKAIR_CLIP`), labels SpaceJam's 10 classes.
* **a bare state_dict** (tensors only): refused. It says nothing about its labels or about the
  input it was trained on (channel order, value scale, mean/std, size), and a guess would run
  the model on input it never saw without a word. ``bball-train convert`` wraps it in our
  format once the user names its labels and preprocessing.

Everything else (a whole pickled model, a text file, an empty or truncated file, ...) is
refused with one sentence saying what the file is and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recognizer.labels import SPACEJAM_LABELS
from recognizer.models import build_model
from tracker.common.errors import OutputError, UsageError, WeightsError
from tracker.common.files import atomic_write, write_text
from tracker.common.weights import file_sha256, verify_weights

CHECKPOINT_FORMAT = "bball-annotate/1"
KINETICS_MEAN = [0.43216, 0.394666, 0.37645]
KINETICS_STD = [0.22803, 0.22145, 0.216989]
EXPECTED = "expected a checkpoint written by bball-train (best.pt) or hkair's {'epoch', 'state_dict', 'optimizer'}"


@dataclass
class ClipConfig:
    """How clips are cut and turned into model input.

    Attributes:
        frames: frames per clip.
        size: crop size ``[h, w]`` (112x112 default; SpaceJam's native is 176 high x 128 wide).
        stride: frames between window starts along a tube.
        margin: context added around the player box (fraction of its larger side).
        channels: ``"RGB"`` or ``"BGR"``: the channel order the model was trained on.
        pixel_range: pixels are scaled to ``[0, pixel_range]`` before ``mean``/``std``
            (``1.0``: ``[0, 1]``, torchvision's convention; ``255.0``: raw 8-bit values).
        mean, std: per-channel normalisation in ``pixel_range`` units, in ``channels`` order;
            both ``None``: no normalisation.
    """

    frames: int = 16
    size: list[int] = field(default_factory=lambda: [112, 112])
    stride: int = 8
    margin: float = 0.25
    channels: str = "RGB"
    pixel_range: float = 1.0
    mean: list[float] | None = field(default_factory=lambda: list(KINETICS_MEAN))
    std: list[float] | None = field(default_factory=lambda: list(KINETICS_STD))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipConfig:
        """Read a checkpoint's ``clip`` entry; raises :class:`ValueError` for settings that cannot feed a model."""
        cfg = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        ok = cfg.frames >= 1 and len(cfg.size) == 2 and min(cfg.size) >= 8 and cfg.channels in ("RGB", "BGR")
        ok = ok and float(cfg.pixel_range) > 0 and (cfg.mean is None) == (cfg.std is None)
        if not ok or (cfg.mean is not None and (len(cfg.mean) != 3 or len(cfg.std) != 3)):
            raise ValueError(f"bad clip settings {d}")
        return cfg


#: How hkair's ``dataset.py`` fed its SpaceJam models: OpenCV's BGR frames, 0-255, no mean/std, 176x128.
HKAIR_CLIP = ClipConfig(frames=16, size=[176, 128], channels="BGR", pixel_range=255.0, mean=None, std=None)
#: torchvision's video models' Kinetics-400 input: RGB in [0, 1], Kinetics mean/std, 112x112.
KINETICS_CLIP = ClipConfig()
PRESETS = {"kinetics": KINETICS_CLIP, "hkair": HKAIR_CLIP}


def normalise_clips(crops: torch.Tensor, clip: ClipConfig) -> torch.Tensor:
    """``(N, 3, T, h, w)`` RGB pixels in ``[0, 255]`` -> model input as ``clip`` says (order, scale, mean/std)."""
    x = crops.flip(1) if clip.channels == "BGR" else crops
    per_unit = 255.0 / float(clip.pixel_range)  # 8-bit values per unit of model input
    if clip.mean is None:
        return x if per_unit == 1.0 else x / per_unit
    mean = torch.tensor(clip.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1) * per_unit
    std = torch.tensor(clip.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1) * per_unit
    return (x - mean) / std


@dataclass
class ActionCheckpoint:
    """A loaded, verified action model: model in eval mode plus what feeds it.

    ``source`` names the file's format: ``"bball-annotate/1"`` or ``"hkair"``.
    """

    model: nn.Module
    arch: str
    labels: list[str]
    clip: ClipConfig
    sha256: str
    metrics: dict[str, Any]
    source: str = CHECKPOINT_FORMAT


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    arch: str,
    labels: Sequence[str],
    clip: ClipConfig,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint in our format (atomically) plus ``<path>.sha256``; return the sha256.

    Raises:
        OutputError: the file cannot be written.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "labels": list(labels),
        "clip": asdict(clip),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metrics": dict(metrics or {}),
        **(extra or {}),
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    digest = file_sha256(path)
    write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
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


# ---------------------------------------------------------------- reading a file


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def describe_unreadable(path: Path, exc: BaseException) -> str:
    """One sentence for a file ``torch.load(weights_only=True)`` refused: what it is, what was expected, what to do."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return f"is empty (0 bytes), not a checkpoint: the save or download was cut short; {EXPECTED}"
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    pickled = re.search(r"GLOBAL ([\w.]+)", message)
    if pickled:
        return (
            f"holds a pickled Python object ({pickled.group(1)}), e.g. a whole model saved with torch.save(model), "
            "which is not loaded because unpickling can run code; save model.state_dict() instead and wrap it "
            "with bball-train convert"
        )
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return "is a PyTorch file that cannot be read (truncated or corrupt?); write or download it again"
    if _looks_like_text(head[:200]):
        return f"is a text file, not a PyTorch checkpoint; {EXPECTED}"
    return f"is not a PyTorch checkpoint (neither a torch.save archive nor a pickle); {EXPECTED}"


def read_checkpoint_file(path: str | Path, missing: str) -> Any:
    """``torch.load(path, weights_only=True)``, or a :class:`WeightsError` (``missing`` when there is no file)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; each is described in one sentence
        raise WeightsError(path, describe_unreadable(path, exc)) from None


def _is_hkair(raw: Any) -> bool:
    return isinstance(raw, dict) and "format" not in raw and {"epoch", "state_dict", "optimizer"} <= set(raw)


def _fc_shape(state: dict[str, torch.Tensor]) -> tuple[int, ...] | None:
    fc = state.get("fc.weight")
    return None if fc is None else tuple(fc.shape)


def interpret(raw: Any, path: Path) -> tuple[str, list[str], ClipConfig, dict[str, torch.Tensor], dict, str]:
    """``(arch, labels, clip, state_dict, metrics, source)`` of a loaded file, or a :class:`WeightsError`."""
    if isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT:
        try:
            arch, labels = str(raw["arch"]), [str(x) for x in raw["labels"]]
            clip = ClipConfig.from_dict(raw.get("clip", {}))
            state = unwrap_state_dict(raw["state_dict"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(path, f"is a malformed {CHECKPOINT_FORMAT} checkpoint ({exc}); write it again with bball-train") from None
        if state is None:
            raise WeightsError(path, f"is a {CHECKPOINT_FORMAT} checkpoint without weights; write it again with bball-train")
        metrics = raw.get("metrics")
        return arch, labels, clip, state, dict(metrics) if isinstance(metrics, dict) else {}, CHECKPOINT_FORMAT
    state = unwrap_state_dict(raw)
    if _is_hkair(raw) and state is not None:
        shape = _fc_shape(state)
        if shape != (len(SPACEJAM_LABELS), 512):
            raise WeightsError(
                path,
                f"looks like an hkair checkpoint but its fc.weight is {shape}, not SpaceJam's (10, 512); "
                "name its classes and preprocessing with bball-train convert (--labels, --preset)",
            )
        return "r2plus1d_18", list(SPACEJAM_LABELS), replace(HKAIR_CLIP), state, {"epoch": raw["epoch"]}, "hkair"
    if state is not None:
        raise WeightsError(
            path,
            f"is a bare state_dict (fc.weight {_fc_shape(state)}) that says neither its classes nor the input it was "
            "trained on (channel order, value scale, mean/std, size); wrap it with "
            f"bball-train convert {path} --out NEW.pt --labels NAMES --preset kinetics|hkair",
        )
    keys = sorted(map(str, raw))[:6] if isinstance(raw, dict) else type(raw).__name__
    raise WeightsError(path, f"holds no weights (found {keys}); {EXPECTED}")


def build_loaded(path: Path, arch: str, labels: Sequence[str], state: dict[str, torch.Tensor]) -> nn.Module:
    """``arch`` with a ``len(labels)`` head holding ``state`` exactly, or a :class:`WeightsError`."""
    try:
        model = build_model(arch, len(labels))
    except ValueError as exc:
        raise WeightsError(path, str(exc)) from None
    shape, own = _fc_shape(state), _fc_shape(model.state_dict())
    if shape is not None and own is not None and shape[0] != own[0]:
        raise WeightsError(
            path, f"weights have a {shape[0]}-class head but {len(labels)} labels are named ({', '.join(labels)})"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][1:2]
        raise WeightsError(path, f"weights do not fit {arch} with {len(labels)} classes: {' '.join(first)[:200]}") from None
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ActionCheckpoint:
    """Load and verify an action checkpoint (ours or hkair's; see the module docstring).

    Raises:
        WeightsError: missing file, not a checkpoint, a bare state_dict, or weights
            that do not fit the architecture.
    """
    path = Path(path)
    missing = "action model not found; pass --action-model PATH to a checkpoint made by bball-train"
    digest = verify_weights(path) if path.is_file() else ""  # a wrong sha256 is named before the file is read
    arch, labels, clip, state, metrics, source = interpret(read_checkpoint_file(path, missing), path)
    model = build_loaded(path, arch, labels, state)
    model.eval().to(device)
    return ActionCheckpoint(model, arch, labels, clip, digest, metrics, source)


def convert_checkpoint(
    src: str | Path,
    out: str | Path,
    *,
    labels: Sequence[str] | None = None,
    preset: str | None = None,
    arch: str = "r2plus1d_18",
    overwrite: bool = False,
) -> ActionCheckpoint:
    """Wrap a foreign file (a bare state_dict, hkair's) in our format, naming what it lacks.

    Args:
        src: the file to convert.
        out: our checkpoint to write (with its ``.sha256``).
        labels: class names, head order; required for a bare state_dict (default: the file's own).
        preset: the input the weights were trained on, a key of :data:`PRESETS`; required for a
            bare state_dict (default: the file's own).
        arch: architecture of a bare state_dict.
        overwrite: replace ``out`` when it exists.

    Raises:
        UsageError: labels or preset missing for a bare state_dict, or an unknown preset.
        WeightsError: the file cannot be read, or its weights do not fit.
        OutputError: ``out`` exists (without ``overwrite``) or cannot be written.
    """
    src, out = Path(src), Path(out)
    if out.exists() and not overwrite:
        raise OutputError(out, "already exists; pass --overwrite to replace it")
    if preset is not None and preset not in PRESETS:
        raise UsageError(None, f"unknown --preset {preset!r}; choose {' or '.join(PRESETS)}")
    raw = read_checkpoint_file(src, "checkpoint to convert not found")
    state = unwrap_state_dict(raw)
    if (isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT) or state is None:
        arch, own_labels, clip, state, metrics, source = interpret(raw, src)  # ours, or the "no weights" error
    else:
        hkair = _is_hkair(raw)
        spacejam = hkair and _fc_shape(state) == (len(SPACEJAM_LABELS), 512)
        own_labels = list(SPACEJAM_LABELS) if spacejam else None
        clip = replace(HKAIR_CLIP) if hkair else None
        metrics, source = ({"epoch": raw["epoch"]}, "hkair") if hkair else ({}, "state_dict")
    labels = list(labels) if labels is not None else own_labels
    if labels is None:
        raise UsageError(src, "name its classes with --labels (comma-separated, in the head's order)")
    if preset is not None:
        clip = replace(PRESETS[preset], margin=clip.margin if clip else PRESETS[preset].margin)
    if clip is None:
        raise UsageError(src, "name the input its weights were trained on with --preset "
                         "(kinetics: RGB, [0, 1], Kinetics mean/std, 112x112; hkair: BGR, 0-255, none, 176x128)")
    model = build_loaded(src, arch, labels, state)
    extra = {"converted_from": {"file": src.name, "format": source}}
    sha = save_checkpoint(out, model, arch, labels, clip, metrics, extra)
    return ActionCheckpoint(model.eval(), arch, labels, clip, sha, metrics, CHECKPOINT_FORMAT)
