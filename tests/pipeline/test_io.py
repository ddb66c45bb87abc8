"""pipeline/video and tracker/common/files.py on real encoded files: what phones, cameras and damaged downloads produce.

Every video here is encoded inside the test with PyAV. :func:`write_video` is the
one place that makes the unusual ones (odd sizes, grayscale, variable frame rate,
rotation metadata, short GOPs, moov-first MP4s); tests/pipeline/test_reliability.py
and test_fuzz.py reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.video.reader import VideoReader
from pipeline.video.writer import VideoWriter
from tracker.common.files import AtomicFile
from tests.synth import court_texture, make_video
from tracker.common.errors import InputVideoError, OutputError

TIME_BASE = Fraction(1, 90000)


def pattern_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` ``(height, width, 3)`` uint8 BGR frames: court texture, a red block top-left, a moving white bar.

    Asymmetric on purpose, so a wrong rotation or flip is visible.
    """
    base = court_texture(width, height, seed)
    base[: height // 3, : width // 4] = (0, 0, 230)
    frames = []
    for i in range(n):
        img = base.copy()
        x = (7 * i) % max(1, width - 8)
        img[height // 2 :, x : x + 8] = 255
        frames.append(img)
    return frames


def write_video(
    path: str | Path,
    frames: Sequence[np.ndarray],
    times: Sequence[float] | None = None,
    fps: float = 30.0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    gop: int | None = None,
    faststart: bool = False,
    audio: bool = False,
) -> Path:
    """Encode ``frames`` (``(H, W, 3)`` BGR, or ``(H, W)`` for ``pix_fmt="gray"``) to ``path`` with PyAV.

    Args:
        times: presentation time of each frame in s (variable frame rate); default ``i / fps``.
        codec, pix_fmt: e.g. ``libx264``/``yuv444p`` for odd sizes, ``ffv1``/``gray`` (in .mkv) for grayscale.
        rotation: display-matrix rotation (counter-clockwise degrees), as phones write it.
        gop: keyframe interval (decoding recovers from damage at the next keyframe).
        faststart: MP4 index (moov) before the data, as web and phone videos have it.
        audio: add an AAC sine track (via :func:`tests.synth.make_video`'s tone writer).
    """
    from tests.synth import _write_tone

    path = Path(path)
    times = [i / fps for i in range(len(frames))] if times is None else list(times)
    options = {"movflags": "+faststart"} if faststart else {}
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        opts = {}
        if codec == "libx264":
            opts = {"preset": "veryfast", "crf": "20"}
        if gop is not None:
            stream.codec_context.gop_size = gop
            if codec == "libx264":
                opts.update({"keyint": str(gop), "min-keyint": str(gop), "scenecut": "0"})
        stream.options = opts
        if rotation is not None:
            stream.set_display_rotation(rotation)
        astream = out.add_stream("aac", rate=44100, layout="mono") if audio else None
        done = 0
        for img, t in zip(frames, times):
            fmt = "gray" if img.ndim == 2 else "bgr24"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=fmt)
            frame.pts = int(round(t / TIME_BASE))
            frame.time_base = TIME_BASE
            out.mux(stream.encode(frame))
            if astream is not None:
                done = _write_tone(out, astream, done, t + 1.0 / fps)
        out.mux(stream.encode())
        if astream is not None:
            out.mux(astream.encode())
    return path


def read_all(path: Path) -> tuple[list[np.ndarray], list[float], VideoReader]:
    """Every frame and time :class:`VideoReader` yields, and the (closed) reader for its counters."""
    with VideoReader(path) as reader:
        frames = list(reader)
    return [f.image for f in frames], [f.time for f in frames], reader


def decoded_times(path: Path) -> list[float]:
    """Presentation times of the frames of ``path`` as PyAV decodes them (an independent read)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


def packet_spans(path: Path) -> list[tuple[float, int, int]]:
    """``(time, byte offset, size)`` of each video packet in file order."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(float(p.pts * s.time_base), p.pos, p.size) for p in c.demux(s) if p.size and p.pos is not None]


def damage(path: Path, offset: int, size: int, seed: int = 0) -> None:
    """Overwrite ``size`` bytes at ``offset`` with random bytes, in place."""
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ---------------------------------------------------------------- reading

@pytest.mark.parametrize("rotation", [90, 270])
def test_rotation_metadata_turns_frames_upright(tmp_path, rotation):
    src = pattern_frames(4, 160, 96)
    path = write_video(tmp_path / "phone.mp4", src, rotation=rotation)
    images, _, reader = read_all(path)
    assert (reader.info.width, reader.info.height) == (96, 160)
    assert reader.info.rotation == rotation
    k = rotation // 90  # display matrix angles are counter-clockwise, like np.rot90
    for img, s in zip(images, src):
        assert img.shape == (160, 96, 3)
        assert mean_abs_diff(img, np.rot90(s, k)) < 6
        assert mean_abs_diff(img, np.rot90(s, k + 2)) > 20  # the opposite turn is clearly wrong
    ffmpeg = _ffmpeg()
    if ffmpeg is not None:  # independent check: what ffmpeg (and so players) shows
        raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                              "-pix_fmt", "bgr24", "-"], capture_output=True, check=True).stdout
        shown = np.frombuffer(raw, np.uint8).reshape(160, 96, 3)
        assert mean_abs_diff(images[0], shown) < 2


