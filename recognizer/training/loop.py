"""The training loop: data loaders, class weights, one step, one epoch, and prediction over a loader.

Loaders batch with :func:`recognizer.clips.collate_clips`: a clip that fails to decode is left out
of its batch and handed to ``on_problem`` (a :meth:`recognizer.clips.BadClips.add`), never raised
from a worker process.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from recognizer.checkpoint import ClipConfig
from recognizer.clips import Augment, ClipDataset, collate_clips
from recognizer.data import ClipItem
from recognizer.training.schedule import Optimisation
from tracker.common.errors import InputVideoError

#: ``on_problem("<path>\t<cause>")``: what to do with a clip that did not decode.
ProblemHandler = Callable[[str], None]


def log(msg: str) -> None:
    """One line on stderr that does not break a tqdm bar."""
    tqdm.write(msg, file=sys.stderr)


def raise_problem(problem: str) -> None:
    """The default :data:`ProblemHandler`: an :class:`InputVideoError` for the clip."""
    path, _, cause = problem.partition("\t")
    raise InputVideoError(path, cause)


def autocast_dtype(device: torch.device) -> torch.dtype:
    """Mixed-precision dtype: float16 on CUDA, bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def class_weights(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """``(num_classes,)`` "balanced" weights of the classes in ``labels`` (0 for classes without clips)."""
    y = np.asarray(labels)
    present = np.unique(y)
    weights = np.zeros(num_classes, np.float64)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    return weights


def make_loader(items: Sequence[ClipItem], clip: ClipConfig, batch_size: int, workers: int, device: torch.device,
                augment: Augment | None = None, sampler=None, generator=None, persistent: bool = False) -> DataLoader:
    """A loader of ``(x, y, problems)`` batches over ``items`` (shuffled when ``generator`` is given)."""
    workers = max(0, int(workers))
    return DataLoader(
        ClipDataset(items, clip, augment),
        batch_size=batch_size,
        shuffle=generator is not None and sampler is None,
        sampler=sampler,
        generator=generator,
        drop_last=generator is not None and len(items) > batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=persistent and workers > 0,
        collate_fn=collate_clips,
    )


def make_loaders(
    train_items: Sequence[ClipItem], val_items: Sequence[ClipItem], clip: ClipConfig, weights: np.ndarray,
    *, batch_size: int, workers: int, seed: int, balance: str, augment: bool, device: torch.device,
) -> tuple[DataLoader, DataLoader]:
    """Training loader (augmented, shuffled or class-balanced, seeded) and validation loader."""
    gen = torch.Generator().manual_seed(seed)
    sampler = None
    if balance == "sampler":
        per_clip = weights[[it.label for it in train_items]]
        sampler = WeightedRandomSampler(torch.as_tensor(per_clip), len(per_clip), replacement=True, generator=gen)
    train = make_loader(train_items, clip, batch_size, workers, device, Augment() if augment else None,
                        sampler, gen, persistent=True)
    return train, make_loader(val_items, clip, batch_size, workers, device, persistent=True)


def train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loss_fn: nn.Module,
    amp: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch ``x`` ``(B, 3, T, H, W)``; returns ``(loss, correct)`` as device tensors."""
    device = next(model.parameters()).device
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=amp):
        logits = model(x)
    loss = loss_fn(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), (logits.argmax(1) == y).sum()


def run_epoch(
    model: nn.Module, loader: DataLoader, opt: Optimisation, loss_fn: nn.Module, amp: bool, desc: str,
    on_problem: ProblemHandler = raise_problem, log_every: int = 50,
) -> tuple[float, float]:
    """One pass of :func:`train_step` over ``loader`` (scheduler stepped per batch): ``(mean loss, accuracy)``.

    A tqdm bar on a terminal; elsewhere (a log file, a batch job) a plain line every ``log_every`` batches.
    """
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen, t0 = 0, time.perf_counter()
    bar = tqdm(loader, desc=desc, disable=None, leave=False)
    for i, (x, y, problems) in enumerate(bar, 1):
        for problem in problems:
            on_problem(problem)
        if len(y):
            loss, right = train_step(model, x, y, opt.optimizer, opt.scaler, loss_fn, amp)
            loss_sum += loss * len(y)
            correct += right
            seen += len(y)
        opt.scheduler.step()
        if seen and i % 20 == 0 and not bar.disable:  # .item() waits for the GPU: not every step
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}")
        if seen and bar.disable and log_every > 0 and i % log_every == 0:
            rate = seen / (time.perf_counter() - t0)
            log(f"{desc}: batch {i}/{len(loader)}, loss {loss_sum.item() / seen:.4f}, {rate:.1f} clips/s")
    return loss_sum.item() / max(1, seen), correct.item() / max(1, seen)


@torch.inference_mode()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False, progress: str | None = None,
    on_problem: ProblemHandler = raise_problem,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``loader``'s ``(x, y, problems)`` batches.

    Returns:
        ``(logits (N, C) float32, labels (N,) int64)`` of the clips that decoded.
    """
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y, problems in tqdm(loader, desc=progress, disable=None if progress else True, leave=False):
        for problem in problems:
            on_problem(problem)
        if not len(y):
            continue
        x = x.to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast(device.type, dtype=autocast_dtype(device), enabled=amp):
            out = model(x)
        logits.append(out.float().cpu())
        labels.append(torch.as_tensor(y))
    model.train(was_training)
    if not logits:
        return np.zeros((0, 0), np.float32), np.zeros((0,), np.int64)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy().astype(np.int64)
