"""The run folder (``--out``): checked before any work, written atomically, read back by ``--resume``.

``best.pt`` / ``last.pt`` (each with a ``.sha256``), ``history.csv``, ``split.json`` and
``test/`` (``metrics.json``, ``confusion_matrix.png``); see docs/training.md.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recognizer.checkpoint import CHECKPOINT_FORMAT, read_checkpoint_file
from tracker.common.errors import OutputError, WeightsError
from tracker.common.files import check_writable, write_text

RUN_FILES = ("best.pt", "last.pt")


@dataclass
class RunState:
    """What ``last.pt`` carries beyond the model to resume a run."""

    epoch: int = -1
    best_f1: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, ts: dict[str, Any]) -> RunState:
        return cls(int(ts["epoch"]), float(ts["best_f1"]), int(ts["best_epoch"]), list(ts["history"]))

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "best_f1": self.best_f1, "best_epoch": self.best_epoch, "history": self.history}


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before any indexing or download, an ``--out`` that cannot take this run (nothing is created).

    Raises:
        OutputError: ``out`` is a file, already holds a run (without ``--resume``/``--overwrite``),
            or its nearest existing folder cannot be written.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file; --out names the run folder")
    if not resume and not overwrite and any((out / n).exists() for n in RUN_FILES):
        raise OutputError(out, "already holds a run (best.pt / last.pt); use --resume OUT/last.pt or --overwrite")
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None:
        if not existing.is_dir():
            raise OutputError(existing, "is a file, not a folder")
        check_writable(existing)


def load_resume(path: Path) -> dict[str, Any]:
    """A ``last.pt`` that ``bball-train`` wrote (with its training state).

    Raises:
        WeightsError: no such file, or a checkpoint without a training state.
    """
    raw = read_checkpoint_file(path, "checkpoint to resume from not found")
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT or "train_state" not in raw:
        raise WeightsError(path, "holds no training state; resume from the last.pt that bball-train wrote")
    return raw


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """``history.csv``: one row per epoch (atomically)."""
    buf = io.StringIO()
    if history:
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    write_text(path, buf.getvalue())
