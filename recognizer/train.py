"""``bball-train``: train an action model on SpaceJam-format (or ``<class>/*.mp4``) clips.

One command from a dataset folder to a checkpoint the pipeline loads
(``bball-annotate game.mp4 --action-model runs/x/best.pt``)::

    bball-train --data SpaceJam --test-keys SpaceJam/testset_keys_1lug2020.txt \\
                --init kinetics --out runs/r2p1d

writes into ``--out``:

* ``best.pt`` (best validation macro-F1) and ``last.pt`` (every epoch, with the
  optimiser state for ``--resume``), each in our checkpoint format with a
  ``.sha256`` beside it;
* ``history.csv`` (one row per epoch), ``split.json`` (the clip keys of each split);
* ``test/metrics.json`` and ``test/confusion_matrix.png`` for ``best.pt`` when there
  is a test split.

Training: class-weighted cross-entropy (or a class-balanced sampler), on-the-fly
augmentation (:class:`recognizer.data.Augment`: flip, rotation, translation, zoom,
temporal jitter), AdamW with a linear warm-up then cosine decay per step, optional
progressive unfreezing (head first, then one more top-level stage every
``--unfreeze-every`` epochs; frozen stages also keep their BatchNorm statistics),
float16 autocast and ``channels_last_3d`` on CUDA.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models import get_model_weights
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from recognizer.data import Augment, ClipDataset, ClipItem, ClipSet, Split, make_split, read_dataset, read_key_list
from recognizer.evaluate import (
    autocast_dtype,
    cli_main,
    compute_metrics,
    evaluate_items,
    make_dir,
    predict,
    resolve_device,
    write_json,
    write_report,
)
from recognizer.r2plus1d import (
    ARCHS,
    CHECKPOINT_FORMAT,
    ClipConfig,
    read_checkpoint_file,
    unwrap_state_dict,
    build_model,
    save_checkpoint,
)
from tracker.common.errors import OutputError, UsageError, WeightsError

#: Clip size ``[h, w]`` when ``--size`` is not given.
SPACEJAM_SIZE = [176, 128]
DEFAULT_SIZE = [112, 112]
LARGE_INPUT_ARCHS = {"s3d": [224, 224], "mvit_v2_s": [224, 224]}


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in ``last.pt`` so ``--resume`` continues the same run)."""

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


# ---------------------------------------------------------------- model set-up


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


def kinetics_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's Kinetics-400 weights for ``arch`` (downloaded once into the torch hub cache)."""
    try:
        weights = get_model_weights(arch).KINETICS400_V1
    except (ValueError, AttributeError):
        raise UsageError(None, f"{arch} has no Kinetics-400 weights in torchvision; use --init none or --init PATH") from None
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # URLError, hash mismatch, corrupt cache file, ...: all mean "no weights"
        raise WeightsError(
            weights.url,
            f"could not download Kinetics weights ({type(exc).__name__}: {str(exc)[:100]}); "
            "use --init none or --init PATH to a local checkpoint",
        ) from None


def file_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    """The state_dict in one of our checkpoints (of ``arch``) or a bare torchvision state_dict."""
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


def make_loaders(
    cfg: TrainConfig,
    train_items: Sequence[ClipItem],
    val_items: Sequence[ClipItem],
    clip: ClipConfig,
    class_weights: np.ndarray,
    device: torch.device,
) -> tuple[DataLoader, DataLoader]:
    """Training loader (augmented, shuffled or class-balanced, seeded) and validation loader."""
    gen = torch.Generator().manual_seed(cfg.seed)
    sampler = None
    if cfg.balance == "sampler":
        per_clip = class_weights[[it.label for it in train_items]]
        sampler = WeightedRandomSampler(torch.as_tensor(per_clip), len(per_clip), replacement=True, generator=gen)
    workers = max(0, int(cfg.workers))
    common = dict(
        batch_size=cfg.batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    train_loader = DataLoader(
        ClipDataset(train_items, clip, Augment() if cfg.augment else None),
        shuffle=sampler is None,
        sampler=sampler,
        generator=gen,
        drop_last=len(train_items) > cfg.batch_size,
        **common,
    )
    return train_loader, DataLoader(ClipDataset(val_items, clip), **common)


def run_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    loss_fn: nn.Module,
    amp: bool,
    desc: str,
) -> tuple[float, float]:
    """One pass of :func:`train_step` over ``loader`` (scheduler stepped per batch): ``(mean loss, accuracy)``."""
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(loader, desc=desc, disable=None, leave=False)
    for x, y in bar:
        loss, right = train_step(model, x, y, optimizer, scaler, loss_fn, amp)
        scheduler.step()
        loss_sum += loss * len(y)
        correct += right
        seen += len(y)
        if bar.n % 20 == 0:  # .item() waits for the GPU: not every step
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}")
    return loss_sum.item() / max(1, seen), correct.item() / max(1, seen)


