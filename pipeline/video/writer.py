"""Encoding browser-playable H.264 with PyAV, the source's sound copied in (or re-encoded to AAC), written atomically."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.video.colour import COLOR_RANGE, COLORSPACE, bgr_to_yuv420p
from pipeline.video.media import MEDIA_ERRORS, short_error
from tracker.common.errors import OutputError
from tracker.common.files import AtomicFile


def usable_encoder(codec: str) -> str:
    """``codec`` if this FFmpeg build has it and it opens on this machine, else ``"libx264"``.

    ``h264_nvenc`` is compiled into most builds but opens only where an NVIDIA GPU and
    driver are present; it is tried on a tiny throwaway stream first.
    """
    if codec == "libx264":
        return codec
    if codec not in av.codecs_available:
        return "libx264"
    try:
        with av.open(io.BytesIO(), mode="w", format="mp4") as probe:
            stream = probe.add_stream(codec, rate=30)
            stream.width, stream.height, stream.pix_fmt = 256, 144, "yuv420p"
            stream.codec_context.open()
    except (av.FFmpegError, OSError, ValueError):
        return "libx264"
    return codec


#: Audio codecs copied into the output as they are (when :func:`mp4_takes` them): those Chrome, Firefox
#: and Safari all play from MP4. Others (PCM, Vorbis, AC-3, E-AC-3, ALAC, MP2 ...) are re-encoded to AAC.
BROWSER_AUDIO = ("aac", "mp3", "opus", "flac")


def mp4_takes(source: str | Path, packets: int = 4) -> bool:
    """Whether the MP4 muxer takes the first few packets of ``source``'s first audio stream copied as they are.

    Tried in memory, on a file of its own: some codecs (PCM) pass the header and fail only
    when the index is written at the end.
    """
    try:
        with av.open(str(source), metadata_errors="ignore") as src, \
                av.open(io.BytesIO(), mode="w", format="mp4") as probe:
            out = probe.add_stream_from_template(src.streams.audio[0])
            for packet in src.demux(src.streams.audio[0]):
                if packet.size:
                    packet.stream = out
                    probe.mux(packet)
                    packets -= 1
                    if packets == 0:
                        break
    except (*MEDIA_ERRORS, IndexError):
        return False
    return True


def _open_aac(rate: int, layout: str) -> None:
    """Raise if FFmpeg's AAC encoder does not open for ``rate`` Hz and ``layout``."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate, ctx.layout, ctx.format = rate, layout, "fltp"
    ctx.open()


