"""Reading and writing videos with PyAV: decode with codec threads, encode H.264, keep the audio, write atomically."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tracker.errors import InputVideoError, OutputError


@dataclass(frozen=True)
class VideoInfo:
    """What we know of an input video before decoding it.

    ``frame_count`` is the container's count (or duration x fps when it has none);
    ``width``/``height`` are after applying rotation metadata.
    """

    path: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    rotation: int
    has_audio: bool
    codec: str


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: ``index`` counts decoded frames from 0; ``time`` is its presentation time in s."""

    index: int
    time: float
    image: np.ndarray  # (H, W, 3) uint8 BGR


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    # PyAV's rotation is the display matrix angle (counter-clockwise degrees).
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


class VideoReader:
    """Decodes a video file frame by frame, skipping what cannot be decoded.

    Damaged packets are skipped and counted in :attr:`lost_frames` (an estimate,
    from the gap in timestamps); frames keep their true timestamps.

    Raises:
        InputVideoError: the file is missing, not a media file, or has no video stream.
    """

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputVideoError(self.path, "no such file")
        if self.path.is_dir():
            raise InputVideoError(self.path, "is a folder, not a video file")
        if self.path.stat().st_size == 0:
            raise InputVideoError(self.path, "empty file (0 bytes)")
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise InputVideoError(self.path, f"not a readable video ({_short(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputVideoError(self.path, "has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads
        self.lost_frames = 0
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        s = self._stream
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else 0.0
        if not fps or not np.isfinite(fps) or fps > 1000:
            fps = 30.0
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        else:
            duration = 0.0
        count = s.frames or int(round(duration * fps))
        rotation = self._peek_rotation()
        w, h = s.codec_context.width, s.codec_context.height
        if not w or not h:
            raise InputVideoError(self.path, "video stream has no frame size (damaged header)")
        if rotation % 180:
            w, h = h, w
        return VideoInfo(
            path=str(self.path),
            width=w,
            height=h,
            fps=fps,
            frame_count=int(count),
            duration=duration,
            rotation=rotation,
            has_audio=bool(self._container.streams.audio),
            codec=s.codec_context.name,
        )

    def _peek_rotation(self) -> int:
        try:
            frame = next(self._container.decode(self._stream))
        except (StopIteration, av.FFmpegError):
            return 0
        finally:
            self._container.seek(0, stream=self._stream) if self._seekable() else None
        return int(round(getattr(frame, "rotation", 0) or 0))

    def _seekable(self) -> bool:
        try:
            self._container.seek(0, stream=self._stream)
            return True
        except av.FFmpegError:
            return False

    def __iter__(self) -> Iterator[DecodedFrame]:
        index = 0
        base = self._stream.time_base or Fraction(1, 90000)
        last_t: float | None = None
        step = 1.0 / self.info.fps
        rotation = self.info.rotation
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    self.lost_frames += 1
                    continue
                for frame in frames:
                    t = float(frame.pts * base) if frame.pts is not None else (index * step)
                    if last_t is not None and t <= last_t:
                        t = last_t + step  # broken or missing timestamps: keep them increasing
                    if last_t is not None:
                        gap = int(round((t - last_t) / step)) - 1
                        if gap > 0 and self._stream.average_rate and self._constant_rate():
                            self.lost_frames += gap
                    last_t = t
                    image = frame.to_ndarray(format="bgr24")
                    yield DecodedFrame(index, t, _rotate(image, rotation))
                    index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise InputVideoError(self.path, f"no decodable video frames ({_short(exc)})") from None
            self.lost_frames += max(0, self.info.frame_count - index)
        if index == 0:
            raise InputVideoError(self.path, "no decodable video frames")

    def _constant_rate(self) -> bool:
        # For variable-frame-rate sources gaps are normal, not losses.
        s = self._stream
        return bool(s.average_rate and s.guessed_rate and abs(float(s.average_rate) - float(s.guessed_rate)) < 0.01)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__


class AtomicFile:
    """A temporary path beside ``target`` that becomes ``target`` only on :meth:`commit`.

    Readers never see a half-written output: the temp name starts with ``.`` and ends
    with ``.partial`` plus the target's suffix (so format guessing still works).
    """

    def __init__(self, target: str | Path, overwrite: bool = False) -> None:
        self.target = Path(target)
        folder = self.target.parent
        if self.target.exists() and not overwrite:
            raise OutputError(self.target, "already exists; pass --overwrite to replace it")
        if self.target.is_dir():
            raise OutputError(self.target, "is a folder")
        if not folder.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(folder, f"cannot create output folder ({exc.strerror})") from None
        if not os.access(folder, os.W_OK):
            raise OutputError(folder, "output folder is not writable")
        self.tmp = folder / f".{self.target.stem}.{os.getpid()}.partial{self.target.suffix}"

    def commit(self) -> Path:
        os.replace(self.tmp, self.target)
        return self.target

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


class VideoWriter:
    """Encodes BGR frames to browser-playable H.264 (yuv420p) in MP4, copying the source's audio.

    Frames carry their source timestamps, so variable frame rates and lost frames
    keep their timing. Odd frame sizes are padded by one black row/column (H.264
    4:2:0 needs even sizes). Written to a temp file; :meth:`close` renames it into
    place, :meth:`abort` deletes it.

    Args:
        path: output ``.mp4`` path.
        width, height: frame size.
        fps: nominal frame rate (timestamps come from :meth:`write`).
        audio_from: a source file whose first audio stream is copied in, or ``None``.
        codec: ``"libx264"`` (default) or ``"h264_nvenc"`` where present.
        preset, crf: x264 speed/quality.
        overwrite: replace an existing output.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float,
        audio_from: str | Path | None = None,
        codec: str = "libx264",
        preset: str = "veryfast",
        crf: int = 23,
        overwrite: bool = False,
    ) -> None:
        self.file = AtomicFile(path, overwrite=overwrite)
        self.width, self.height = width, height
        self._pad = (height % 2, width % 2)
        self._rate = Fraction(fps).limit_denominator(1001)
        self._time_base = Fraction(1, 90000)
        try:
            self._out = av.open(str(self.file.tmp), mode="w", format="mp4")
        except av.FFmpegError as exc:
            raise OutputError(self.file.target, f"cannot open for writing ({_short(exc)})") from None
        if codec not in av.codecs_available:
            codec = "libx264"
        self._video = self._out.add_stream(codec, rate=self._rate)
        self._video.width = width + self._pad[1]
        self._video.height = height + self._pad[0]
        self._video.pix_fmt = "yuv420p"
        self._video.time_base = self._time_base
        self._video.codec_context.time_base = self._time_base
        if codec == "libx264":
            self._video.options = {"preset": preset, "crf": str(crf)}
        self._audio_src = None
        self._audio_in = self._audio_out = None
        if audio_from is not None:
            self._open_audio(audio_from)
        self._last_pts = -1
        self.frames_written = 0

    def _open_audio(self, source: str | Path) -> None:
        try:
            src = av.open(str(source))
        except av.FFmpegError:
            return
        if not src.streams.audio:
            src.close()
            return
        self._audio_src = src
        self._audio_in = src.streams.audio[0]
        try:
            self._audio_out = self._out.add_stream_from_template(self._audio_in)
        except (av.FFmpegError, ValueError):
            src.close()
            self._audio_src = self._audio_in = self._audio_out = None

    def write(self, image: np.ndarray, time: float) -> None:
        """Encode one ``(H, W, 3)`` uint8 BGR frame shown at ``time`` seconds."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame size {image.shape[1]}x{image.shape[0]} != writer's {self.width}x{self.height}")
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        pts = int(round(time / self._time_base))
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self._time_base
        for packet in self._video.encode(frame):
            self._out.mux(packet)
        self.frames_written += 1

    def _copy_audio(self) -> None:
        if self._audio_out is None:
            return
        for packet in self._audio_src.demux(self._audio_in):
            if packet.dts is None:
                continue
            packet.stream = self._audio_out
            self._out.mux(packet)

    def close(self) -> Path:
        """Finish encoding, add the audio, and move the file into place."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            self._copy_audio()
            self._out.close()
        except av.FFmpegError as exc:
            self.abort()
            raise OutputError(self.file.target, f"encoding failed ({_short(exc)})") from None
        finally:
            if self._audio_src is not None:
                self._audio_src.close()
        return self.file.commit()

    def abort(self) -> None:
        """Drop the partial output."""
        for c in (self._out, self._audio_src):
            try:
                if c is not None:
                    c.close()
            except Exception:  # closing a broken container must not mask the real error
                pass
        self.file.discard()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
