"""The optimisation schedule: AdamW, linear warm-up then cosine decay per step, progressive unfreezing."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recognizer.training.init import top_stages


def set_trainable(model: nn.Module, epoch: int, unfreeze_every: int) -> int:
    """Progressive unfreezing: the head plus one more top-level stage per ``unfreeze_every`` epochs.

    With ``unfreeze_every`` 0 everything trains. Returns how many stages train.
    Frozen stages are put in eval mode (BatchNorm statistics stay as initialised);
    call after ``model.train()``.
    """
    stages = top_stages(model)
    n = len(stages) if unfreeze_every <= 0 else min(len(stages), 1 + epoch // unfreeze_every)
    trainable = set(stages[len(stages) - n :])
    for name, child in model.named_children():
        on = name in trainable or name not in stages
        child.requires_grad_(on)
        if not on:
            child.eval()
    return n


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class Optimisation:
    """Optimiser, per-step learning-rate schedule and float16 loss scaler of one run."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    warmup: int
    total: int

    @classmethod
    def build(
        cls, model: nn.Module, lr: float, weight_decay: float, steps_per_epoch: int, epochs: int,
        warmup_epochs: float, amp: bool, device: torch.device,
    ) -> Optimisation:
        """AdamW over ``model``; ``epochs * steps_per_epoch`` steps, ``warmup_epochs`` of them warm-up."""
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        total = steps_per_epoch * epochs
        warmup = min(total, max(1, round(warmup_epochs * steps_per_epoch)))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
        scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        return cls(optimizer, scheduler, scaler, warmup, total)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a stored run; the schedule may be longer now (``--epochs`` raised on resume)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * lr_factor(self.scheduler.last_epoch, self.warmup, self.total)
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])
