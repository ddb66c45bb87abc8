"""Training clips from any game (``--export-clips DIR``), in SpaceJam's layout.

For every player, the 16-frame windows the recogniser labelled are written as player-centred
crops, so that ``bball-train --data DIR`` trains on them unchanged (:func:`recognizer.data.read_spacejam`)::

    DIR/examples/<id>.mp4        16 frames, 128 wide x 176 high, H.264 (browsers and PyAV read it)
    DIR/annotation_dict.json     {"<id>": class index}: the predicted label, until someone relabels it
    DIR/labels_dict.json         {"<index>": name, ..., "10": "discard"}
    DIR/clips.jsonl              one line per clip: video, track, frames, boxes, predicted label, confidence

Crops are the recogniser's crop boxes (:func:`recognizer.crops.context_boxes`, with the recogniser's
context margin) at SpaceJam's size: on a GPU cut by the recogniser's own ``crop_windows``, on a CPU by one
bilinear warp per frame (:func:`crop_clip`, the same pixels to a grey level or two, far cheaper). Class indices are SpaceJam's when every label of
the recogniser is a SpaceJam class (the kinematic recogniser's ``run``/``walk``/``no_action`` are),
else the recogniser's own order.

Clip ids are ``<video stem>-<6 hex of the video's path>-<track:04d>-<first frame:06d>``: a second game
exported into the same folder adds clips without clashing; the same video again is refused (its clips
are already there) unless ``overwrite``, which replaces that video's clips and only those. Windows of
one track overlap, so for an honest validation split group them, e.g. by game:
``bball-train --data DIR --group-pattern '^(.*-[0-9a-f]{6})-'``.

Nothing is half-written: clips go to hidden temp files during the run and are renamed, and the
JSON files rewritten atomically (under a lock on ``DIR/.lock``, so concurrent runs, e.g. Ray tasks,
and the labelling page do not lose each other's entries), only when the run succeeds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from recognizer.base import FrameBuffer, WindowPrediction
from recognizer.labels import SPACEJAM_DISCARD, SPACEJAM_LABELS
from tracker.common.errors import OutputError, UsageError
from tracker.common.files import AtomicFile, check_writable, short_os_error, write_json, write_text
from tracker.tracking.tubes import ClipWindow

#: SpaceJam's clip size ``(height, width)``.
CLIP_HW = (176, 128)
#: Context margin when the recogniser has none of its own (the kinematic one): the checkpoints' default.
DEFAULT_MARGIN = 0.25
#: libx264 settings for the clips: browsers play H.264 (not SpaceJam's MPEG-4 part 2); ``ultrafast``
#: encodes a clip about 10x faster than the default preset (bench: 22 vs 230 ms), ``crf`` 18 keeps it
#: visually lossless.
X264 = {"preset": "ultrafast", "crf": "18"}
ANNOTATIONS, LABELS, CLIPS, EXAMPLES = "annotation_dict.json", "labels_dict.json", "clips.jsonl", "examples"


@dataclass(frozen=True)
class ClipRecord:
    """One line of ``clips.jsonl``: where a clip comes from and what the recogniser said.

    Attributes:
        id: the clip's key (``examples/<id>.mp4``, ``annotation_dict.json``).
        video: the source video's path; ``track``: the player's ID in that run.
        frames: the 16 source frame indices; ``boxes``: the player's ``[x1, y1, x2, y2]`` on each.
        label: the predicted class index (``labels_dict.json``); ``action``: its name.
        confidence: the recogniser's probability of that class.
        recognizer: the recogniser's name.
    """

    id: str
    video: str
    track: int
    frames: list[int]
    boxes: list[list[float]]
    label: int
    action: str
    confidence: float
    recognizer: str


def crop_clip(window: ClipWindow, image, out_hw: tuple[int, int], margin: float) -> np.ndarray:
    """One window's crops on the CPU: ``(T, h, w, 3)`` uint8 RGB; ``image(i)`` is frame ``i``, ``(H, W, 3)`` BGR.

    The crop boxes are the recogniser's (:func:`recognizer.crops.context_boxes`, same margin and
    aspect); each is resampled with one bilinear ``cv2.warpAffine`` on the uint8 frame, pixel
    centres aligned as ``roi_align(aligned=True)`` does, black outside the frame. On a CPU this is
    tens of times faster than ``roi_align``'s 2x2 samples per output pixel in float (which this
    matches to a grey level or two, see tests), and export must not slow the run down.
    """
    import cv2

    from recognizer.crops import context_boxes

    h, w = out_hw
    out = np.empty((len(window.frame_indices), h, w, 3), np.uint8)
    for t, (f, (x1, y1, x2, y2)) in enumerate(zip(window.frame_indices.tolist(),
                                                   context_boxes(window.boxes, out_hw, margin))):
        sx, sy = (x2 - x1) / w, (y2 - y1) / h
        m = np.array([[sx, 0, x1 + 0.5 * sx - 0.5], [0, sy, y1 + 0.5 * sy - 0.5]], np.float64)
        bgr = cv2.warpAffine(image(f), m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        out[t] = bgr[..., ::-1]
    return out


def class_indices(labels: Sequence[str]) -> dict[str, int]:
    """Recogniser label -> class index written to ``annotation_dict.json`` (see module docstring)."""
    if all(name in SPACEJAM_LABELS for name in labels):
        return {name: SPACEJAM_LABELS.index(name) for name in labels}
    if len(labels) > SPACEJAM_DISCARD:
        raise UsageError(None, f"--export-clips supports at most {SPACEJAM_DISCARD} classes "
                         f"({SPACEJAM_DISCARD} is SpaceJam's discard); this recogniser has {len(labels)}")
    return {name: i for i, name in enumerate(labels)}


def labels_dict(labels: Sequence[str]) -> dict[str, str]:
    """The ``labels_dict.json`` for a recogniser's labels (SpaceJam's own when they are SpaceJam classes)."""
    index = class_indices(labels)
    names = SPACEJAM_LABELS if index == {n: SPACEJAM_LABELS.index(n) for n in labels} else list(labels)
    return {**{str(i): n for i, n in enumerate(names)}, str(SPACEJAM_DISCARD): "discard"}


@contextlib.contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock`` (read-modify-write of the folder's JSON files)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_json(path: Path, default):
    """A JSON file's content, ``default`` when it does not exist; a broken one is an :class:`OutputError`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        raise OutputError(path, f"cannot be read ({short_os_error(exc)}); fix or remove it") from None


