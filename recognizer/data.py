"""Action-clip datasets for training: the two layouts' readers and leak-free splits.

Decoding, sampling, augmentation and the torch ``Dataset`` are in :mod:`recognizer.clips`.

Two layouts are read:

* **SpaceJam** — ``<root>/examples/<id>.mp4`` (16 frames, 128 wide x 176 high,
  player-centred) + ``<root>/annotation_dict.json`` (``{"<id>": class index}``) +
  ``<root>/labels_dict.json`` (``{"<index>": name}``; index 10, ``discard``, is
  dropped). A file whose name is not annotated (e.g. a pre-written augmented copy
  ``0000000_flipped_rotate_330.mp4``) takes the label of the longest annotated
  prefix of its name (``0000000_flipped``, then ``0000000``).
* **Folders** (UCF101-style) — ``<root>/<class name>/*.mp4`` (also .avi, .mkv,
  .mov, .webm, .m4v); classes are the sub-folder names, sorted. Any label set.

Splits are made per *original clip*: a key's group is its name without
augmentation suffixes (``_flipped``, ``_rotate_330``, ``_translate_32_0``, ...,
see :func:`original_id`), and a whole group always lands in one split.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.model_selection import train_test_split

from recognizer.labels import SPACEJAM_DISCARD, SPACEJAM_LABELS, read_labels_dict
from tracker.common.errors import InputVideoError, UsageError

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")

#: Augmentation suffixes SpaceJam (and hkair's scripts) append to a clip id, in any order/repetition.
AUG_SUFFIX = re.compile(r"(?:_(?:flipped|flip|rotate_-?\d+|translate_-?\d+_-?\d+))+$")


def original_id(key: str, pattern: str | re.Pattern[str] | None = None) -> str:
    """The original clip a (possibly augmented) clip key comes from.

    ``0006103_flipped`` -> ``0006103``; ``0000000_flipped_rotate_330`` -> ``0000000``;
    ``0000000_translate_32_0`` -> ``0000000``. With ``pattern`` (a regex), the
    group is its first match's group 1 (or the whole match), e.g.
    ``r"^(v_\\w+_g\\d+)_c"`` groups UCF101 clips by recording session; keys it does
    not match fall back to the suffix rule.
    """
    if pattern is not None:
        m = re.search(pattern, key)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return AUG_SUFFIX.sub("", key)


@dataclass(frozen=True)
class ClipItem:
    """One training clip: ``key`` (file stem, unique in a dataset), its file, its class index."""

    key: str
    path: Path
    label: int


@dataclass
class ClipSet:
    """An indexed dataset.

    Attributes:
        root: the dataset folder.
        layout: ``"spacejam"`` or ``"folders"``.
        labels: class names, index-aligned with :attr:`ClipItem.label`.
        items: the clips with a file and a kept label, sorted by key.
        missing: annotated keys without a file (SpaceJam layout).
        dropped: files without a label or labelled ``discard``.
    """

    root: Path
    layout: str
    labels: list[str]
    items: list[ClipItem]
    missing: int = 0
    dropped: int = 0

    def by_key(self) -> dict[str, ClipItem]:
        return {it.key: it for it in self.items}

    def class_counts(self) -> list[int]:
        counts = Counter(it.label for it in self.items)
        return [counts.get(i, 0) for i in range(len(self.labels))]


def read_annotations(path: str | Path) -> dict[str, int]:
    """SpaceJam's ``annotation_dict.json`` as ``{key: class index}``; raises :class:`InputVideoError`."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        return {str(k): int(v) for k, v in raw.items()}
    except FileNotFoundError:
        raise InputVideoError(path, "annotation file not found") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputVideoError(path, f"not a SpaceJam annotation_dict ({exc})") from None


def annotated_label(key: str, annotations: dict[str, int]) -> int | None:
    """The label of ``key`` or of its longest annotated ``_``-prefix (``a_b_c`` -> ``a_b`` -> ``a``)."""
    parts = key.split("_")
    for n in range(len(parts), 0, -1):
        label = annotations.get("_".join(parts[:n]))
        if label is not None:
            return label
    return None


