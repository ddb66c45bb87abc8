"""Reading and writing videos with PyAV: decode with codec threads, encode H.264, keep the audio, write atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.colour import COLOR_RANGE, COLORSPACE, bgr_to_yuv420p
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
    """Turn a decoded ``(H, W, 3)`` image upright; ``rotation`` is the display matrix angle (CCW degrees)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _right_angle(degrees: float | None) -> int:
    """The display rotation rounded to a multiple of 90 in ``[0, 360)`` (players do the same)."""
    if degrees is None or not np.isfinite(degrees):
        return 0
    return int(round(float(degrees) / 90.0)) * 90 % 360


#: Errors PyAV/FFmpeg raise on damaged or hostile input (besides :class:`av.FFmpegError`).
_MEDIA_ERRORS = (av.FFmpegError, OSError, ValueError, UnicodeDecodeError, OverflowError, MemoryError)


class VideoReader:
    """Decodes a video file frame by frame, skipping what cannot be decoded.

    Damaged input is not fatal once a frame has been decoded: packets the decoder
    rejects are skipped, and so are frames the decoder hands back out of order
    after damage (stale timestamps), so the frames yielded have strictly
    increasing, true source timestamps. :attr:`lost_frames` is, at the end of
    the iteration, how many frames were not yielded: the container's frame count
    minus the frames yielded when the container has a count (MP4/MOV), else an
    estimate from the gaps in the timestamps (constant-rate streams) or from the
    rejected packets (variable-rate ones).

    Frames are yielded upright (rotation metadata applied) as ``(H, W, 3)`` uint8
    BGR whatever the source's pixel format (grayscale, 4:4:4, 10-bit ...); a frame
    whose size differs from the first one's is resized to it.

    The first frame is decoded when the reader is opened, so a file with nothing
    decodable fails here, before any model is loaded. A reader is iterated once.

    Raises:
        InputVideoError: the file is missing, not a media file, has no video
            stream, or has no decodable video frame.
    """

    def __init__(self, path: str | Path, threads: int = 0, hwaccel: str | None = None) -> None:
        self.path = Path(path)
        self.hwaccel = None
        if not self.path.exists():
            raise InputVideoError(self.path, "no such file")
        if self.path.is_dir():
            raise InputVideoError(self.path, "is a folder, not a video file")
        if not self.path.is_file():
            raise InputVideoError(self.path, "not a regular file")
        if self.path.stat().st_size == 0:
            raise InputVideoError(self.path, "empty file (0 bytes)")
        try:
            self._open(hwaccel, threads)
        except InputVideoError:
            if not self.hwaccel:
                raise
            self._open(None, threads)  # the hardware decoder failed on this file: decode it in software

    def _open(self, hwaccel: str | None, threads: int) -> None:
        """Open the container and decode the first frame (``hwaccel``: try hardware decoding)."""
        self.hwaccel = None
        try:
            self._container = self._open_hw(hwaccel) if hwaccel else None
            if self._container is None:
                self._container = av.open(str(self.path), metadata_errors="ignore")
        except _MEDIA_ERRORS as exc:
            raise InputVideoError(
                self.path, f"not a readable video ({_short(exc)}); damaged, truncated or not a video file"
            ) from None
        try:
            if not self._container.streams.video:
                kinds = sorted({s.type for s in self._container.streams}) or ["no streams"]
                raise InputVideoError(self.path, f"has no video stream (only {', '.join(kinds)})")
            self._stream = self._container.streams.video[0]
            if self._stream.codec_context is None:
                raise InputVideoError(self.path, "video codec unknown or not supported by this FFmpeg build")
            self._stream.thread_type = "AUTO"
            self._stream.codec_context.thread_count = threads
            self.lost_frames = 0
            self._failed_packets = 0
            self._frames = self._decode()
            first = next(self._frames, None)
            if first is None:
                raise InputVideoError(self.path, "no decodable video frames (damaged or truncated stream)")
            self._first = first
            self.info = self._probe(first)
        except BaseException:
            self._container.close()
            raise
        self._iterated = False

    def _open_hw(self, device_type: str):
        """Open with hardware decoding (e.g. ``"cuda"``: NVDEC), or ``None`` where it is not available."""
        from av.codec.hwaccel import HWAccel

        try:
            container = av.open(str(self.path), metadata_errors="ignore",
                                hwaccel=HWAccel(device_type=device_type, allow_software_fallback=True))
        except (*_MEDIA_ERRORS, TypeError, RuntimeError):  # no such device, no driver, no stream it can decode
            return None
        self.hwaccel = device_type
        return container

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Every frame the decoder gives, skipping packets it rejects; stops at unreadable data."""
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except _MEDIA_ERRORS:
                    self._failed_packets += 1
                    continue
                yield from frames
        except _MEDIA_ERRORS:  # the container itself is damaged from here on (e.g. truncated)
            return

    def _probe(self, first: av.VideoFrame) -> VideoInfo:
        s = self._stream
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else 0.0
        if not fps or not np.isfinite(fps) or fps > 1000 or fps < 0.1:
            fps = 30.0
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        else:
            duration = 0.0
        duration = duration if np.isfinite(duration) and duration > 0 else 0.0
        count = s.frames or int(round(duration * fps))
        try:
            rotation = _right_angle(first.rotation)
        except _MEDIA_ERRORS + (AttributeError, TypeError):  # unreadable display matrix: show as stored
            rotation = 0
        w, h = first.width, first.height
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

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self._iterated:
            raise RuntimeError("a VideoReader is iterated once; open the file again")
        self._iterated = True
        info = self.info
        base = self._stream.time_base or Fraction(1, 90000)
        start = None if self._stream.start_time is None else float(self._stream.start_time * base)
        step = 1.0 / info.fps
        last_t: float | None = None
        index = stale = gaps = 0

        def frames() -> Iterator[av.VideoFrame]:
            yield self._first
            self._first = None
            yield from self._frames

        for frame in frames():
            if frame.pts is not None:
                t = float(frame.pts * base)
            else:  # no timestamp: assume the next frame at the nominal rate
                t = (start or 0.0) if last_t is None else last_t + step
            if last_t is not None and t <= last_t + 1e-9:
                stale += 1  # handed back late after damage: its place in time has passed
                continue
            if last_t is None:
                gaps += max(0, int(round((t - start) / step))) if start is not None else 0
            else:
                gaps += max(0, int(round((t - last_t) / step)) - 1)
            last_t = t
            try:
                image = frame.to_ndarray(format="bgr24")
            except _MEDIA_ERRORS:
                stale += 1
                continue
            image = _rotate(image, info.rotation)
            if image.shape[:2] != (info.height, info.width):  # the stream changed size mid-way
                image = cv2.resize(image, (info.width, info.height), interpolation=cv2.INTER_AREA)
            yield DecodedFrame(index, t, image)
            index += 1
        self.lost_frames = self._count_lost(index, gaps, stale)

    def _count_lost(self, yielded: int, gaps: int, stale: int) -> int:
        if self._stream.frames:
            return max(0, int(self._stream.frames) - yielded)
        if self._constant_rate():
            return gaps
        return self._failed_packets + stale

    def _constant_rate(self) -> bool:
        # For variable-frame-rate sources gaps are normal, not losses.
        s = self._stream
        return bool(s.average_rate and s.guessed_rate and abs(float(s.average_rate) - float(s.guessed_rate)) < 0.01)

    def close(self) -> None:
        try:
            self._frames.close()
        except ValueError:  # still running in another thread; closing the container ends it
            pass
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    """A one-line cause from a PyAV/OS error, without FFmpeg's repeated file name."""
    text = getattr(exc, "strerror", None) if isinstance(exc, (av.FFmpegError, OSError)) else None
    text = " ".join(str(text or exc).split())
    return text[:160] or type(exc).__name__


