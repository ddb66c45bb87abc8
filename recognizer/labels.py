"""Action label sets."""

from __future__ import annotations

import json
from pathlib import Path

#: SpaceJam's classes in index order (``labels_dict.json``; 10 = "discard" is not a class).
SPACEJAM_LABELS: list[str] = [
    "block",
    "pass",
    "run",
    "dribble",
    "shoot",
    "ball in hand",
    "defense",
    "pick",
    "no_action",
    "walk",
]

#: SpaceJam's index for clips to drop.
SPACEJAM_DISCARD = 10


def read_labels_dict(path: str | Path) -> dict[int, str]:
    """Read SpaceJam's ``labels_dict.json`` (``{"0": "block", ...}``) as ``{0: "block", ...}``."""
    raw = json.loads(Path(path).read_text())
    return {int(k): str(v) for k, v in raw.items()}