def _ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed / no binary for this platform
        return shutil.which("ffmpeg")


def test_odd_size_source_reads_whole_and_writer_pads_to_even(tmp_path):
    src = pattern_frames(3, 853, 479)
    path = write_video(tmp_path / "odd.mp4", src, pix_fmt="yuv444p")  # 4:2:0 cannot hold 853x479
    images, times, reader = read_all(path)
    assert (reader.info.width, reader.info.height) == (853, 479)
    assert all(img.shape == (479, 853, 3) for img in images)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 853, 479, reader.info.fps) as writer:
        for img, t in zip(images, times):
            writer.write(img, t)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height, s.codec_context.pix_fmt) == (854, 480, "yuv420p")
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
    assert len(decoded) == 3
    assert mean_abs_diff(decoded[1][:479, :853], src[1]) < 8
    assert decoded[1][479:, :].mean() < 30 and decoded[1][:, 853:].mean() < 30  # the padding is black


def test_grayscale_source_becomes_three_equal_channels(tmp_path):
    rng = np.random.default_rng(1)
    gray = [rng.integers(0, 256, (120, 160), dtype=np.uint8) for _ in range(5)]
    path = write_video(tmp_path / "bw.mkv", gray, codec="ffv1", pix_fmt="gray")  # lossless, one plane
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "gray"
    images, _, reader = read_all(path)
    assert len(images) == 5 and reader.lost_frames == 0
    for img, g in zip(images, gray):
        assert img.shape == (120, 160, 3)
        for ch in range(3):
            assert np.array_equal(img[..., ch], g)


def test_variable_frame_rate_keeps_every_timestamp_through_reader_and_writer(tmp_path):
    gaps = [1 / 30, 1 / 30, 1 / 15, 1 / 60, 1 / 24, 0.1, 1 / 30, 1 / 50, 1 / 30, 1 / 30, 0.2, 1 / 30]
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    path = write_video(tmp_path / "vfr.mp4", pattern_frames(len(times), 160, 96), times=times)
    images, got, reader = read_all(path)
    assert np.allclose(got, times, atol=1e-4)
    assert reader.lost_frames == 0  # irregular gaps are not losses
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 160, 96, reader.info.fps) as writer:
        for img, t in zip(images, got):
            writer.write(img, t)
    assert np.allclose(decoded_times(out), times, atol=1e-3)


def test_one_frame_video(tmp_path):
    path = make_video(tmp_path / "one.mp4", size=(160, 120), n_frames=1).path
    images, times, reader = read_all(path)
    assert len(images) == 1 and times == [0.0] and reader.lost_frames == 0


def test_damaged_middle_skips_what_cannot_be_decoded_and_keeps_true_times(tmp_path):
    n, fps = 60, 30.0
    path = write_video(tmp_path / "dmg.mp4", pattern_frames(n, 160, 96), gop=10)
    spans = packet_spans(path)
    hit = [s for s in spans if 25 / fps - 1e-6 <= s[0] <= 34 / fps + 1e-6]  # the packets of frames 25..34
    start, end = min(s[1] for s in hit), max(s[1] + s[2] for s in hit)
    damage(path, start, end - start)
    images, times, reader = read_all(path)
    assert 30 <= len(images) < n
    assert reader.lost_frames == n - len(images)
    k = np.asarray(times) * fps
    assert np.allclose(k, np.round(k), atol=1e-3), "every frame keeps its own source time"
    assert np.all(np.diff(times) > 0)
    kept = set(np.round(k).astype(int).tolist())
    assert set(range(25)) <= kept, "frames before the damage are all there"
    assert set(range(40, n)) <= kept, "decoding recovers at the next keyframe (frame 40)"


def test_truncated_moov_first_mp4_gives_the_first_part(tmp_path):
    n = 60
    path = write_video(tmp_path / "cut.mp4", pattern_frames(n, 160, 96), faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    images, times, reader = read_all(path)
    assert 5 <= len(images) < n
    assert reader.lost_frames == n - len(images)
    assert np.allclose(times, np.arange(len(images)) / 30.0, atol=1e-4)


def single_thread_times(path: Path) -> list[float]:
    """Times of every frame a one-thread PyAV decoder gets from ``path``, skipping packets it rejects
    (what ``ffmpeg`` decodes): the reference for damaged files."""
    times = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        try:
            for packet in c.demux(s):
                try:
                    times += [float(f.pts * s.time_base) for f in packet.decode()]
                except av.FFmpegError:
                    continue
        except av.FFmpegError:
            pass
    return times


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_cut_off_moov_first_mp4_gives_every_decodable_frame(tmp_path, cut):
    """A threaded decoder reports the cut-off last packet at the final flush and throws away the
    frames it still held; the reader decodes the end again in one thread and loses none of them."""
    n = 16
    rng = np.random.default_rng(0)  # noise: large frames, so every cut lands in the picture data
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(n)]
    path = write_video(tmp_path / "cut.mp4", frames, faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    expected = single_thread_times(path)
    assert 1 <= len(expected) < n
    with VideoReader(path, threads=4) as reader:
        times = [f.time for f in reader]
    assert times == expected
    assert reader.lost_frames == n - len(expected)


def test_truncated_mp4_with_index_at_the_end_is_a_clear_input_error(tmp_path):
    path = make_video(tmp_path / "cut.mp4", size=(160, 120), n_frames=30).path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputVideoError, match="not a readable video"):
        VideoReader(path)


