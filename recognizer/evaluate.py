"""``bball-eval``: judge an action checkpoint on labelled clips.

Numbers: accuracy, balanced accuracy (mean per-class recall), macro-F1 over the classes
that have clips in the evaluated set (named in ``macro_f1_classes``: a class without clips
has no F1 to average, and counting it as 0 would say little about the model), and
per-class precision / recall / F1 for every class of the model (scikit-learn's
``classification_report``); a confusion-matrix PNG (rows: true class, normalised per
row; counts in the JSON). Everything printed is also written to ``metrics.json``.

Which clips: ``--split split.json --subset test`` (the split ``bball-train`` wrote),
``--keys FILE`` (e.g. SpaceJam's ``testset_keys_1lug2020.txt``), or every clip in
``--data``. Unreadable clips are listed once each, left out of the numbers, and named in
``metrics.json`` (``unreadable``); more than ``--max-bad-clips`` of them stops the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
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

from recognizer.checkpoint import ClipConfig, load_checkpoint
from recognizer.clips import BadClips, check_clips
from recognizer.data import ClipItem, ClipSet, Split, read_dataset, read_key_list
from recognizer.training.loop import log, make_loader, predict, raise_problem
from tracker.common.device import resolve_device
from tracker.common.errors import InputVideoError, UsageError, run_command
from tracker.common.files import atomic_write, write_json


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Scores of ``(N,)`` predicted vs true class indices over ``labels``.

    ``macro_f1`` averages the classes present in ``y_true`` (listed in ``macro_f1_classes``);
    ``per_class`` has a row for every class, absent ones included (support 0).
    """
    idx = list(range(len(labels)))
    present = sorted({int(v) for v in np.asarray(y_true).tolist()})
    report = classification_report(
        y_true, y_pred, labels=idx, target_names=list(labels), output_dict=True, zero_division=0
    )
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected, they score as errors
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred)) if len(y_true) else 0.0
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "balanced_accuracy": balanced,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)) if present else 0.0,
        "macro_f1_classes": [labels[i] for i in present],
        "labels": list(labels),
        "per_class": {name: report[name] for name in labels},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
    }