# ---------------------------------------------------------------- the run


@dataclass
class RunState:
    """What ``last.pt`` carries beyond the model to resume a run."""

    epoch: int = -1
    best_f1: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_size(cfg: TrainConfig, clips: ClipSet) -> list[int]:
    if cfg.size is not None:
        return [int(cfg.size[0]), int(cfg.size[1])]
    if cfg.arch in LARGE_INPUT_ARCHS:
        return list(LARGE_INPUT_ARCHS[cfg.arch])
    return list(SPACEJAM_SIZE if clips.layout == "spacejam" else DEFAULT_SIZE)


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    if history:
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(buf.getvalue())
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None


def log(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    make_dir(out)
    if not resume and not overwrite and any((out / n).exists() for n in ("best.pt", "last.pt")):
        raise OutputError(out, "already holds a run (best.pt / last.pt); use --resume OUT/last.pt or --overwrite")


def load_resume(path: Path) -> dict[str, Any]:
    raw = read_checkpoint_file(path, "checkpoint to resume from not found")
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT or "train_state" not in raw:
        raise WeightsError(path, "holds no training state; resume from the last.pt that bball-train wrote")
    return raw


def train(cfg: TrainConfig, resume: Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run (or continue) a training run; returns a summary (best epoch, val and test metrics, paths)."""
    raw = load_resume(resume) if resume is not None else None
    if raw is not None:
        stored = dict(raw["train_state"]["config"])
        for key in ("data", "out", "epochs", "device", "workers", "evaluate_test"):
            if getattr(cfg, key) is not None:
                stored[key] = getattr(cfg, key)
        cfg = TrainConfig(**{f.name: stored[f.name] for f in fields(TrainConfig) if f.name in stored})
    elif cfg.epochs is None:
        cfg = replace(cfg, epochs=TrainConfig.epochs)
    if cfg.arch not in ARCHS:
        raise UsageError(None, f"unknown --arch {cfg.arch!r}; choose one of {', '.join(ARCHS)}")
    if cfg.balance not in ("loss", "sampler", "none"):
        raise UsageError(None, f"--balance must be loss, sampler or none, not {cfg.balance!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.frames < 1:
        raise UsageError(None, "--epochs, --batch-size and --frames must be at least 1")
    out = Path(cfg.out)
    device = resolve_device(cfg.device)
    amp = bool(cfg.amp and device.type == "cuda")
    torch.manual_seed(cfg.seed)

    clips = read_dataset(cfg.data, cfg.layout)
    labels = clips.labels
    if raw is not None and list(raw["labels"]) != labels:
        raise UsageError(Path(cfg.data), f"dataset classes {labels} differ from the run's {list(raw['labels'])}")
    clip = ClipConfig(frames=cfg.frames, size=resolve_size(cfg, clips), margin=cfg.margin)
    if raw is not None:
        clip = ClipConfig.from_dict(raw["clip"])
        split = Split.from_dict(raw["train_state"]["split"])
    else:
        test_keys = read_key_list(cfg.test_keys) if cfg.test_keys else None
        split = make_split(
            [it.key for it in clips.items],
            [it.label for it in clips.items],
            val_fraction=cfg.val_fraction,
            test_fraction=cfg.test_fraction,
            test_keys=test_keys,
            seed=cfg.seed,
            group_pattern=cfg.group_pattern,
            siblings_of_test=cfg.siblings_of_test,
        )
    by_key = clips.by_key()
    subsets = {name: [by_key[k] for k in getattr(split, name) if k in by_key] for name in ("train", "val", "test")}
    if not subsets["train"] or not subsets["val"]:
        raise UsageError(Path(cfg.data), "train and validation splits must both hold clips (check --val-fraction)")
    log(
        f"{len(clips.items)} clips, {len(labels)} classes ({clips.layout} layout); "
        f"train {len(subsets['train'])}, val {len(subsets['val'])}, test {len(subsets['test'])}, "
        f"dropped {len(split.dropped)} siblings of test clips; clips {clip.frames}x{clip.size[0]}x{clip.size[1]}"
    )
    if raw is not None:
        model = build_model(cfg.arch, len(labels))
        model.load_state_dict(raw["state_dict"])
    else:
        model, reheaded = init_model(cfg.arch, len(labels), cfg.init)
        if reheaded:
            log(f"init {cfg.init}: new head ({', '.join(reheaded)})")
    check_input_size(model, cfg.arch, clip)
    prepare_out(out, raw is not None, overwrite)  # only now: nothing is written for a run that cannot start
    write_json(out / "split.json", split.to_dict())
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)

    train_labels = np.array([it.label for it in subsets["train"]])
    present = np.unique(train_labels)
    weights = np.zeros(len(labels), np.float64)
    weights[present] = compute_class_weight("balanced", classes=present, y=train_labels)
    loss_fn = nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device) if cfg.balance == "loss" else None,
        label_smoothing=cfg.label_smoothing,
    )
    workers = max(0, int(cfg.workers))
    train_loader, val_loader = make_loaders(cfg, subsets["train"], subsets["val"], clip, weights, device)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(train_loader)
    total = steps_per_epoch * cfg.epochs
    warmup = min(total, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    state = RunState()
    if raw is not None:
        ts = raw["train_state"]
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):  # the schedule may be longer now
            group["lr"] = base * lr_factor(scheduler.last_epoch, warmup, total)
        if ts["scaler"] and scaler.is_enabled():
            scaler.load_state_dict(ts["scaler"])
        state = RunState(int(ts["epoch"]), float(ts["best_f1"]), int(ts["best_epoch"]), list(ts["history"]))
        log(f"resuming after epoch {state.epoch + 1} (best val macro-F1 {state.best_f1:.4f})")

    run_args = asdict(cfg)
    for epoch in range(state.epoch + 1, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        n_stages = set_trainable(model, epoch, cfg.unfreeze_every)
        train_loss, train_acc = run_epoch(
            model, train_loader, optimizer, scheduler, scaler, loss_fn, amp, f"epoch {epoch + 1}/{cfg.epochs}"
        )
        if cfg.recalibrate_bn > 0:
            update_bn(itertools.islice((x for x, _ in train_loader), cfg.recalibrate_bn), model, device)
        logits, y_val = predict(model, val_loader, device, amp, progress="val")
        val = compute_metrics(y_val, logits.argmax(1), labels)
        val_loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y_val)))
        row = {
            "epoch": epoch + 1,
            "lr": optimizer.param_groups[0]["lr"],
            "trainable_stages": n_stages,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val["accuracy"],
            "val_balanced_acc": val["balanced_accuracy"],
            "val_macro_f1": val["macro_f1"],
            "seconds": time.perf_counter() - t0,
        }
        state.history.append(row)
        state.epoch = epoch
        metrics = {k: row[k] for k in ("epoch", "val_acc", "val_balanced_acc", "val_macro_f1", "val_loss")}
        if val["macro_f1"] > state.best_f1:
            state.best_f1, state.best_epoch = val["macro_f1"], epoch
            save_checkpoint(out / "best.pt", model, cfg.arch, labels, clip, metrics, {"train_config": run_args})
        train_state = {
            "config": run_args,
            "split": split.to_dict(),
            "epoch": state.epoch,
            "best_f1": state.best_f1,
            "best_epoch": state.best_epoch,
            "history": state.history,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
        }
        save_checkpoint(out / "last.pt", model, cfg.arch, labels, clip, metrics, {"train_state": train_state})
        write_history(out / "history.csv", state.history)
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"val loss {val_loss:.4f} acc {val['accuracy']:.3f} macro-F1 {val['macro_f1']:.3f} | "
            f"{row['seconds']:.0f}s"
        )
        if cfg.patience and epoch - state.best_epoch >= cfg.patience:
            log(f"no val macro-F1 gain for {cfg.patience} epochs: stopping")
            break

    summary: dict[str, Any] = {
        "best": str(out / "best.pt"),
        "last": str(out / "last.pt"),
        "best_epoch": state.best_epoch + 1,
        "best_val_macro_f1": state.best_f1,
    }
    if cfg.evaluate_test and subsets["test"]:
        best = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(best["state_dict"])
        test, _, _ = evaluate_items(model, subsets["test"], labels, clip, device, cfg.batch_size, workers, amp)
        write_report(out / "test", test, {"checkpoint": str(out / "best.pt"), "subset": "test"}, f"{cfg.arch} on test")
        summary["test"] = {k: test[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}
        log(
            f"test (best.pt, epoch {state.best_epoch + 1}): n={test['n']} accuracy {test['accuracy']:.4f} "
            f"macro-F1 {test['macro_f1']:.4f} -> {out / 'test'}"
        )
    return summary


# ---------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="", out="")
    p = argparse.ArgumentParser(
        prog="bball-train",
        description="Train an action model on SpaceJam-layout clips (examples/<id>.mp4 + annotation_dict.json + "
        "labels_dict.json) or <root>/<class>/*.mp4 folders; writes best.pt / last.pt checkpoints that "
        "bball-annotate --action-model loads. Recipe: docs/training.md.",
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--out", help="run folder (default: the --resume checkpoint's folder, else runs/<arch>)")
    p.add_argument("--layout", default=d.layout, choices=["auto", "spacejam", "folders"])
    p.add_argument("--arch", default=d.arch, choices=list(ARCHS))
    p.add_argument("--init", default=d.init, help="kinetics (torchvision's Kinetics-400 weights), none, or PATH")
    p.add_argument("--frames", type=int, default=d.frames, help="frames per clip")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="clip size (default: 176 128 for SpaceJam, "
                   "224 224 for s3d/mvit_v2_s, else 112 112)")
    p.add_argument("--margin", type=float, default=d.margin,
                   help="context around the player box in the training clips (fraction of the box's larger side); "
                   "stored in the checkpoint for the pipeline's crops")
    p.add_argument("--epochs", type=int, help=f"total epochs (default {d.epochs}; with --resume: the run's, or more to extend it)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--balance", default=d.balance, choices=["loss", "sampler", "none"],
                   help="class balance: weighted loss, balanced sampler, or none")
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--test-fraction", type=float, default=d.test_fraction, help="held-out test share (without --test-keys)")
    p.add_argument("--test-keys", help="official test clip keys (SpaceJam: testset_keys_1lug2020.txt)")
    p.add_argument("--siblings-of-test", default=d.siblings_of_test, choices=["drop", "test"],
                   help="augmented copies of test clips not in --test-keys: drop them, or add them to test")
    p.add_argument("--group-pattern", help="regex whose group 1 names a clip's original (default: strip _flipped, "
                   "_rotate_N, _translate_X_Y suffixes)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--unfreeze-every", type=int, default=d.unfreeze_every,
                   help="progressive unfreezing: head first, one more stage every N epochs (0: all from the start)")
    p.add_argument("--patience", type=int, default=d.patience, help="stop after N epochs without val gain (0: off)")
    p.add_argument("--recalibrate-bn", type=int, default=d.recalibrate_bn, metavar="N",
                   help="before each validation, re-estimate all BatchNorm statistics (frozen stages' too) over N training "
                   "batches (torch.optim.swa_utils.update_bn; helps short runs whose running statistics lag the weights)")
    p.add_argument("--workers", type=int, default=d.workers, help="data-loading processes")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, help="CPU threads for torch in this process (default: torch's choice)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no float16 autocast on CUDA")
    p.add_argument("--no-test", dest="evaluate_test", action="store_false", help="skip the final test evaluation")
    p.add_argument("--resume", type=Path, help="continue the run in this last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    return p


def _run(args: argparse.Namespace) -> int:
    out = args.out or (str(args.resume.parent) if args.resume else f"runs/{args.arch}")
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(out=out, epochs=args.epochs)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    try:
        summary = train(TrainConfig(**values), resume=args.resume, overwrite=args.overwrite)
    finally:
        torch.set_num_threads(threads)
    print(f"best: {summary['best']} (epoch {summary['best_epoch']}, val macro-F1 {summary['best_val_macro_f1']:.4f})")
    if "test" in summary:
        t = summary["test"]
        print(f"test: n={t['n']} accuracy {t['accuracy']:.4f} macro-F1 {t['macro_f1']:.4f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("bball-train", _run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
