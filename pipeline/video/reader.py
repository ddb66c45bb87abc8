"""Decoding a video with PyAV: codec threads, optional NVDEC, rotation, lost-frame accounting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.video.media import MEDIA_ERRORS, short_error
from tracker.common.errors import InputVideoError


#: FFmpeg demuxers that read single pictures (``image2`` also reads numbered picture sequences).
STILL_IMAGE_FORMATS = frozenset({"image2", "jpeg_pipe", "png_pipe", "bmp_pipe", "webp_pipe", "tiff_pipe", "gif_pipe",
                                 "qoi_pipe", "j2k_pipe", "jpegxl_pipe", "pgm_pipe", "ppm_pipe", "dpx_pipe",
                                 "exr_pipe", "psd_pipe", "svg_pipe", "xbm_pipe", "pcx_pipe"})


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
        except MEDIA_ERRORS as exc:
            raise InputVideoError(
                self.path, f"not a readable video ({short_error(exc)}); damaged, truncated or not a video file"
            ) from None
        try:
            if not self._container.streams.video:
                kinds = sorted({s.type for s in self._container.streams}) or ["no streams"]
                raise InputVideoError(self.path, f"has no video stream (only {', '.join(kinds)})")
            if self._container.format.name in STILL_IMAGE_FORMATS:
                raise InputVideoError(self.path, "is a still image, not a video; bball-annotate annotates videos "
                                      "(a clip of the play, e.g. .mp4, .mov, .mkv)")
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
        self._closed = False

    def _open_hw(self, device_type: str):
        """Open with hardware decoding (e.g. ``"cuda"``: NVDEC), or ``None`` where it is not available."""
        from av.codec.hwaccel import HWAccel

        try:
            container = av.open(str(self.path), metadata_errors="ignore",
                                hwaccel=HWAccel(device_type=device_type, allow_software_fallback=True))
        except (*MEDIA_ERRORS, TypeError, RuntimeError):  # no such device, no driver, no stream it can decode
            return None
        self.hwaccel = device_type
        return container

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Every frame the decoder gives, skipping packets it rejects; stops at unreadable data.

        A multi-threaded decoder keeps frames queued, and when the last packet it was sent is
        damaged (a cut-off file) the error surfaces at the final flush and the queued frames
        are thrown away. So when fewer frames came out than packets went in, the end of the
        stream is decoded again in one thread (:meth:`_decode_tail`) for the frames still missing.
        """
        packets = frames = 0
        last_pts = None
        try:
            for packet in self._container.demux(self._stream):
                packets += packet.size > 0
                try:
                    decoded = packet.decode()
                except MEDIA_ERRORS:
                    self._failed_packets += 1
                    continue
                for frame in decoded:
                    frames += 1
                    if frame.pts is not None:
                        last_pts = frame.pts if last_pts is None else max(last_pts, frame.pts)
                    yield frame
        except MEDIA_ERRORS:  # the container itself is damaged from here on (e.g. truncated)
            pass
        if frames < packets:
            yield from self._decode_tail(last_pts)

    def _decode_tail(self, after_pts: int | None) -> Iterator[av.VideoFrame]:
        """Decode again, in one thread, from the keyframe before ``after_pts`` (the last frame
        already given; ``None``: from the start), and yield the frames that come after it."""

        def new(frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
            return frames if after_pts is None else [f for f in frames if f.pts is not None and f.pts > after_pts]

        try:
            with av.open(str(self.path), metadata_errors="ignore") as container:
                stream = container.streams.video[0]
                stream.codec_context.thread_count = 1
                if after_pts is not None:
                    try:
                        container.seek(after_pts, stream=stream, backward=True)
                    except MEDIA_ERRORS:
                        pass  # not seekable: decode from the start (the frames already given are skipped)
                try:
                    for packet in container.demux(stream):  # ends with the flush packet
                        try:
                            yield from new(packet.decode())
                        except MEDIA_ERRORS:
                            continue
                except MEDIA_ERRORS:  # cut off inside a packet: flush what the decoder still holds
                    try:
                        yield from new(stream.codec_context.decode(None))
                    except (*MEDIA_ERRORS, EOFError):
                        pass
        except MEDIA_ERRORS:
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
        except MEDIA_ERRORS + (AttributeError, TypeError):  # unreadable display matrix: show as stored
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
            if self._closed:
                raise ValueError(f"{self.path}: the video reader was closed while it was being read")
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
            except MEDIA_ERRORS:
                stale += 1
                continue
            image = _rotate(image, info.rotation)
            if image.shape[:2] != (info.height, info.width):  # the stream changed size mid-way
                image = cv2.resize(image, (info.width, info.height), interpolation=cv2.INTER_AREA)
            yield DecodedFrame(index, t, image)
            index += 1
        if self._closed:  # the decoder was closed under this iteration: the video did not end here
            raise ValueError(f"{self.path}: the video reader was closed while it was being read")
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
        """Close the file. Never under a decode in progress: while another thread is inside the
        decoder the container is left open (to be freed with the reader once that thread lets go of
        it), since FFmpeg freeing it under that thread crashes the process. An iteration going on in
        another thread then ends with an error, not as if the video had ended."""
        self._closed = True
        try:
            self._frames.close()  # atomic: fails while the generator runs in another thread, else ends it
        except ValueError:  # decoding in another thread right now
            return
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
