"""What PyAV/FFmpeg raise on damaged or hostile media, and how we say it in one line."""

from __future__ import annotations

import av

#: Errors PyAV/FFmpeg raise on damaged or hostile input (besides :class:`av.FFmpegError`).
MEDIA_ERRORS = (av.FFmpegError, OSError, ValueError, UnicodeDecodeError, OverflowError, MemoryError)


def short_error(exc: BaseException) -> str:
    """A one-line cause from a PyAV/OS error, without FFmpeg's repeated file name."""
    text = getattr(exc, "strerror", None) if isinstance(exc, (av.FFmpegError, OSError)) else None
    text = " ".join(str(text or exc).split())
    return text[:160] or type(exc).__name__
