"""Video in and out: :mod:`~pipeline.video.reader` (decode), :mod:`~pipeline.video.writer` (encode H.264 +
audio), :mod:`~pipeline.video.colour` (BGR -> YUV 4:2:0 for the encoder)."""
