"""Where a model starts: ``--init kinetics`` (torchvision's Kinetics-400 weights), ``none`` or a file."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import get_model_weights

from recognizer.checkpoint import CHECKPOINT_FORMAT, ClipConfig, read_checkpoint_file, unwrap_state_dict
from recognizer.models import build_model
from tracker.common.errors import UsageError, WeightsError

#: Seconds to wait for the download host before calling the machine offline.
NETWORK_TIMEOUT = 3.0


def top_stages(model: nn.Module) -> list[str]:
    """Names of the model's top-level children that hold parameters, input to output (the last is the head)."""
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], source: str | Path, arch: str) -> list[str]:
    """Load ``state`` into ``model``, re-heading it: head weights whose shape differs are left fresh.

    Returns:
        The parameter names left at their fresh initialisation (the re-headed ones).

    Raises:
        WeightsError: weights outside the head are missing, extra or of another shape.
    """
    own = model.state_dict()
    head = top_stages(model)[-1] + "."
    state = {k.removeprefix("module."): v for k, v in state.items()}
    mismatch = {k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)}
    missing = {k for k in own if k not in state}
    unexpected = {k for k in state if k not in own}
    bad = sorted(k for k in mismatch | missing | unexpected if not k.startswith(head))
    if bad:
        raise WeightsError(
            source, f"weights do not fit {arch}: {len(bad)} tensors outside the head differ (first: {bad[0]})"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own and k not in mismatch}, strict=False)
    return sorted(k for k in mismatch | missing)


def kinetics_weights(arch: str):
    """torchvision's Kinetics-400 weights enum entry for ``arch``; :class:`UsageError` when it has none."""
    try:
        return get_model_weights(arch).KINETICS400_V1
    except (ValueError, AttributeError):
        raise UsageError(None, f"{arch} has no Kinetics-400 weights in torchvision; use --init none or --init PATH") from None


def cached_path(url: str) -> Path:
    """Where torchvision keeps a downloaded weights file (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def require_network(url: str, timeout: float = NETWORK_TIMEOUT) -> None:
    """Raise a :class:`WeightsError` at once when ``url``'s host cannot be reached within ``timeout`` s.

    Name lookup and TCP connect run in a helper thread, so a hanging resolver cannot hold the
    run either: offline, ``--init kinetics`` fails in seconds instead of after urllib's retries.
    """
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    failure: list[str] = ["no answer"]

    def connect() -> None:
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            failure.clear()
        except OSError as exc:
            failure[:] = [" ".join(str(exc.strerror or exc).split())]

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout + 0.5)
    if failure:
        raise WeightsError(
            url,
            f"cannot reach {parts.hostname} to download the Kinetics-400 weights ({failure[0]}); go online, "
            f"or put the file at {cached_path(url)} or pass it with --init PATH, or use --init none",
        )


def check_kinetics(arch: str) -> None:
    """Fail fast (before any indexing) when ``--init kinetics`` cannot get its weights."""
    weights = kinetics_weights(arch)
    if not cached_path(weights.url).is_file():
        require_network(weights.url)


def kinetics_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's Kinetics-400 weights for ``arch`` (downloaded once into the torch hub cache)."""
    weights = kinetics_weights(arch)
    check_kinetics(arch)
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # URLError, hash mismatch, corrupt cache file, ...: all mean "no weights"
        raise WeightsError(
            weights.url,
            f"could not download Kinetics weights ({type(exc).__name__}: {' '.join(str(exc).split())[:100]}); "
            "use --init none or --init PATH to a local checkpoint",
        ) from None


def file_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """The state_dict in one of our checkpoints (of ``arch``), hkair's, or a bare torchvision state_dict."""
    raw = read_checkpoint_file(path, "initial weights not found (--init PATH)")
    if isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT and raw.get("arch") != arch:
        raise WeightsError(path, f"checkpoint is {raw.get('arch')}, not {arch}; pass --arch {raw.get('arch')}")
    state = unwrap_state_dict(raw)
    if state is None:
        raise WeightsError(path, "holds no state_dict (expected a bball-train checkpoint or a torchvision state_dict)")
    return state


def init_model(arch: str, num_classes: int, init: str) -> tuple[nn.Module, list[str]]:
    """A model of ``arch`` with a ``num_classes`` head, initialised per ``--init``: ``(model, re-headed names)``."""
    model = build_model(arch, num_classes)
    if init == "none":
        return model, []
    if init == "kinetics":
        return model, load_backbone(model, kinetics_state_dict(arch), "Kinetics-400", arch)
    path = Path(init)
    return model, load_backbone(model, file_state_dict(path, arch), path, arch)


def check_input_size(model: nn.Module, arch: str, clip: ClipConfig) -> None:
    """Raise :class:`UsageError` when ``arch`` cannot take ``clip``-sized input (one dry forward pass on CPU)."""
    x = torch.zeros(1, 3, clip.frames, *clip.size)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(x)
    except RuntimeError as exc:
        raise UsageError(
            None,
            f"{arch} cannot take {clip.frames}-frame {clip.size[0]}x{clip.size[1]} clips "
            f"({str(exc).splitlines()[0][:120]}); s3d and mvit_v2_s need --frames 16 --size 224 224",
        ) from None
    finally:
        model.train(was_training)