class VideoWriter:
    """Encodes BGR frames to browser-playable H.264 (yuv420p) in MP4, with the source's whole sound.

    Frames carry their source timestamps, so variable frame rates and lost frames
    keep their timing. Odd frame sizes are padded by one black row/column (H.264
    4:2:0 needs even sizes). Written to a temp file; :meth:`close` renames it into
    place, :meth:`abort` deletes it.

    The sound (the source's first audio stream, with its own timestamps, so it stays in
    sync) is copied as it is when its codec is one of :data:`BROWSER_AUDIO` and the MP4
    muxer takes it (:func:`mp4_takes`); otherwise (PCM from cameras, Vorbis, AC-3 ...) it
    is re-encoded to AAC at its own rate and channel layout. Which of the two is decided
    when the writer opens, before any video is encoded; the sound itself is added by
    :meth:`close`. :attr:`audio_note` says, in one line for the user, when the sound was
    not copied as it is.

    Args:
        path: output ``.mp4`` path, or an :class:`~tracker.common.files.AtomicFile` staged by the
            caller (then :meth:`close` finishes the temp file and leaves the rename to the caller,
            e.g. an :class:`~tracker.common.files.OutputSet` replacing several outputs together).
        width, height: frame size.
        fps: nominal frame rate (timestamps come from :meth:`write`).
        audio_from: a source file whose first audio stream goes in, or ``None``.
        codec: ``"libx264"`` (default) or ``"h264_nvenc"`` where present.
        preset, crf: x264 speed/quality.
        overwrite: replace an existing output.
    """

    def __init__(
        self,
        path: str | Path | AtomicFile,
        width: int,
        height: int,
        fps: float,
        audio_from: str | Path | None = None,
        codec: str = "libx264",
        preset: str = "veryfast",
        crf: int = 23,
        overwrite: bool = False,
    ) -> None:
        self._owns_file = not isinstance(path, AtomicFile)
        self.file = AtomicFile(path, overwrite=overwrite) if self._owns_file else path
        self.file.begin()
        self.width, self.height = width, height
        self._pad = (height % 2, width % 2)
        self._rate = Fraction(fps).limit_denominator(1001)
        self._time_base = Fraction(1, 90000)
        try:
            self._out = av.open(str(self.file.tmp), mode="w", format="mp4")
        except MEDIA_ERRORS as exc:
            raise OutputError(self.file.target, f"cannot open for writing ({short_error(exc)})") from None
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
        self._audio_mode = "copy"
        #: One line for the user when the source's sound could not be copied as it is (re-encoded to
        #: AAC, or left out), decided when the writer opens; ``None`` when it was copied or there is none.
        self.audio_note: str | None = None
        if audio_from is not None:
            self._open_audio(audio_from)
        self._last_pts = -1
        self.frames_written = 0

    def _open_audio(self, source: str | Path) -> None:
        """Decide now, before any video is encoded, how the source's first audio stream goes in:
        copied as it is, re-encoded to AAC, or (undecodable) left out; the last two set :attr:`audio_note`."""
        try:
            src = av.open(str(source), metadata_errors="ignore")
        except MEDIA_ERRORS:
            return
        if not src.streams.audio:
            src.close()
            return
        stream = src.streams.audio[0]
        if stream.codec_context is None:
            src.close()
            self.audio_note = "the audio codec is unknown to this FFmpeg build; the output has no sound"
            return
        name = stream.codec_context.codec.canonical_name
        try:
            if name in BROWSER_AUDIO and mp4_takes(source):
                self._audio_out = self._out.add_stream_from_template(stream)
            else:
                self._audio_out = self._aac_stream(stream)
                self._audio_mode = "encode"
                self.audio_note = f"{name} audio cannot go into a browser-playable MP4; re-encoded to AAC"
        except MEDIA_ERRORS as exc:
            src.close()
            self._audio_out = None
            self.audio_note = f"{name} audio cannot be re-encoded ({short_error(exc)}); the output has no sound"
            return
        self._audio_src, self._audio_in = src, stream

    def _aac_stream(self, source: av.audio.stream.AudioStream) -> av.audio.stream.AudioStream:
        """An opened AAC encoder stream for ``source``'s sound: its rate where AAC has it (else 48 kHz),
        its channel layout where the encoder takes it (else stereo)."""
        ctx = source.codec_context
        rate = ctx.sample_rate if ctx.sample_rate in av.Codec("aac", "w").audio_rates else 48000
        layout = ctx.layout.name
        if layout.endswith("channels"):  # channels in no stated order (PCM in AVI): mono, or mixed to stereo
            layout = "mono" if ctx.channels == 1 else "stereo"
        try:
            _open_aac(rate, layout)
        except MEDIA_ERRORS:
            layout = "stereo"
        out = self._out.add_stream("aac", rate=rate, layout=layout)
        out.codec_context.open()
        return out

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
        except MEDIA_ERRORS as exc:  # disk full, encoder failure ...
            raise OutputError(self.file.target, f"cannot write the video ({short_error(exc)})") from None
        self.frames_written += 1

    def _add_audio(self) -> None:
        if self._audio_out is None:
            return
        if self._audio_mode == "encode":
            self._encode_audio()
        else:
            self._copy_audio()

    def _copy_audio(self) -> None:
        last_dts = None
        try:
            for packet in self._audio_src.demux(self._audio_in):
                if not packet.size:
                    continue  # the demuxer's flush packet
                if packet.dts is None:
                    packet.dts = packet.pts
                dts = packet.dts  # in the source's time base: mux() rescales the packet to the output's
                if dts is None or (last_dts is not None and dts <= last_dts):
                    continue  # damaged timing: drop this packet rather than the whole output
                packet.stream = self._audio_out
                try:
                    self._out.mux(packet)
                    last_dts = dts
                except (av.FFmpegError, ValueError):
                    continue
        except (av.FFmpegError, ValueError):  # damaged source: keep the audio copied so far
            pass

    def _encode_audio(self) -> None:
        enc = self._audio_out.codec_context
        resampler = av.AudioResampler(format=enc.format, layout=enc.layout, rate=enc.sample_rate,
                                      frame_size=enc.frame_size)
        next_pts = None

        def encode(frames: list[av.AudioFrame]) -> None:
            nonlocal next_pts
            for frame in frames:
                if frame.pts is None or (next_pts is not None and frame.pts < next_pts):
                    frame.pts = next_pts or 0
                next_pts = frame.pts + frame.samples
                self._out.mux(self._audio_out.encode(frame))

        try:
            for packet in self._audio_src.demux(self._audio_in):
                try:
                    frames = [out for frame in packet.decode() for out in resampler.resample(frame)]
                except (av.FFmpegError, ValueError):
                    continue  # a damaged packet (or one whose format changed mid-stream): skip its sound
                encode(frames)
        except (av.FFmpegError, ValueError):  # damaged source: keep the audio encoded so far
            pass
        encode(resampler.resample(None))
        self._out.mux(self._audio_out.encode(None))

    def close(self) -> Path:
        """Finish encoding, add the audio, and move the file into place (returns the target), or, for a
        staged :class:`AtomicFile`, leave it finished at its temp path (returns that)."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            self._add_audio()
            self._out.close()
        except MEDIA_ERRORS as exc:
            self.abort()
            raise OutputError(self.file.target, f"encoding failed ({short_error(exc)})") from None
        except BaseException:
            self.abort()
            raise
        finally:
            if self._audio_src is not None:
                self._audio_src.close()
        return self.file.commit() if self._owns_file else self.file.tmp

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
