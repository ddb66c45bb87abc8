"""The one rule that turns a ``--device`` value into the device a whole run uses.

``"auto"`` (or ``None``) means CUDA when PyTorch sees a GPU, else the CPU. An explicit
``"cuda"`` / ``"cuda:N"`` without a usable GPU is an error, never a silent fall back to the CPU
(a user who asked for the GPU would otherwise wait 50x longer without knowing why).
Everything device-bound in a run -- decoding, frame tensors, the detector, the action
model, the encoder (NVENC on CUDA) -- takes the one string this returns.
"""

from __future__ import annotations

from tracker.common.errors import UsageError

AUTO = "auto"


def resolve_device(requested: str | None = AUTO) -> str:
    """``"auto"``/``None`` -> ``"cuda"`` or ``"cpu"``; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` checked and returned.

    Raises:
        UsageError: an unknown device name, or CUDA asked for where there is none.
    """
    import torch

    name = AUTO if requested is None else str(requested).strip().lower()
    if name == AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(None, f"--device {requested}: not a device name (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cpu":
        return "cpu"
    if device.type != "cuda":
        raise UsageError(None, f"--device {requested}: only auto, cpu, cuda and cuda:N are supported")
    if not torch.cuda.is_available():
        raise UsageError(None, f"--device {requested}: no CUDA GPU is available here; use --device cpu or auto")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(None, f"--device {requested}: there are only {torch.cuda.device_count()} CUDA GPU(s)")
    return str(device)


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")
