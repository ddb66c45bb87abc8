"""Issue 6, item 8: fuzz the video reader and the checkpoint loader with mutated real files.

Hypothesis mutates the bytes of a small real H.264 MP4 and of a small real
checkpoint (overwritten bytes, a random block, truncation). Whatever the bytes,
the only exceptions allowed out are the user-facing families: InputVideoError
from :class:`pipeline.video.reader.VideoReader`, WeightsError from
:func:`recognizer.r2plus1d.load_checkpoint`. A reader that does accept the file
must still keep its promises (upright frames of the announced size, strictly
increasing times, a non-negative loss count).

The number of examples is bounded (and the runs derandomised, so CI sees the
same cases every time); raise ``FUZZ_EXAMPLES`` for a longer local session.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.video.reader import VideoReader
from recognizer.checkpoint import load_checkpoint
from tests.pipeline.test_io import pattern_frames, write_video
from tracker.common.errors import InputVideoError, WeightsError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _base_video() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        return write_video(Path(d) / "base.mp4", pattern_frames(8, 64, 48), gop=4).read_bytes()


def _base_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"format": "bball-annotate/1", "arch": "r2plus1d_tiny", "labels": ["run", "walk"],
                "clip": {"frames": 16, "size": [112, 112], "stride": 8},
                "state_dict": {"fc.weight": torch.ones(2, 512), "fc.bias": torch.zeros(2)},
                "metrics": {"top1": 0.5}}, buf)
    return buf.getvalue()


VIDEO = _base_video()
CHECKPOINT = _base_checkpoint()


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """``base`` with a few bytes overwritten, maybe a random block over it, maybe truncated."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 12))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data) - 1))
        block = draw(st.binary(min_size=1, max_size=256))
        data[start : start + len(block)] = block
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_unmutated_files_are_valid(scratch):
    (scratch / "v.mp4").write_bytes(VIDEO)
    with VideoReader(scratch / "v.mp4") as r:
        assert len(list(r)) == 8 and r.lost_frames == 0
    (scratch / "c.pt").write_bytes(CHECKPOINT)
    with pytest.raises(WeightsError, match="do not fit"):  # torch reads it; only the fc layer is there
        load_checkpoint(scratch / "c.pt")


@FUZZ
@given(data=mutated(VIDEO))
def test_video_reader_only_raises_input_video_error(scratch, data):
    path = scratch / "fuzz.mp4"
    path.write_bytes(data)
    try:
        with VideoReader(path) as reader:
            frames = list(reader)
    except InputVideoError as exc:
        assert exc.path == str(path) and exc.cause and "\n" not in exc.one_line()
        return
    info = reader.info
    assert frames, "an accepted file yields at least one frame"
    assert all(f.image.shape == (info.height, info.width, 3) and f.image.dtype == np.uint8 for f in frames)
    times = [f.time for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert [f.index for f in frames] == list(range(len(frames)))
    assert reader.lost_frames >= 0


@FUZZ
@given(data=mutated(CHECKPOINT))
def test_checkpoint_loader_only_raises_weights_error(scratch, data):
    path = scratch / "fuzz.pt"
    path.write_bytes(data)
    try:
        load_checkpoint(path)
    except WeightsError as exc:
        assert exc.path == str(path) and exc.cause and "\n" not in exc.one_line()
