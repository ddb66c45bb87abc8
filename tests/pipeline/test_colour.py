"""The writer's BGR -> YUV 4:2:0 conversion equals FFmpeg's, and the stream says which colours it holds."""

from __future__ import annotations

import av
import numpy as np
import pytest

from pipeline.video.colour import COLOR_RANGE, COLORSPACE, bgr_to_yuv420p
from pipeline.video.reader import VideoReader
from pipeline.video.writer import VideoWriter


@pytest.mark.parametrize("shape", [(2, 2), (6, 10), (120, 162), (482, 854)])
def test_equals_ffmpeg_swscale_within_two_levels(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = bgr_to_yuv420p(image).astype(int)
    ffmpeg = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p").to_ndarray().astype(int)
    assert ours.shape == ffmpeg.shape == (shape[0] * 3 // 2, shape[1])
    assert np.abs(ours[: shape[0]] - ffmpeg[: shape[0]]).max() <= 1  # luma
    assert np.abs(ours[shape[0]:] - ffmpeg[shape[0]:]).max() <= 2  # chroma: 2x2 means, not one pixel's


def test_chroma_is_the_mean_of_each_block_not_its_top_left_pixel():
    image = np.zeros((4, 4, 3), np.uint8)
    image[1, 1] = (0, 0, 255)  # one red pixel, bottom-right of the first 2x2 block
    yuv = bgr_to_yuv420p(image)
    v = yuv[4:].reshape(2, 2, 2)[1]  # the V plane
    assert v[0, 0] > 128 + 20 and (v.reshape(-1)[1:] == 128).all()


def test_rejects_odd_sides():
    with pytest.raises(ValueError, match="even"):
        bgr_to_yuv420p(np.zeros((5, 4, 3), np.uint8))


def test_written_video_is_tagged_bt601_tv_range_and_reads_back_its_colours(tmp_path):
    colours = [(30, 60, 200), (200, 120, 20), (235, 235, 235), (16, 16, 16)]
    writer = VideoWriter(tmp_path / "c.mp4", 96, 64, 25.0)
    for i, c in enumerate(colours):
        writer.write(np.full((64, 96, 3), c, np.uint8), i / 25)
    writer.close()
    with av.open(str(tmp_path / "c.mp4")) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == (COLORSPACE, COLOR_RANGE)
    with VideoReader(tmp_path / "c.mp4") as reader:
        for frame, c in zip(reader, colours):
            assert np.abs(frame.image[32, 48].astype(int) - c).max() <= 4