@pytest.mark.parametrize(
    "content, cause",
    [(b"", "empty file"), (b"hello, I am a text file\n" * 20, "not a readable video"), (None, "no such file")],
)
def test_non_videos_raise_input_video_error(tmp_path, content, cause):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputVideoError, match=cause) as info:
        VideoReader(path)
    assert info.value.path == str(path) and info.value.exit_code == 3


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "song.mp4"
    with av.open(str(path), "w") as out:
        from tests.synth import _write_tone

        a = out.add_stream("aac", rate=44100, layout="mono")
        _write_tone(out, a, 0, 0.5)
        out.mux(a.encode())
    with pytest.raises(InputVideoError, match="has no video stream"):
        VideoReader(path)


# ---------------------------------------------------------------- writing

def test_atomic_file_appears_only_on_commit(tmp_path):
    target = tmp_path / "sub" / "timeline.json"
    f = AtomicFile(target)  # checks only: nothing is created yet
    assert not target.parent.exists()
    assert f.tmp.parent == target.parent and f.tmp.name.startswith(".") and f.tmp.suffix == ".json"
    f.begin().write_text("{}")  # writing starts: the folder is made
    assert not target.exists()
    assert f.commit() == target and target.read_text() == "{}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["timeline.json"]
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        AtomicFile(target)
    g = AtomicFile(target, overwrite=True)
    g.begin().write_text("[]")
    g.discard()
    assert target.read_text() == "{}" and sorted(p.name for p in target.parent.iterdir()) == ["timeline.json"]


def test_unwritable_output_folders_are_refused_even_for_root(tmp_path):
    # Tests may run as root, for whom chmod is no barrier: use places nobody can create files in.
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder") as info:
        AtomicFile(a_file / "deeper" / "out.mp4")
    assert info.value.path == str(a_file)
    assert info.value.exit_code == 5
    if os.path.isdir("/proc"):
        with pytest.raises(OutputError, match="not writable"):
            AtomicFile("/proc/out.mp4")
    with pytest.raises(OutputError, match="is a folder"):
        AtomicFile(tmp_path)


def test_writer_abort_and_exceptions_leave_nothing(tmp_path):
    out = tmp_path / "o" / "annotated.mp4"
    frames = pattern_frames(40, 160, 96)  # enough for the encoder to start writing
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 160, 96, 30.0) as writer:
            for i, img in enumerate(frames):
                writer.write(img, i / 30)
            assert writer.file.tmp.stat().st_size > 0  # the temp file is being written ...
            raise RuntimeError("boom")
    assert not out.parent.exists()  # ... and is gone, with no output, and so is the folder it created


def test_writer_copies_the_source_audio_and_leaves_no_temp_file(tmp_path):
    truth = make_video(tmp_path / "src.mp4", size=(160, 120), n_frames=30, audio=True)
    out = tmp_path / "o" / "annotated.mp4"
    images, times, reader = read_all(truth.path)
    with VideoWriter(out, 160, 120, reader.info.fps, audio_from=truth.path) as writer:
        for img, t in zip(images, times):
            writer.write(img, t)
    assert [p.name for p in out.parent.iterdir()] == ["annotated.mp4"]
    with av.open(str(out)) as c:
        assert [a.codec_context.name for a in c.streams.audio] == ["aac"]
        audio_end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size)
    assert abs(audio_end - 1.0) < 0.1
    assert np.allclose(decoded_times(out), times, atol=1e-3)


def test_a_hardware_decoder_that_decodes_nothing_falls_back_to_software(tmp_path):
    """Where NVDEC opens but fails on the file, the software decoder reads it (no false "bad input")."""
    truth = make_video(tmp_path / "good.mp4", n_frames=12, fps=25.0, size=(96, 64))
    broken = tmp_path / "broken.mp4"  # a container whose frames cannot be decoded: stands in for the failing device
    data = bytearray(truth.path.read_bytes())
    mdat = data.find(b"mdat") + 4
    data[mdat:] = bytes(len(data) - mdat)
    broken.write_bytes(bytes(data))

    class FailingHardware(VideoReader):
        def _open_hw(self, device_type):
            self.hwaccel = device_type
            return av.open(str(broken))

    reader = FailingHardware(truth.path, hwaccel="cuda")
    assert reader.hwaccel is None and len(list(reader)) == 12
    with pytest.raises(InputVideoError):  # and a file that is bad in software too still fails as bad input
        FailingHardware(broken, hwaccel="cuda")
