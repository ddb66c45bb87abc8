"""Clips as model input: decoding (PyAV), checking, frame sampling, augmentation, the torch ``Dataset``.

Clip sampling (``frames`` = the model's clip length, ``n`` = frames in the file):

* evaluation: ``np.linspace(0, n - 1, frames).round()`` — frames evenly spread
  over the whole clip; shorter clips repeat frames evenly, longer clips skip
  frames evenly;
* training (temporal jitter): the same rule over a random sub-span of
  ``round(u * n)`` frames, ``u ~ U(min_span, 1)``, at a random start.

Unreadable clips: :func:`check_clips` reads every header up front; :class:`ClipDataset` hands
over a clip that still fails while loading instead of raising; :class:`BadClips` lists each
once and stops a run that has too many.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from recognizer.checkpoint import ClipConfig, normalise_clips
from recognizer.data import ClipItem
from tracker.common.errors import InputVideoError, UsageError


def read_clip(path: str | Path) -> np.ndarray:
    """Decode every frame of a clip with PyAV.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        InputVideoError: missing, unreadable, or no video frames.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputVideoError(path, "no video stream")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except FileNotFoundError:
        raise InputVideoError(path, "clip not found") from None
    except (OSError, av.error.FFmpegError, ValueError) as exc:
        raise InputVideoError(path, f"cannot decode clip ({exc})") from None
    if not frames:
        raise InputVideoError(path, "clip has no decodable frames")
    return np.stack(frames)


def probe_clip(path: str | Path) -> str | None:
    """Why a clip cannot be read, from its header alone (``None``: it looks readable).

    Cheap (PyAV opens the container and reads the stream header: 0.4-1.6 ms per SpaceJam clip on
    a busy 2-core VM, so about 10-50 s for all 32,560 clips, less in several threads):
    it catches missing, empty, garbage and truncated-header files; a clip whose header is
    fine but whose frames do not decode is caught when it is loaded (see :class:`ClipDataset`).
    """
    try:
        if Path(path).stat().st_size == 0:
            return "empty file (0 bytes)"
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "no video stream"
            if container.streams.video[0].frames == 0:
                next(container.decode(video=0))  # no frame count in the header: decode one frame
    except FileNotFoundError:
        return "clip not found"
    except StopIteration:
        return "no decodable frames"
    except (OSError, av.error.FFmpegError, ValueError) as exc:
        cause = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's words, without the path again
        return f"cannot open as a video ({' '.join(str(cause).split())[:120]})"
    return None


class BadClips:
    """Unreadable clips met in a data set: each listed once, and a stop when there are too many.

    Args:
        root: the data set (named in the error).
        total: clips in the data set.
        max_bad: the most unreadable clips tolerated: a fraction of ``total`` when below 1
            (``0.05``: 5 %, rounded down), else a count (``0``: none).
        log: where the one line per unreadable clip goes.

    Raises (from :meth:`add`):
        InputVideoError: more clips are unreadable than ``max_bad`` allows.
    """

    SHOWN = 20  # lines printed at most once the limit is passed (the count says the rest)

    def __init__(self, root: str | Path, total: int, max_bad: float, log: Callable[[str], None]) -> None:
        if max_bad < 0:
            raise UsageError(None, f"--max-bad-clips must be 0 or more, not {max_bad}")
        self.root, self.total, self.max_bad, self.log = Path(root), int(total), float(max_bad), log
        self.limit = int(max_bad) if max_bad >= 1 else math.floor(max_bad * total)
        self.clips: dict[str, str] = {}

    def add(self, path: str | Path, cause: str, stop: bool = True) -> None:
        """Record ``path`` as unreadable (logged the first time only); with ``stop``, raise when over the limit."""
        key = str(path)
        if key not in self.clips:
            self.clips[key] = cause
            if len(self.clips) <= max(self.limit, self.SHOWN):
                self.log(f"unreadable clip, skipped: {key}: {cause}")
        if stop:
            self.check()

    def check(self) -> None:
        if len(self.clips) > self.limit:
            raise InputVideoError(
                self.root,
                f"{len(self.clips)} of {self.total} clips are unreadable, more than --max-bad-clips {self.max_bad:g} "
                f"allows ({self.limit}); mend or remove them, or raise --max-bad-clips",
            )


def check_clips(items: Sequence[ClipItem], bad: BadClips, threads: int = 8) -> list[ClipItem]:
    """The ``items`` whose header reads (:func:`probe_clip`, in ``threads`` threads); the others go to ``bad``.

    Raises:
        InputVideoError: more are unreadable than ``bad`` allows (after all were checked).
    """
    with ThreadPoolExecutor(max(1, threads)) as pool:
        causes = list(pool.map(lambda it: probe_clip(it.path), items))
    for it, cause in zip(items, causes):
        if cause is not None:
            bad.add(it.path, cause, stop=False)
    bad.check()
    return [it for it, cause in zip(items, causes) if cause is None]


