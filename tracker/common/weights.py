"""Weights files: sha256 and the weights/ manifest check (detector and action models alike)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from tracker.common.errors import WeightsError

#: The project's manifest of known weights files (name, sha256, labels), installed as package data of ``weights``.
MANIFEST = Path(str(resources.files("weights") / "manifest.json"))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_weights(path: str | Path, manifest: Path = MANIFEST) -> str:
    """Return the file's sha256, refusing one that contradicts what we know of it.

    Refused: a file whose name the manifest lists with another sha256, or whose
    ``<name>.sha256`` companion (written by ``bball-train``) disagrees.

    Raises:
        WeightsError: on a mismatch.
    """
    path = Path(path)
    digest = file_sha256(path)
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("files", []):
            want = entry.get("sha256")
            if entry.get("name") == path.name and want and want != digest:
                raise WeightsError(
                    path,
                    f"sha256 {digest[:12]}... does not match the weights manifest's {want[:12]}... "
                    "(corrupt or a different file; fetch it again)",
                )
    side = path.with_name(path.name + ".sha256")
    if side.is_file():
        words = side.read_text().split()
        if words and words[0] != digest:
            raise WeightsError(path, f"sha256 does not match {side.name} (the file changed or is corrupt)")
    return digest
