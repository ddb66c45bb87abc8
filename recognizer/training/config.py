"""What defines a training run (:class:`TrainConfig`), its checks, and the clip size it trains on."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from recognizer.data import ClipSet
from recognizer.models import ARCHS
from tracker.common.errors import UsageError

#: Clip size ``[h, w]`` when ``--size`` is not given.
SPACEJAM_SIZE = [176, 128]
DEFAULT_SIZE = [112, 112]
LARGE_INPUT_ARCHS = {"s3d": [224, 224], "mvit_v2_s": [224, 224]}
#: Options a resumed run takes from the command line rather than from its ``last.pt``.
RESUME_OVERRIDES = ("data", "out", "epochs", "device", "workers", "evaluate_test", "max_bad_clips", "log_every")


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in ``last.pt`` so ``--resume`` continues the same run).

    The fields are ``bball-train``'s options (see ``bball-train --help`` and docs/training.md);
    ``max_bad_clips`` is a fraction of the data set's clips when below 1, else a count.
    """

    data: str
    out: str
    layout: str = "auto"
    arch: str = "r2plus1d_18"
    init: str = "kinetics"
    frames: int = 16
    size: list[int] | None = None
    margin: float = 0.25
    epochs: int | None = 20
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    balance: str = "loss"
    augment: bool = True
    val_fraction: float = 0.15
    test_fraction: float = 0.0
    test_keys: str | None = None
    siblings_of_test: str = "drop"
    group_pattern: str | None = None
    seed: int = 0
    unfreeze_every: int = 0
    patience: int = 0
    recalibrate_bn: int = 0
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))
    device: str = "auto"
    amp: bool = True
    evaluate_test: bool = True
    max_bad_clips: float = 0.05
    log_every: int = 50


def settle_config(cfg: TrainConfig, stored: dict[str, Any] | None) -> TrainConfig:
    """The run's configuration: ``stored`` (a resumed run's) with :data:`RESUME_OVERRIDES` from ``cfg``; checked.

    Raises:
        UsageError: an unknown architecture or balance mode, or counts below 1.
    """
    if stored is not None:
        merged = dict(stored)
        merged.update({k: getattr(cfg, k) for k in RESUME_OVERRIDES if getattr(cfg, k) is not None})
        cfg = TrainConfig(**{f.name: merged[f.name] for f in fields(TrainConfig) if f.name in merged})
    elif cfg.epochs is None:
        cfg = replace(cfg, epochs=TrainConfig.epochs)
    if cfg.arch not in ARCHS:
        raise UsageError(None, f"unknown --arch {cfg.arch!r}; choose one of {', '.join(ARCHS)}")
    if cfg.balance not in ("loss", "sampler", "none"):
        raise UsageError(None, f"--balance must be loss, sampler or none, not {cfg.balance!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.frames < 1:
        raise UsageError(None, "--epochs, --batch-size and --frames must be at least 1")
    if cfg.max_bad_clips < 0:
        raise UsageError(None, f"--max-bad-clips must be 0 or more, not {cfg.max_bad_clips}")
    return cfg


def resolve_size(cfg: TrainConfig, clips: ClipSet) -> list[int]:
    """``--size``, else the architecture's (s3d, mvit_v2_s: 224x224), else SpaceJam's native 176x128 or 112x112."""
    if cfg.size is not None:
        return [int(cfg.size[0]), int(cfg.size[1])]
    if cfg.arch in LARGE_INPUT_ARCHS:
        return list(LARGE_INPUT_ARCHS[cfg.arch])
    return list(SPACEJAM_SIZE if clips.layout == "spacejam" else DEFAULT_SIZE)