def write_clip(path: str | Path, frames: np.ndarray, fps: int = 10, codec: str = "mpeg4",
               options: dict[str, str] | None = None) -> None:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames (even H and W) as a video, like SpaceJam's mp4s.

    ``options`` go to the encoder (e.g. ``{"preset": "ultrafast", "crf": "18"}`` for libx264)."""
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"write_clip wants (T, H, W, 3) frames, got {frames.shape}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps), options=options or {})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def sample_indices(n: int, frames: int) -> np.ndarray:
    """``(frames,)`` int64 indices into ``n`` frames, evenly spread (repeats when ``n < frames``)."""
    if n < 1:
        raise ValueError("a clip needs at least one frame")
    return np.linspace(0, n - 1, frames).round().astype(np.int64)


def jitter_indices(n: int, frames: int, min_span: float = 0.8, generator: torch.Generator | None = None) -> np.ndarray:
    """Temporal jitter: :func:`sample_indices` over a random sub-span of ``round(u * n)`` frames, ``u ~ U(min_span, 1)``."""
    u = min_span + (1 - min_span) * float(torch.rand((), generator=generator))
    span = max(1, min(n, round(u * n)))
    start = int(torch.randint(0, n - span + 1, (), generator=generator))
    return start + sample_indices(span, frames)


# ---------------------------------------------------------------- augmentation and model input


@dataclass
class Augment:
    """On-the-fly training augmentation; one random draw per clip, the same for all its frames.

    Attributes:
        flip: probability of a horizontal flip.
        rotate: maximum rotation in degrees (uniform in ``[-rotate, rotate]``).
        translate: maximum shift as a fraction of width / height.
        scale: zoom range ``(lo, hi)``.
        min_span: temporal jitter, see :func:`jitter_indices` (1 = off).
    """

    flip: float = 0.5
    rotate: float = 10.0
    translate: float = 0.1
    scale: tuple[float, float] = (0.9, 1.1)
    min_span: float = 0.8

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(T, 3, H, W)`` uint8 -> the same, flipped / rotated / shifted / zoomed (black fill)."""
        r = torch.rand(5, generator=generator).tolist()
        if r[0] < self.flip:
            video = TF.horizontal_flip(video)
        h, w = video.shape[-2:]
        angle = (2 * r[1] - 1) * self.rotate
        shift = [round((2 * r[2] - 1) * self.translate * w), round((2 * r[3] - 1) * self.translate * h)]
        zoom = self.scale[0] + r[4] * (self.scale[1] - self.scale[0])
        if angle or any(shift) or zoom != 1:
            video = TF.affine(
                video, angle=angle, translate=shift, scale=zoom, shear=[0.0, 0.0],
                interpolation=InterpolationMode.BILINEAR, fill=0,
            )
        return video


def clip_tensor(frames: np.ndarray, clip: ClipConfig, indices: np.ndarray) -> torch.Tensor:
    """Pick ``indices`` of ``(T, H, W, 3)`` uint8 frames and resize to ``clip.size``: ``(T', 3, h, w)`` uint8."""
    video = torch.from_numpy(np.ascontiguousarray(frames[indices])).permute(0, 3, 1, 2)
    size = [int(clip.size[0]), int(clip.size[1])]
    if list(video.shape[-2:]) != size:
        video = TF.resize(video, size, antialias=True)
    return video


def model_input(video: torch.Tensor, clip: ClipConfig) -> torch.Tensor:
    """``(T, 3, h, w)`` uint8 -> ``(3, T, h, w)`` float32 normalised as the recogniser does (:func:`normalise_clips`)."""
    x = video.permute(1, 0, 2, 3).float()[None]
    return normalise_clips(x, clip)[0]


class ClipDataset(torch.utils.data.Dataset):
    """Clips as model input: ``(x, label, problem)`` with ``x`` ``(3, clip.frames, h, w)`` float32
    as the model takes it (:func:`model_input`), ``problem`` ``""``.

    A clip that does not decode gives ``(None, label, "<path>: <cause>")`` instead of raising (in a
    ``DataLoader`` worker an exception becomes a long traceback and ends the run): batch with
    :func:`collate_clips`, which drops it and hands the problem to the caller.

    The whole clip frame is resized to ``clip.size`` (SpaceJam clips are already
    player-centred crops). With ``augment`` (training), frames are sampled with
    temporal jitter and augmented; without, sampled evenly (see module docstring).
    Random draws use torch's RNG, which ``DataLoader`` seeds per worker.
    """

    def __init__(self, items: Sequence[ClipItem], clip: ClipConfig, augment: Augment | None = None) -> None:
        self.items = list(items)
        self.clip = clip
        self.augment = augment

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int, str]:
        item = self.items[i]
        try:
            frames = read_clip(item.path)
        except InputVideoError as exc:
            return None, item.label, f"{item.path}\t{exc.cause}"
        n, t = len(frames), int(self.clip.frames)
        if self.augment is not None and self.augment.min_span < 1:
            idx = jitter_indices(n, t, self.augment.min_span)
        else:
            idx = sample_indices(n, t)
        video = clip_tensor(frames, self.clip, idx)
        if self.augment is not None:
            video = self.augment(video)
        return model_input(video, self.clip), item.label, ""


def collate_clips(batch: list[tuple[torch.Tensor | None, int, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``DataLoader`` ``collate_fn`` for :class:`ClipDataset`: ``(x (B, 3, T, h, w), y (B,), problems)``.

    Clips that did not decode are left out of ``x`` and ``y`` (``B`` may be 0) and listed in
    ``problems`` as ``"<path>\t<cause>"``.
    """
    good = [(x, y) for x, y, _ in batch if x is not None]
    problems = [p for x, _, p in batch if x is None]
    if not good:
        return torch.zeros((0,)), torch.zeros((0,), dtype=torch.long), problems
    return torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good], dtype=torch.long), problems
