"""BGR frames to the encoder's YUV 4:2:0, fast and faithful.

FFmpeg's own conversion (swscale, ``bgr24 -> yuv420p``) costs about 7 ms a 1080p
frame on one core: at a few hundred frames a second it would be the encoder's
bottleneck. :func:`bgr_to_yuv420p` gives the same result (within one grey level:
BT.601 coefficients, limited "TV" range, each chroma sample the mean of its 2x2
block) with OpenCV's vectorised kernels in about a third of the time
(``bench/cpu_stages.py``). OpenCV's ``COLOR_BGR2YUV_I420`` alone would be faster
still, but it takes each 2x2 block's chroma from its top-left pixel, which frays
the coloured edges of the boxes we draw.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Full-range (JPEG) to limited-range (TV) chroma: 128 +- 127.5 -> 128 +- 112.
_CHROMA_GAIN = 224.0 / 255.0


def bgr_to_yuv420p(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR, H and W even -> ``(3H/2, W)`` uint8 planar I420 (Y, then U, then V).

    BT.601, limited range: what :data:`COLORSPACE` and :data:`COLOR_RANGE` tag the stream as.
    """
    h, w = image.shape[:2]
    if image.ndim != 3 or image.shape[2] != 3 or h % 2 or w % 2:
        raise ValueError(f"bgr_to_yuv420p wants an (H, W, 3) image with even sides, got {image.shape}")
    yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)  # luma; its point-sampled chroma is replaced below
    half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)  # the 2x2 means
    ycrcb = cv2.convertScaleAbs(cv2.cvtColor(half, cv2.COLOR_BGR2YCrCb), alpha=_CHROMA_GAIN,
                                beta=128.0 * (1.0 - _CHROMA_GAIN))
    chroma = yuv[h:].reshape(2, h // 2, w // 2)  # the U plane, then the V plane
    chroma[0] = ycrcb[..., 2]
    chroma[1] = ycrcb[..., 1]
    return yuv


#: FFmpeg's AVColorSpace for BT.601 (``smpte170m``) and AVColorRange for limited range (``tv``).
COLORSPACE = 6
COLOR_RANGE = 1
