"""Writing small SpaceJam-layout data sets for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recognizer.clips import write_clip


def write_spacejam(root: Path, clips: dict[str, tuple[np.ndarray | bytes, int]], labels: list[str]) -> Path:
    """``root/examples/<key>.mp4`` per clip (frames ``(T, H, W, 3)`` encoded; ``bytes`` written as they are,
    to make corrupt files) + ``annotation_dict.json`` (``{key: label}``) + ``labels_dict.json`` (10 = discard)."""
    (root / "examples").mkdir(parents=True, exist_ok=True)
    for key, (content, _) in clips.items():
        path = root / "examples" / f"{key}.mp4"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            write_clip(path, content)
    (root / "annotation_dict.json").write_text(json.dumps({key: label for key, (_, label) in clips.items()}))
    (root / "labels_dict.json").write_text(json.dumps({**dict(enumerate(labels)), 10: "discard"}))
    return root