class AtomicFile:
    """A temporary path beside ``target`` that becomes ``target`` only on :meth:`commit`.

    Readers never see a half-written output: the temp file lives in the target's
    folder (so the final :func:`os.replace` is an atomic rename on the same file
    system), its name starts with ``.`` and ends with ``.partial`` plus the target's
    suffix (so format guessing still works). Creating one checks that the folder
    can really be written by creating and deleting a probe file there: permission
    bits say nothing for root, read-only mounts or ``/proc``.

    Raises:
        OutputError: the target exists (without ``overwrite``) or is a folder, or
            its folder cannot be created or written.
    """

    def __init__(self, target: str | Path, overwrite: bool = False) -> None:
        self.target = Path(target)
        folder = self.target.parent
        if self.target.is_dir():
            raise OutputError(self.target, "is a folder; give a file path")
        if self.target.exists() and not overwrite:
            raise OutputError(self.target, "already exists; pass --overwrite to replace it")
        if not folder.is_dir():
            existing = next((a for a in folder.parents if a.exists()), None)
            if folder.exists() or (existing is not None and not existing.is_dir()):
                raise OutputError(folder if folder.exists() else existing, "is a file, not a folder")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(folder, f"cannot create the output folder ({_short(exc)})") from None
        _check_writable(folder)
        self.tmp = folder / f".{self.target.stem}.{os.getpid()}.partial{self.target.suffix}"

    def commit(self) -> Path:
        """Rename the finished temp file onto the target."""
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(self.target, f"cannot move the finished output into place ({_short(exc)})") from None
        return self.target

    def discard(self) -> None:
        """Delete the temp file (nothing happens if it was never created)."""
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _check_writable(folder: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".bball-write-test.", dir=folder)
    except OSError as exc:
        raise OutputError(folder, f"output folder is not writable ({_short(exc)})") from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def usable_encoder(codec: str) -> str:
    """``codec`` if this FFmpeg build has it and it opens on this machine, else ``"libx264"``.

    ``h264_nvenc`` is compiled into most builds but opens only where an NVIDIA GPU and
    driver are present; it is tried on a tiny throwaway stream first.
    """
    if codec == "libx264":
        return codec
    if codec not in av.codecs_available:
        return "libx264"
    import io

    try:
        with av.open(io.BytesIO(), mode="w", format="mp4") as probe:
            stream = probe.add_stream(codec, rate=30)
            stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
            stream.codec_context.open()
    except (av.FFmpegError, OSError, ValueError):
        return "libx264"
    return codec


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
        except _MEDIA_ERRORS as exc:
            raise OutputError(self.file.target, f"cannot open for writing ({_short(exc)})") from None
        codec = usable_encoder(codec)
        self.codec = codec
        self._video = self._out.add_stream(codec, rate=self._rate)
        self._video.width = width + self._pad[1]
        self._video.height = height + self._pad[0]
        self._video.pix_fmt = "yuv420p"
        self._video.codec_context.colorspace = COLORSPACE  # what bgr_to_yuv420p makes, so players show true colours
        self._video.codec_context.color_range = COLOR_RANGE
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
            src = av.open(str(source), metadata_errors="ignore")
        except _MEDIA_ERRORS:
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
        self.write_frame(self.frame(image), time)

    def frame(self, image: np.ndarray) -> av.VideoFrame:
        """The encoder's frame for one ``(H, W, 3)`` uint8 BGR image: padded to even sides and
        converted to YUV 4:2:0. Keeps no state, so another thread may make the next frame while
        :meth:`write_frame` encodes this one."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame size {image.shape[1]}x{image.shape[0]} != writer's {self.width}x{self.height}")
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)))
        return av.VideoFrame.from_ndarray(bgr_to_yuv420p(image), format="yuv420p")

    def write_frame(self, frame: av.VideoFrame, time: float) -> None:
        """Encode a frame made by :meth:`frame`, shown at ``time`` seconds."""
        pts = int(round(time / self._time_base))
        pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = self._time_base
        try:
            for packet in self._video.encode(frame):
                self._out.mux(packet)
        except _MEDIA_ERRORS as exc:  # disk full, encoder failure ...
            raise OutputError(self.file.target, f"cannot write the video ({_short(exc)})") from None
        self.frames_written += 1

    def _copy_audio(self) -> None:
        if self._audio_out is None:
            return
        last_dts = None
        try:
            for packet in self._audio_src.demux(self._audio_in):
                if packet.dts is None or (last_dts is not None and packet.dts <= last_dts):
                    continue  # flush packet, or damaged timing: drop it rather than the whole output
                packet.stream = self._audio_out
                try:
                    self._out.mux(packet)
                    last_dts = packet.dts
                except (av.FFmpegError, ValueError):
                    continue
        except (av.FFmpegError, ValueError):  # damaged source: keep the audio copied so far
            pass

    def close(self) -> Path:
        """Finish encoding, add the audio, and move the file into place."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            self._copy_audio()
            self._out.close()
        except _MEDIA_ERRORS as exc:
            self.abort()
            raise OutputError(self.file.target, f"encoding failed ({_short(exc)})") from None
        except BaseException:
            self.abort()
            raise
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
