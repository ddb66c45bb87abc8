"""The run manifest of a folder batch: one JSON line per finished video, appended as videos finish.

``OUT_DIR/manifest.jsonl`` holds one :class:`VideoResult` per line. A video may
appear several times (a failure, then a later success); the *latest* line wins.
Lines are appended, flushed and fsynced one at a time, so a run killed at any
moment loses at most the line being written; a torn last line is skipped when
reading and never glued to the next one.

Resume trusts a ``done`` line only together with the files it names:
:func:`verify_result` checks that each output exists, is non-empty, and (for
the video) holds the recorded number of frames and decodes at both ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av

MANIFEST_NAME = "manifest.jsonl"
DONE = "done"
FAILED = "failed"


@dataclass
class VideoResult:
    """What happened to one video of a batch (one manifest line).

    Attributes:
        input: absolute path of the input video.
        output: absolute path of the annotated ``.mp4``.
        status: ``"done"`` or ``"failed"``.
        frames: frames processed (= frames in the output video when done).
        seconds: wall time of the video's run, model loading excluded on the local backend.
        fps: ``frames / seconds``.
        error: one-line cause when failed, else ``""``.
        error_type: the error family (``"InputVideoError"``, ``"OutputError"``, ``"WorkerDied"`` ...).
        exit_code: the exit code the single-video CLI would have returned for this video.
        outputs: the side outputs written, ``{"json"|"csv"|"plot": absolute path}``.
        backend: ``"local"`` or ``"ray"``.
        host: the machine that ran it.
        finished: UTC time the result was recorded, ISO 8601.
    """

    input: str
    output: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    error: str = ""
    error_type: str = ""
    exit_code: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    backend: str = "local"
    host: str = field(default_factory=socket.gethostname)
    finished: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class Manifest:
    """An append-only JSON Lines file of :class:`VideoResult`.

    Only the batch driver writes it (one writer); workers return results to the driver.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[VideoResult]:
        """Every well-formed line, in file order (torn or foreign lines are skipped)."""
        if not self.path.exists():
            return []
        results = []
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    d = json.loads(line)
                    if isinstance(d, dict) and {"input", "output", "status"} <= d.keys():
                        results.append(VideoResult.from_dict(d))
                except (json.JSONDecodeError, TypeError):
                    continue
        return results

    def latest(self) -> dict[str, VideoResult]:
        """``{input path: its latest result}``."""
        return {r.input: r for r in self.read()}

    def append(self, result: VideoResult) -> None:
        """Add one line, durably (flush + fsync), repairing a torn last line first."""
        if not result.finished:
            result.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as f:
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a run was killed mid-line: end that line first
                    f.write(b"\n")
            f.write(result.to_json().encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())


def verify_video(path: str | Path, frames: int) -> str | None:
    """Check that an output video is whole: ``None`` when it is, else the reason.

    Whole means: exists, non-empty, its video stream holds exactly ``frames``
    packets (one per frame), and both its first frame and its last GOP decode.
    Cheap on long videos: the packets are counted without decoding them.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return "output video is empty"
    except OSError:
        return "output video is missing"
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                return "output has no video stream"
            stream = container.streams.video[0]
            count, last_key_index, last_key_pts = 0, 0, None
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's final flush packet
                    continue
                if packet.is_keyframe:
                    last_key_index, last_key_pts = count, packet.pts
                count += 1
            if count != frames:
                return f"output video has {count} frames, expected {frames}"
            container.seek(0, stream=stream)
            if next(container.decode(stream), None) is None:
                return "output video's first frame does not decode"
            if last_key_pts is not None and last_key_index > 0:
                container.seek(last_key_pts, stream=stream)
            tail = sum(1 for _ in container.decode(stream)) if last_key_index > 0 else count
            if tail < 1:
                return "output video's last frames do not decode"
    except (av.FFmpegError, OSError, ValueError) as exc:
        return f"output video does not decode ({' '.join(str(exc).split())[:120]})"
    return None


def verify_result(result: VideoResult, output: str, wanted: dict[str, str]) -> str | None:
    """Whether a ``done`` result still stands for this job: ``None`` when it does, else why not.

    Args:
        result: the video's latest manifest entry.
        output: the annotated video path this run would write.
        wanted: the side outputs this run asks for, ``{"json"|"csv"|"plot": path}``.
    """
    if result.status != DONE:
        return f"last run {result.status}"
    if result.output != output:
        return "the output path changed"
    for kind, path in wanted.items():
        if result.outputs.get(kind) != path:
            return f"the {kind} output was not written before"
    problem = verify_video(result.output, result.frames)
    if problem:
        return problem
    for kind, path in result.outputs.items():
        p = Path(path)
        if not p.is_file() or p.stat().st_size == 0:
            return f"{kind} output is missing or empty"
        if kind == "json":
            try:
                doc = json.loads(p.read_text())
                if doc["video"]["frames"] != result.frames:
                    return "json output does not match the video"
            except (ValueError, KeyError, TypeError):
                return "json output does not parse"
    return None
