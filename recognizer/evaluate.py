"""``bball-eval``: judge an action checkpoint on labelled clips.

Numbers: accuracy, balanced accuracy (mean per-class recall), macro-F1, and
per-class precision / recall / F1 (scikit-learn's ``classification_report``);
a confusion-matrix PNG (rows: true class, normalised per row; counts in the
JSON). Everything printed is also written to ``metrics.json``.

Which clips: ``--split split.json --subset test`` (the split ``bball-train``
wrote), ``--keys FILE`` (e.g. SpaceJam's ``testset_keys_1lug2020.txt``), or
every clip in ``--data``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
)
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from recognizer.data import ClipDataset, ClipItem, ClipSet, Split, read_dataset, read_key_list
from recognizer.r2plus1d import ClipConfig, load_checkpoint
from tracker.common.errors import BballError, InputVideoError, OutputError, UsageError


def autocast_dtype(device: torch.device) -> torch.dtype:
    """Mixed-precision dtype: float16 on CUDA, bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


@torch.inference_mode()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False, progress: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``loader``'s ``(x, label)`` batches.

    Returns:
        ``(logits (N, C) float32, labels (N,) int64)``.
    """
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in tqdm(loader, desc=progress, disable=None if progress else True, leave=False):
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


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Scores of ``(N,)`` predicted vs true class indices over ``labels`` (all classes reported, even absent ones)."""
    idx = list(range(len(labels)))
    report = classification_report(
        y_true, y_pred, labels=idx, target_names=list(labels), output_dict=True, zero_division=0
    )
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "labels": list(labels),
        "per_class": {name: report[name] for name in labels},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def report_text(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> str:
    """scikit-learn's text classification report."""
    return classification_report(
        y_true, y_pred, labels=list(range(len(labels))), target_names=list(labels), digits=3, zero_division=0
    )


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename); raises :class:`OutputError`."""
    _replace_atomically(Path(path), lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: str | Path, title: str = "") -> None:
    """Save a ``(C, C)`` confusion matrix (rows true, columns predicted) as a PNG, rows normalised to recall."""
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = 2.5 + 0.6 * len(labels)
    fig = Figure(figsize=(side + 1, side), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(norm, display_labels=list(labels)).plot(
        ax=ax, values_format=".2f", xticks_rotation=45, cmap="Blues", colorbar=True
    )
    if title:
        ax.set_title(title)
    _replace_atomically(Path(path), lambda p: fig.savefig(p, format="png"))


def evaluate_items(
    model: nn.Module,
    items: Sequence[ClipItem],
    labels: Sequence[str],
    clip: ClipConfig,
    device: torch.device,
    batch_size: int = 16,
    workers: int = 0,
    amp: bool = False,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Predict ``items`` (labels already in ``labels``' index) and score them: ``(metrics, y_true, y_pred)``."""
    loader = DataLoader(
        ClipDataset(items, clip),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    logits, y_true = predict(model, loader, device, amp, progress="eval")
    y_pred = logits.argmax(1) if len(logits) else np.zeros((0,), np.int64)
    return compute_metrics(y_true, y_pred, labels), y_true, y_pred


def make_dir(path: Path) -> Path:
    """Create an output folder (and parents); raises :class:`OutputError` when it cannot be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(path, f"cannot create output folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK):
        raise OutputError(path, "output folder is not writable")
    return path


def write_report(out: Path, metrics: dict[str, Any], extra: dict[str, Any], title: str) -> None:
    """``out/metrics.json`` (``extra`` + ``metrics``) and ``out/confusion_matrix.png``."""
    make_dir(out)
    write_json(out / "metrics.json", {**extra, **metrics})
    subtitle = f"{title}\nacc {metrics['accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}  (n={metrics['n']})"
    plot_confusion(np.array(metrics["confusion_matrix"]), metrics["labels"], out / "confusion_matrix.png", subtitle)


def relabel(items: Sequence[ClipItem], dataset_labels: Sequence[str], model_labels: Sequence[str], root: Path) -> list[ClipItem]:
    """Re-index items from the dataset's label order to the model's (matched by name)."""
    index = {name: i for i, name in enumerate(model_labels)}
    unknown = sorted({dataset_labels[it.label] for it in items} - set(index))
    if unknown:
        raise UsageError(root, f"classes the model does not know: {', '.join(unknown)} (model: {', '.join(model_labels)})")
    return [ClipItem(it.key, it.path, index[dataset_labels[it.label]]) for it in items]


def select_items(clips: ClipSet, keys: Sequence[str] | None, source: Path | None) -> list[ClipItem]:
    """The dataset's items named in ``keys`` (all items when ``keys`` is None)."""
    if keys is None:
        return list(clips.items)
    by_key = clips.by_key()
    chosen = [by_key[k] for k in dict.fromkeys(keys) if k in by_key]
    if not chosen:
        raise InputVideoError(source, f"none of its {len(keys)} clip keys has a clip in {clips.root}")
    return chosen


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; raises :class:`UsageError` for an unusable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(None, f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(None, f"device {name} asked for but CUDA is not available")
    return device


def cli_main(prog: str, body: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv) -> int:
    """Parse, run, and turn :class:`BballError` into ``<prog>: error: <file>: <cause>`` plus its exit code."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / argparse usage errors
        return int(exc.code or 0)
    try:
        return body(args)
    except BballError as err:
        print(f"{prog}: error: {err.one_line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bball-eval",
        description="Evaluate an action checkpoint (from bball-train) on labelled clips: accuracy, macro-F1, "
        "per-class report, confusion-matrix PNG and metrics.json.",
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint made by bball-train (best.pt)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder (SpaceJam layout or <class>/*.mp4)")
    p.add_argument("--layout", default="auto", choices=["auto", "spacejam", "folders"])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--split", type=Path, help="split.json written by bball-train")
    which.add_argument("--keys", type=Path, help="file of clip keys to evaluate (JSON list or one per line)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="split subset (with --split)")
    p.add_argument("--out", type=Path, help="output folder (default: <checkpoint stem>_eval beside the checkpoint)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--no-amp", dest="amp", action="store_false", help="disable float16 autocast on CUDA")
    return p


def _run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, device)
    clips = read_dataset(args.data, args.layout)
    keys, source, subset = None, None, "all"
    if args.split is not None:
        try:
            split = Split.from_dict(json.loads(args.split.read_text()))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise InputVideoError(args.split, f"not a split.json from bball-train ({exc})") from None
        keys, source, subset = getattr(split, args.subset), args.split, args.subset
    elif args.keys is not None:
        keys, source, subset = read_key_list(args.keys), args.keys, args.keys.stem
    items = relabel(select_items(clips, keys, source), clips.labels, ckpt.labels, args.data)
    out = make_dir(args.out or args.checkpoint.with_name(f"{args.checkpoint.stem}_eval"))
    amp = bool(args.amp and device.type == "cuda")
    metrics, y_true, y_pred = evaluate_items(
        ckpt.model, items, ckpt.labels, ckpt.clip, device, args.batch_size, args.workers, amp
    )
    extra = {
        "checkpoint": str(args.checkpoint),
        "sha256": ckpt.sha256,
        "arch": ckpt.arch,
        "data": str(args.data),
        "subset": subset,
    }
    write_report(out, metrics, extra, f"{ckpt.arch} on {subset}")
    print(report_text(y_true, y_pred, ckpt.labels))
    print(
        f"{subset}: n={metrics['n']} accuracy={metrics['accuracy']:.4f} "
        f"balanced_accuracy={metrics['balanced_accuracy']:.4f} macro_f1={metrics['macro_f1']:.4f}"
    )
    print(f"wrote {out / 'metrics.json'} and {out / 'confusion_matrix.png'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("bball-eval", _run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