def read_records(root: Path) -> list[dict]:
    """``clips.jsonl`` as dicts (empty when there is none)."""
    try:
        text = (root / CLIPS).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def video_prefix(video: str | Path) -> str:
    """The id prefix of one video's clips: its stem (safe characters only) and 6 hex of its path."""
    video = Path(video)
    stem = re.sub(r"[^A-Za-z0-9._]+", "-", video.stem).strip("-.") or "video"
    digest = hashlib.sha1(str(video.resolve()).encode()).hexdigest()[:6]
    return f"{stem}-{digest}"


class ClipExporter:
    """Where and how a pipeline exports training clips; :meth:`start` one :class:`ClipSession` per video.

    Args:
        root: the dataset folder (created when the first run succeeds).
        every: keep every ``every``-th window of each track (1: all of them; 2: with the default
            stride of 8, windows that do not overlap).
        overwrite: replace the clips of a video exported before (refused otherwise).

    Raises:
        UsageError: ``every`` < 1.
        OutputError: ``root`` is a file or cannot be written.
    """

    def __init__(self, root: str | Path, every: int = 1, overwrite: bool = False) -> None:
        if every < 1:
            raise UsageError(None, "--export-every must be >= 1")
        self.root = Path(root)
        self.every = int(every)
        self.overwrite = overwrite
        if self.root.exists() and not self.root.is_dir():
            raise OutputError(self.root, "is a file; --export-clips needs a folder")
        existing = next((p for p in (self.root, *self.root.parents) if p.exists()), None)
        if existing is not None:
            check_writable(existing)

    def check(self, video: str | Path) -> None:
        """Refuse before any work when ``video``'s clips are already in the folder (without ``overwrite``)."""
        if self.overwrite:
            return
        prefix = video_prefix(video) + "-"
        annotations = read_json(self.root / ANNOTATIONS, {})
        if any(k.startswith(prefix) for k in annotations):
            raise OutputError(self.root, f"clips of {Path(video).name} are already here; "
                              "pass --overwrite to replace them")

    def start(self, video: str | Path, fps: float, labels: Sequence[str], recognizer: str,
              margin: float | None = None) -> ClipSession:
        """Begin exporting one video's windows (checked as :meth:`check`)."""
        self.check(video)
        return ClipSession(self, Path(video).resolve(), fps, list(labels), recognizer,
                           DEFAULT_MARGIN if margin is None else float(margin))


