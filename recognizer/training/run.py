"""One training run, start to end: data, model, epochs, checkpoints, the final test.

:func:`train` is what ``bball-train`` runs; every step is a function of its own below.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader

from recognizer.checkpoint import ClipConfig, save_checkpoint
from recognizer.clips import BadClips, check_clips
from recognizer.data import ClipItem, Split, make_split, read_dataset, read_key_list
from recognizer.evaluate import compute_metrics, evaluate_items, write_report
from recognizer.models import build_model
from recognizer.training.config import TrainConfig, resolve_size, settle_config
from recognizer.training.init import check_input_size, check_kinetics, init_model
from recognizer.training.loop import class_weights, log, make_loaders, predict, run_epoch
from recognizer.training.run_folder import RunState, check_out, load_resume, write_history
from recognizer.training.schedule import Optimisation, set_trainable
from tracker.common.device import resolve_device
from tracker.common.errors import UsageError
from tracker.common.files import write_json
from tracker.common.weights import file_sha256

SUBSETS = ("train", "val", "test")


@dataclass
class TrainData:
    """The indexed, checked and split data set of a run."""

    labels: list[str]
    clip: ClipConfig
    split: Split
    subsets: dict[str, list[ClipItem]]
    bad: BadClips


def prepare_data(cfg: TrainConfig, raw: dict[str, Any] | None) -> TrainData:
    """Index ``cfg.data``, list and leave out unreadable clips, split (or take the resumed run's split)."""
    clips = read_dataset(cfg.data, cfg.layout)
    if raw is not None and list(raw["labels"]) != clips.labels:
        raise UsageError(Path(cfg.data), f"dataset classes {clips.labels} differ from the run's {list(raw['labels'])}")
    bad = BadClips(cfg.data, len(clips.items), cfg.max_bad_clips, log)
    items = check_clips(clips.items, bad, max(1, cfg.workers))
    if raw is not None:
        clip, split = ClipConfig.from_dict(raw["clip"]), Split.from_dict(raw["train_state"]["split"])
    else:
        clip = ClipConfig(frames=cfg.frames, size=resolve_size(cfg, clips), margin=cfg.margin)
        split = make_split(
            [it.key for it in items], [it.label for it in items],
            val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
            test_keys=read_key_list(cfg.test_keys) if cfg.test_keys else None, seed=cfg.seed,
            group_pattern=cfg.group_pattern, siblings_of_test=cfg.siblings_of_test,
        )  # fmt: skip
    by_key = {it.key: it for it in items}
    subsets = {name: [by_key[k] for k in getattr(split, name) if k in by_key] for name in SUBSETS}
    if not subsets["train"] or not subsets["val"]:
        raise UsageError(Path(cfg.data), "train and validation splits must both hold clips (check --val-fraction)")
    data = TrainData(clips.labels, clip, split, subsets, bad)
    log(describe_data(data, clips.layout, len(items)))
    return data


def describe_data(data: TrainData, layout: str, n: int) -> str:
    """The run's data in one line: clips, classes that have clips, splits, clip shape."""
    counts = np.bincount([it.label for s in SUBSETS for it in data.subsets[s]], minlength=len(data.labels))
    empty = [name for name, c in zip(data.labels, counts) if c == 0]
    classes = f"{len(data.labels) - len(empty)} of {len(data.labels)} classes have clips"
    classes += f" (none: {', '.join(empty)})" if empty else ""
    unreadable = f", {len(data.bad.clips)} unreadable left out" if data.bad.clips else ""
    test = len(data.subsets["test"]) or "0 (no --test-keys or --test-fraction)"
    return (
        f"{n} clips{unreadable}, {layout} layout; {classes}; train {len(data.subsets['train'])}, "
        f"val {len(data.subsets['val'])}, test {test}, dropped {len(data.split.dropped)} siblings of test clips; "
        f"clips {data.clip.frames}x{data.clip.size[0]}x{data.clip.size[1]}"
    )


def prepare_model(cfg: TrainConfig, raw: dict[str, Any] | None, data: TrainData, device: torch.device) -> nn.Module:
    """The model to train: the resumed run's, or a new one initialised per ``--init``; on ``device``."""
    if raw is not None:
        model = build_model(cfg.arch, len(data.labels))
        model.load_state_dict(raw["state_dict"])
    else:
        model, reheaded = init_model(cfg.arch, len(data.labels), cfg.init)
        if reheaded:
            log(f"init {cfg.init}: new head ({', '.join(reheaded)})")
    check_input_size(model, cfg.arch, data.clip)
    model.to(device)
    return model.to(memory_format=torch.channels_last_3d) if device.type == "cuda" else model


@dataclass
class Trainer:
    """A run's moving parts, from the first epoch to the test evaluation."""

    cfg: TrainConfig
    data: TrainData
    model: nn.Module
    device: torch.device
    amp: bool
    out: Path
    train_loader: DataLoader
    val_loader: DataLoader
    opt: Optimisation
    loss_fn: nn.Module

    @classmethod
    def build(cls, cfg: TrainConfig, data: TrainData, model: nn.Module, device: torch.device, out: Path) -> Trainer:
        weights = class_weights([it.label for it in data.subsets["train"]], len(data.labels))
        loss_fn = nn.CrossEntropyLoss(
            weight=torch.tensor(weights, dtype=torch.float32, device=device) if cfg.balance == "loss" else None,
            label_smoothing=cfg.label_smoothing,
        )
        train_loader, val_loader = make_loaders(
            data.subsets["train"], data.subsets["val"], data.clip, weights, batch_size=cfg.batch_size,
            workers=cfg.workers, seed=cfg.seed, balance=cfg.balance, augment=cfg.augment, device=device,
        )  # fmt: skip
        amp = bool(cfg.amp and device.type == "cuda")
        opt = Optimisation.build(model, cfg.lr, cfg.weight_decay, len(train_loader), cfg.epochs,
                                 cfg.warmup_epochs, amp, device)
        return cls(cfg, data, model, device, amp, out, train_loader, val_loader, opt, loss_fn)

    def on_problem(self, problem: str) -> None:
        self.data.bad.add(*problem.split("\t", 1))

    def epoch(self, epoch: int) -> tuple[dict[str, float], dict[str, Any]]:
        """Train one epoch and validate: ``(history row, validation metrics)``."""
        t0, cfg = time.perf_counter(), self.cfg
        self.model.train()
        n_stages = set_trainable(self.model, epoch, cfg.unfreeze_every)
        train_loss, train_acc = run_epoch(self.model, self.train_loader, self.opt, self.loss_fn, self.amp,
                                          f"epoch {epoch + 1}/{cfg.epochs}", self.on_problem, cfg.log_every)
        if cfg.recalibrate_bn > 0:
            batches = (x for x, y, _ in self.train_loader if len(y))
            update_bn(itertools.islice(batches, cfg.recalibrate_bn), self.model, self.device)
        logits, y_val = predict(self.model, self.val_loader, self.device, self.amp, "val", self.on_problem)
        val = compute_metrics(y_val, logits.argmax(1), self.data.labels)
        val_loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y_val)))
        row = {
            "epoch": epoch + 1, "lr": self.opt.lr, "trainable_stages": n_stages,
            "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val["accuracy"],
            "val_balanced_acc": val["balanced_accuracy"], "val_macro_f1": val["macro_f1"],
            "seconds": time.perf_counter() - t0,
        }  # fmt: skip
        return row, val

    def save(self, state: RunState, row: dict[str, float], val: dict[str, Any]) -> None:
        """``best.pt`` when validation macro-F1 improved; ``last.pt`` (with the training state) and ``history.csv``."""
        cfg, run_args = self.cfg, asdict(self.cfg)
        metrics = {k: row[k] for k in ("epoch", "val_acc", "val_balanced_acc", "val_macro_f1", "val_loss")}
        metrics["val_macro_f1_classes"] = val["macro_f1_classes"]
        args = (self.model, cfg.arch, self.data.labels, self.data.clip, metrics)
        if val["macro_f1"] > state.best_f1:
            state.best_f1, state.best_epoch = val["macro_f1"], state.epoch
            save_checkpoint(self.out / "best.pt", *args, {"train_config": run_args})
        train_state = {"config": run_args, "split": self.data.split.to_dict(), **state.to_dict(), **self.opt.state_dict()}
        save_checkpoint(self.out / "last.pt", *args, {"train_state": train_state})
        write_history(self.out / "history.csv", state.history)

    def test(self, state: RunState) -> dict[str, Any]:
        """``best.pt`` on the test split: ``test/metrics.json`` (with the checkpoint's sha256) and the PNG."""
        best = self.out / "best.pt"
        self.model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        test, _, _ = evaluate_items(self.model, self.data.subsets["test"], self.data.labels, self.data.clip,
                                    self.device, self.cfg.batch_size, self.cfg.workers, self.amp, self.data.bad)
        extra = {"checkpoint": str(best), "sha256": file_sha256(best), "arch": self.cfg.arch, "subset": "test"}
        write_report(self.out / "test", test, extra, f"{self.cfg.arch} on test")
        log(
            f"test (best.pt, epoch {state.best_epoch + 1}): n={test['n']} accuracy {test['accuracy']:.4f} "
            f"macro-F1 {test['macro_f1']:.4f} over {len(test['macro_f1_classes'])} classes -> {self.out / 'test'}"
        )
        return {k: test[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "macro_f1_classes")}