def read_key_list(path: str | Path) -> list[str]:
    """Clip keys from a file: a JSON list (SpaceJam's ``testset_keys_1lug2020.txt``) or one key per line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputVideoError(path, f"cannot read key list ({exc.strerror or exc})") from None
    try:
        keys = json.loads(text)
        if not isinstance(keys, list):
            raise InputVideoError(path, "JSON key list must be a list of clip ids")
        return [Path(str(k)).stem for k in keys]
    except json.JSONDecodeError:
        return [Path(ln.strip()).stem for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTS)


def read_spacejam(root: str | Path) -> ClipSet:
    """Index a SpaceJam-layout folder (see module docstring)."""
    root = Path(root)
    examples = root / "examples"
    if not examples.is_dir():
        raise InputVideoError(examples, "SpaceJam layout needs an examples/ folder of <id>.mp4 clips")
    annotations = read_annotations(root / "annotation_dict.json")
    labels_path = root / "labels_dict.json"
    names = read_labels_dict(labels_path) if labels_path.is_file() else dict(enumerate(SPACEJAM_LABELS))
    kept = sorted(i for i in names if i != SPACEJAM_DISCARD)
    if kept != list(range(len(kept))):
        raise InputVideoError(labels_path, f"class indices must be 0..N-1 (plus {SPACEJAM_DISCARD} = discard); got {kept}")
    labels = [names[i] for i in kept]
    items, dropped, seen = [], 0, set()
    for path in _video_files(examples):
        label = annotated_label(path.stem, annotations)
        if label is None or label == SPACEJAM_DISCARD or not 0 <= label < len(labels):
            dropped += 1
            continue
        items.append(ClipItem(path.stem, path, label))
        seen.add(path.stem)
    missing = sum(1 for k in annotations if k not in seen)
    return ClipSet(root, "spacejam", labels, items, missing=missing, dropped=dropped)


def read_folders(root: str | Path) -> ClipSet:
    """Index a ``<root>/<class name>/*.mp4`` folder tree (classes sorted by name)."""
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items, labels = [], []
    for name in classes:
        files = _video_files(root / name)
        if not files:
            continue
        labels.append(name)
        items.extend(ClipItem(p.stem, p, len(labels) - 1) for p in files)
    keys = Counter(it.key for it in items)
    dupes = [k for k, n in keys.items() if n > 1]
    if dupes:
        raise InputVideoError(root, f"clip names must be unique across classes; repeated: {', '.join(dupes[:3])}")
    return ClipSet(root, "folders", labels, sorted(items, key=lambda it: it.key))


def read_dataset(root: str | Path, layout: str = "auto") -> ClipSet:
    """Index ``root`` (``layout``: ``auto`` | ``spacejam`` | ``folders``); at least two classes with clips.

    Raises:
        InputVideoError: no such folder, bad annotation files, or no usable clips.
        UsageError: unknown layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputVideoError(root, "dataset folder not found")
    if layout == "auto":
        layout = "spacejam" if (root / "annotation_dict.json").is_file() else "folders"
    if layout == "spacejam":
        clips = read_spacejam(root)
    elif layout == "folders":
        clips = read_folders(root)
    else:
        raise UsageError(None, f"unknown dataset layout {layout!r}; use auto, spacejam or folders")
    present = sum(1 for n in clips.class_counts() if n)
    if not clips.items or present < 2:
        hint = "examples/<id>.mp4 + annotation_dict.json" if layout == "spacejam" else "<class>/<clip>.mp4"
        raise InputVideoError(root, f"no usable clips of at least two classes (layout {layout}: {hint})")
    return clips


# ---------------------------------------------------------------- splits


@dataclass
class Split:
    """Clip keys per split. ``dropped``: siblings of official test clips not listed as test themselves."""

    train: list[str]
    val: list[str]
    test: list[str]
    dropped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": self.train, "val": self.val, "test": self.test, "dropped": self.dropped}

    @classmethod
    def from_dict(cls, d: dict[str, Sequence[str]]) -> Split:
        return cls(*(sorted(map(str, d.get(k, []))) for k in ("train", "val", "test", "dropped")))


def _holdout_groups(
    groups: list[str], group_label: dict[str, int], fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Stratified holdout of whole groups: ``(kept, held_out)``.

    Stratifies on each group's label with ``sklearn``'s ``train_test_split``.
    Classes with fewer than two groups stay in ``kept``.
    """
    if fraction <= 0 or not groups:
        return list(groups), []
    per_class = Counter(group_label[g] for g in groups)
    strat = [g for g in groups if per_class[group_label[g]] >= 2]
    rest = [g for g in groups if per_class[group_label[g]] < 2]
    n_classes = len({group_label[g] for g in strat})
    n_held = max(n_classes, round(fraction * len(strat)))
    if len(strat) - n_held < n_classes:
        raise UsageError(
            None,
            f"too few clips to hold out {fraction:.0%} stratified by class "
            f"({len(strat)} original clips, {n_classes} classes); lower the fraction or add clips",
        )
    kept, held = train_test_split(
        strat, test_size=n_held, random_state=seed, shuffle=True, stratify=[group_label[g] for g in strat]
    )
    return sorted(kept + rest), sorted(held)


def make_split(
    keys: Sequence[str],
    labels: Sequence[int],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.0,
    test_keys: Sequence[str] | None = None,
    seed: int = 0,
    group_pattern: str | None = None,
    siblings_of_test: str = "drop",
) -> Split:
    """Split clips into train / val / test by original clip, stratified by class.

    Args:
        keys, labels: the clips (``labels[i]`` is ``keys[i]``'s class).
        val_fraction: share of the original clips held out for validation
            (of the whole set when ``test_fraction`` is used, else of the non-test clips).
        test_fraction: share held out for test; ignored when ``test_keys`` is given.
        test_keys: an official test list (e.g. ``testset_keys_1lug2020.txt``):
            exactly these keys (those present) are the test split.
        seed: makes the split reproducible.
        group_pattern: regex for :func:`original_id` (default: strip augmentation suffixes).
        siblings_of_test: what to do with an augmented sibling of a test clip that the
            official list does not name (SpaceJam's own list has 1,910 such clips):
            ``"drop"`` (default: the test set stays the official one, the sibling is
            used nowhere) or ``"test"`` (add it to the test split).

    Returns:
        A :class:`Split` with sorted key lists; no group spans two splits.
    """
    if len(keys) != len(labels):
        raise ValueError("keys and labels differ in length")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise UsageError(None, "fractions must be in [0, 1) and sum to less than 1")
    if siblings_of_test not in ("drop", "test"):
        raise UsageError(None, f"siblings_of_test must be drop or test, not {siblings_of_test!r}")
    members: dict[str, list[str]] = defaultdict(list)
    votes: dict[str, Counter] = defaultdict(Counter)
    for key, label in zip(keys, labels):
        g = original_id(key, group_pattern)
        members[g].append(key)
        votes[g][int(label)] += 1
    group_label = {g: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for g, c in votes.items()}
    groups = sorted(members)

    test: list[str] = []
    dropped: list[str] = []
    if test_keys is not None:
        official = set(test_keys) & set(keys)
        test_groups = {original_id(k, group_pattern) for k in official}
        for g in test_groups:
            for k in members[g]:
                (test if k in official or siblings_of_test == "test" else dropped).append(k)
        groups = [g for g in groups if g not in test_groups]
        rel_val = val_fraction
    else:
        groups, held = _holdout_groups(groups, group_label, test_fraction, seed)
        test = [k for g in held for k in members[g]]
        rel_val = val_fraction / (1 - test_fraction)
    train_groups, val_groups = _holdout_groups(groups, group_label, rel_val, seed + 1)
    return Split(
        train=sorted(k for g in train_groups for k in members[g]),
        val=sorted(k for g in val_groups for k in members[g]),
        test=sorted(test),
        dropped=sorted(dropped),
    )