class ClipSession:
    """One video's clips: :meth:`add` during the run, then :meth:`commit` or :meth:`discard`."""

    def __init__(self, exporter: ClipExporter, video: Path, fps: float, labels: list[str], recognizer: str,
                 margin: float) -> None:
        self.exporter, self.video, self.labels, self.recognizer = exporter, video, labels, recognizer
        self.margin = margin
        self.fps = max(1, int(round(fps)))
        self.index = class_indices(labels)
        self.prefix = video_prefix(video)
        self.records: list[ClipRecord] = []
        self._files: list[AtomicFile] = []
        self._seen: dict[int, int] = {}  # track -> windows seen so far
        self._ids: set[str] = set()

    def _id(self, window: ClipWindow) -> str:
        base = f"{self.prefix}-{window.track_id:04d}-{window.first_frame:06d}"
        key, n = base, 1
        while key in self._ids:
            n += 1
            key = f"{base}-{n}"
        self._ids.add(key)
        return key

    def add(self, windows: Sequence[ClipWindow], predictions: Sequence[WindowPrediction], frames: FrameBuffer) -> None:
        """Crop and encode the kept windows (every ``every``-th of each track); all their frames are in ``frames``."""
        from recognizer.crops import crop_windows
        from recognizer.clips import write_clip

        kept = []
        for w, p in zip(windows, predictions):
            n = self._seen.get(w.track_id, 0)
            self._seen[w.track_id] = n + 1
            if n % self.exporter.every == 0:
                kept.append((w, p))
        if not kept:
            return
        if frames.device.type == "cpu":
            clips = [crop_clip(w, frames.image, CLIP_HW, self.margin) for w, _ in kept]
        else:  # frames already on the GPU: the recogniser's batched roi_align path
            crops = crop_windows([w for w, _ in kept], frames.tensor, CLIP_HW, self.margin)  # (N, 3, T, h, w)
            clips = crops.round().clamp(0, 255).to("cpu", torch.uint8).permute(0, 2, 3, 4, 1).numpy()
        for (w, p), clip in zip(kept, clips):
            key = self._id(w)
            f = AtomicFile(self.exporter.root / EXAMPLES / f"{key}.mp4", overwrite=True)
            self._files.append(f)
            try:
                write_clip(f.begin(), np.ascontiguousarray(clip), fps=self.fps, codec="libx264", options=X264)
            except OSError as exc:
                raise OutputError(f.target, f"could not be written ({short_os_error(exc)})") from None
            k = int(np.argmax(p.probs))
            self.records.append(ClipRecord(
                id=key, video=str(self.video), track=int(w.track_id), frames=[int(i) for i in w.frame_indices],
                boxes=np.round(w.boxes.astype(np.float64), 1).tolist(), label=self.index[self.labels[k]],
                action=self.labels[k], confidence=round(float(p.probs[k]), 4), recognizer=self.recognizer))

    def commit(self) -> int:
        """Move the clips into place and add them to the folder's JSON files; returns the clip count."""
        root = self.exporter.root
        with folder_lock(root):
            wanted = labels_dict(self.labels)
            current = read_json(root / LABELS, None)
            if current is not None and current != wanted:
                self.discard()
                raise OutputError(root / LABELS, "has other classes than this recogniser's "
                                  f"({', '.join(self.labels)}); export into another folder")
            mine = self.prefix + "-"
            annotations = read_json(root / ANNOTATIONS, {})
            old = [k for k in annotations if k.startswith(mine)]
            if old and not self.exporter.overwrite:
                self.discard()
                raise OutputError(root, f"clips of {self.video.name} are already here; pass --overwrite to replace them")
            try:
                for f in self._files:
                    f.commit()
            except OutputError:
                self.discard()
                raise
            new = {r.id for r in self.records}
            for k in old:
                annotations.pop(k)
                if k not in new:
                    with contextlib.suppress(OSError):
                        (root / EXAMPLES / f"{k}.mp4").unlink()
            annotations.update({r.id: r.label for r in self.records})
            lines = [json.dumps(r) for r in read_records(root) if not str(r.get("id", "")).startswith(mine)]
            lines += [json.dumps(asdict(r)) for r in self.records]
            if current is None:
                write_json(root / LABELS, wanted)
            write_json(root / ANNOTATIONS, annotations, indent=1)
            write_text(root / CLIPS, "".join(line + "\n" for line in lines))
        self._files.clear()
        return len(self.records)

    def discard(self) -> None:
        """Delete this run's temp clips (and folders the run created); the folder stays as it was."""
        for f in reversed(self._files):
            f.discard()
        self._files.clear()

    def __len__(self) -> int:
        return len(self.records)


def check_layout(root: str | Path) -> None:
    """Raise :class:`OutputError` unless ``root`` is an export folder (for the labelling page)."""
    root = Path(root)
    if not (root / ANNOTATIONS).is_file():
        raise OutputError(root, f"no {ANNOTATIONS} here; export clips with bball-annotate --export-clips first")