def report_text(metrics: dict[str, Any]) -> str:
    """scikit-learn's per-class table for every class, then the summary over the classes with clips."""
    rows = [f"{'':>14} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"]
    for name in metrics["labels"]:
        r = metrics["per_class"][name]
        rows.append(f"{name:>14} {r['precision']:9.3f} {r['recall']:9.3f} {r['f1-score']:9.3f} {int(r['support']):9d}")
    present = metrics["macro_f1_classes"]
    absent = [n for n in metrics["labels"] if n not in present]
    rows.append("")
    rows.append(f"macro-F1 over the {len(present)} classes with clips ({', '.join(present)}): {metrics['macro_f1']:.4f}")
    if absent:
        rows.append(f"classes without clips here (rows above, not in the average): {', '.join(absent)}")
    return "\n".join(rows)


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
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def evaluate_items(
    model: nn.Module,
    items: Sequence[ClipItem],
    labels: Sequence[str],
    clip: ClipConfig,
    device: torch.device,
    batch_size: int = 16,
    workers: int = 0,
    amp: bool = False,
    bad: BadClips | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Predict ``items`` (labels already in ``labels``' index) and score them: ``(metrics, y_true, y_pred)``.

    Clips that do not decode go to ``bad`` (left out of the numbers), or raise without it.
    """
    on_problem = raise_problem if bad is None else (lambda p: bad.add(*p.split("\t", 1)))
    loader = make_loader(items, clip, batch_size, workers, device)
    logits, y_true = predict(model, loader, device, amp, progress="eval", on_problem=on_problem)
    y_pred = logits.argmax(1) if len(logits) else np.zeros((0,), np.int64)
    return compute_metrics(y_true, y_pred, labels), y_true, y_pred


def write_report(out: Path, metrics: dict[str, Any], extra: dict[str, Any], title: str) -> None:
    """``out/metrics.json`` (``extra`` + ``metrics``) and ``out/confusion_matrix.png``."""
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


def add_common_options(p: argparse.ArgumentParser, workers: int) -> None:
    """Options ``bball-train`` and ``bball-eval`` share."""
    p.add_argument("--device", default="auto", help="auto (CUDA when there is a GPU, else CPU), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=int, default=workers, help="data-loading processes (0: decode in this process)")
    p.add_argument("--max-bad-clips", type=float, default=0.05, metavar="N",
                   help="unreadable clips tolerated (listed, then skipped): below 1 a fraction of the clips "
                   "(default 0.05 = 5%%), else a count; more stops the command")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bball-eval",
        description="Evaluate an action checkpoint (from bball-train, or hkair's) on labelled clips: accuracy, "
        "macro-F1 over the classes with clips, per-class report, confusion-matrix PNG and metrics.json.",
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint made by bball-train (best.pt)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder (SpaceJam layout or <class>/*.mp4)")
    p.add_argument("--layout", default="auto", choices=["auto", "spacejam", "folders"])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--split", type=Path, help="split.json written by bball-train")
    which.add_argument("--keys", type=Path, help="file of clip keys to evaluate (JSON list or one per line)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="split subset (with --split)")
    p.add_argument("--out", type=Path, help="output folder (default: <checkpoint stem>_eval beside the checkpoint)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-amp", dest="amp", action="store_false", help="disable float16 autocast on CUDA")
    add_common_options(p, min(8, os.cpu_count() or 1))
    return p


def chosen_keys(args: argparse.Namespace) -> tuple[list[str] | None, Path | None, str]:
    """``(keys, the file naming them, subset name)`` from ``--split``/``--keys`` (all clips without either)."""
    if args.split is not None:
        try:
            split = Split.from_dict(json.loads(args.split.read_text()))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise InputVideoError(args.split, f"not a split.json from bball-train ({exc})") from None
        return getattr(split, args.subset), args.split, args.subset
    if args.keys is not None:
        return read_key_list(args.keys), args.keys, args.keys.stem
    return None, None, "all"


def _run(args: argparse.Namespace) -> int:
    device = torch.device(resolve_device(args.device))
    ckpt = load_checkpoint(args.checkpoint, device)
    clips = read_dataset(args.data, args.layout)
    keys, source, subset = chosen_keys(args)
    items = relabel(select_items(clips, keys, source), clips.labels, ckpt.labels, args.data)
    bad = BadClips(args.data, len(items), args.max_bad_clips, log)
    items = check_clips(items, bad, max(1, args.workers))
    out = args.out or args.checkpoint.with_name(f"{args.checkpoint.stem}_eval")
    amp = bool(args.amp and device.type == "cuda")
    metrics, _, _ = evaluate_items(
        ckpt.model, items, ckpt.labels, ckpt.clip, device, args.batch_size, args.workers, amp, bad
    )
    extra = {
        "checkpoint": str(args.checkpoint),
        "sha256": ckpt.sha256,
        "arch": ckpt.arch,
        "data": str(args.data),
        "subset": subset,
        "unreadable": dict(bad.clips),
    }
    write_report(out, metrics, extra, f"{ckpt.arch} on {subset}")
    print(report_text(metrics))
    print(
        f"{subset}: n={metrics['n']} accuracy={metrics['accuracy']:.4f} "
        f"balanced_accuracy={metrics['balanced_accuracy']:.4f} macro_f1={metrics['macro_f1']:.4f}"
        + (f" ({len(bad.clips)} unreadable clips left out)" if bad.clips else "")
    )
    print(f"wrote {out / 'metrics.json'} and {out / 'confusion_matrix.png'}")
    return 0


def parse_or_exit_code(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """Parsed arguments, or argparse's exit code (2 for a usage error, 0 for ``--help``)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_command("bball-eval", lambda: _run(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
