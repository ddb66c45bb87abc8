"""Sound from every container reaches the annotated MP4 whole: copied where MP4 and browsers take the
codec, re-encoded to AAC (with a note for the user) where they do not.

Every input is muxed inside the test with PyAV (tiny: 96x64, 1 s): MKV, WebM, AVI, MOV and MPEG-TS
with Opus, Vorbis, AAC, MP3, FLAC, AC-3 and PCM sound. Sound is compared by decoded sample counts,
which must agree within one audio frame (encoders pad the last frame and add priming).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.video.reader import VideoReader
from pipeline.video.writer import BROWSER_AUDIO, VideoWriter, mp4_takes


def make_av_file(
    path: Path,
    video_codec: str,
    audio_codec: str,
    rate: int = 48000,
    layout: str = "stereo",
    seconds: float = 1.0,
    fps: int = 25,
    size: tuple[int, int] = (96, 64),
) -> Path:
    """Mux ``seconds`` of a changing grey picture and a 440 Hz tone into ``path`` (container from its suffix)."""
    w, h = size
    channels = av.AudioLayout(layout).nb_channels
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        audio = out.add_stream(audio_codec, rate=rate, layout=layout, options={"strict": "experimental"})
        chunk = audio.codec_context.frame_size or 1024
        total, done = int(seconds * rate), 0
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 9 * i % 256, np.uint8), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            until = total if i == int(seconds * fps) - 1 else int((i + 1) / fps * rate) // chunk * chunk
            while done < until:
                n = min(chunk, until - done)
                tone = 0.2 * np.sin(2 * np.pi * 440 * (done + np.arange(n)) / rate)
                samples = np.repeat(tone.astype(np.float32)[None, :], channels, axis=0)
                sound = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
                sound.sample_rate, sound.pts, sound.time_base = rate, done, Fraction(1, rate)
                out.mux(audio.encode(sound))
                done += n
        out.mux(video.encode())
        out.mux(audio.encode())
    return path


def audio_facts(path: Path) -> dict:
    """Decoded sound of ``path``'s first audio stream: codec, rate, channels, samples, the largest
    frame, and where sound and picture start (s)."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        frames = list(c.decode(stream))
        ctx = stream.codec_context
        facts = {
            "codec": ctx.codec.canonical_name, "rate": ctx.sample_rate, "channels": ctx.channels,
            "samples": sum(f.samples for f in frames), "frame": max(f.samples for f in frames),
            "audio_start": float(frames[0].pts * frames[0].time_base),
        }
    with av.open(str(path)) as c:
        first = next(c.decode(video=0))
        facts["video_start"] = float(first.pts * first.time_base)
    return facts


def annotate(source: Path, out: Path, frames: int | None = None) -> VideoWriter:
    """Copy ``source``'s picture (its first ``frames`` frames, default all) through the reader and writer,
    with its sound; the closed writer."""
    with VideoReader(source) as reader:
        writer = VideoWriter(out, reader.info.width, reader.info.height, reader.info.fps, audio_from=source)
        with writer:
            for i, frame in enumerate(reader):
                if frames is not None and i >= frames:
                    break
                writer.write(frame.image, frame.time)
    return writer


CASES = [  # (file, video codec, audio codec, rate, layout)
    ("opus.mkv", "libx264", "libopus", 48000, "stereo"),
    ("vp9_opus.webm", "libvpx-vp9", "libopus", 48000, "stereo"),
    ("vp9_vorbis.webm", "libvpx-vp9", "vorbis", 44100, "stereo"),
    ("aac.mkv", "libx264", "aac", 48000, "stereo"),
    ("mp3.mkv", "libx264", "libmp3lame", 44100, "stereo"),
    ("flac.mkv", "libx264", "flac", 48000, "mono"),
    ("ac3.mkv", "libx264", "ac3", 48000, "5.1"),
    ("aac.ts", "libx264", "aac", 48000, "stereo"),
    ("pcm.avi", "mpeg4", "pcm_s16le", 48000, "stereo"),
    ("pcm_mono_22k.avi", "mpeg4", "pcm_s16le", 22050, "mono"),
    ("mp2.avi", "mpeg4", "mp2", 44100, "stereo"),
    ("pcm.mov", "libx264", "pcm_s16le", 48000, "stereo"),
]


@pytest.mark.parametrize("name, video_codec, audio_codec, rate, layout", CASES, ids=[c[0] for c in CASES])
def test_sound_from_every_container_comes_through_whole(tmp_path, name, video_codec, audio_codec, rate, layout):
    source = make_av_file(tmp_path / name, video_codec, audio_codec, rate, layout)
    before = audio_facts(source)
    writer = annotate(source, tmp_path / "out.mp4")
    after = audio_facts(tmp_path / "out.mp4")
    assert abs(after["samples"] - before["samples"]) <= max(before["frame"], after["frame"]), (before, after)
    assert (after["rate"], after["channels"]) == (before["rate"], before["channels"])
    sync_before = before["audio_start"] - before["video_start"]
    sync_after = after["audio_start"] - after["video_start"]
    assert abs(sync_after - sync_before) <= max(before["frame"], after["frame"]) / rate, "sound stays in sync"
    if before["codec"] in BROWSER_AUDIO:
        assert after["codec"] == before["codec"] and writer.audio_note is None, "copied as it is"
    else:
        assert after["codec"] == "aac"
        assert writer.audio_note == f"{before['codec']} audio cannot go into a browser-playable MP4; re-encoded to AAC"


def test_how_the_sound_goes_in_is_decided_when_the_writer_opens(tmp_path):
    """PCM passes the MP4 header and fails only when the index is written: the probe writes a whole
    file in memory, so the writer knows before the first video frame."""
    pcm = make_av_file(tmp_path / "pcm.avi", "mpeg4", "pcm_s16le")
    aac = make_av_file(tmp_path / "aac.mkv", "libx264", "aac")
    assert not mp4_takes(pcm) and mp4_takes(aac)
    writer = VideoWriter(tmp_path / "o.mp4", 96, 64, 25.0, audio_from=pcm)
    assert writer.audio_note is not None and "re-encoded to AAC" in writer.audio_note
    writer.abort()
    assert not (tmp_path / "o.mp4").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["aac.mkv", "pcm.avi"]
    writer = VideoWriter(tmp_path / "o.mp4", 96, 64, 25.0, audio_from=aac)
    assert writer.audio_note is None
    writer.abort()


def test_source_without_sound_gives_no_note(tmp_path):
    source = tmp_path / "silent.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 96, 3), np.uint8), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    writer = annotate(source, tmp_path / "out.mp4")
    assert writer.audio_note is None
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert not c.streams.audio and c.streams.video[0].frames == 5


@pytest.mark.parametrize("clip", ["nba_clip", "court_clip"])
def test_shared_footage_keeps_its_sound_whole(tmp_path, clip, request):
    """Real broadcast and phone footage (AAC in MP4): every sample of the sound is copied, whatever
    part of the picture is written (three frames here, to keep the test fast)."""
    source = request.getfixturevalue(clip)
    before = audio_facts(source)
    writer = annotate(source, tmp_path / "out.mp4", frames=3)
    after = audio_facts(tmp_path / "out.mp4")
    assert writer.audio_note is None and after["codec"] == before["codec"] == "aac"
    assert after["samples"] == before["samples"]