def train(cfg: TrainConfig, resume: Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run (or continue) a training run; returns a summary (best epoch, val and test metrics, paths).

    Cheap checks come first (options, ``--out``, Kinetics weights reachable), then indexing.
    """
    raw = load_resume(resume) if resume is not None else None
    cfg = settle_config(cfg, raw["train_state"]["config"] if raw is not None else None)
    out = Path(cfg.out)
    check_out(out, raw is not None, overwrite)
    if raw is None and cfg.init == "kinetics":
        check_kinetics(cfg.arch)
    device = torch.device(resolve_device(cfg.device))
    torch.manual_seed(cfg.seed)
    data = prepare_data(cfg, raw)
    model = prepare_model(cfg, raw, data, device)
    write_json(out / "split.json", {**data.split.to_dict(), "unreadable": dict(data.bad.clips)})
    trainer = Trainer.build(cfg, data, model, device, out)
    state = RunState()
    if raw is not None:
        trainer.opt.load_state_dict(raw["train_state"])
        state = RunState.from_dict(raw["train_state"])
        log(f"resuming after epoch {state.epoch + 1} (best val macro-F1 {state.best_f1:.4f})")
    for epoch in range(state.epoch + 1, cfg.epochs):
        row, val = trainer.epoch(epoch)
        state.history.append(row)
        state.epoch = epoch
        trainer.save(state, row, val)
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | "
            f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.3f} macro-F1 {row['val_macro_f1']:.3f} | "
            f"{row['seconds']:.0f}s"
        )
        if cfg.patience and epoch - state.best_epoch >= cfg.patience:
            log(f"no val macro-F1 gain for {cfg.patience} epochs: stopping")
            break
    summary: dict[str, Any] = {"best": str(out / "best.pt"), "last": str(out / "last.pt"),
                               "best_epoch": state.best_epoch + 1, "best_val_macro_f1": state.best_f1}
    if cfg.evaluate_test and data.subsets["test"]:
        summary["test"] = trainer.test(state)
    return summary
