"""Keep third-party chatter out of the user's terminal, for a scope only.

ultralytics logs ``Loading ... for LiteRT inference...`` to stdout and the TFLite runtime's C++
code prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` straight to file
descriptor 2, where Python cannot filter it. :func:`quiet_libraries` silences both while a model
loads or first runs, then restores everything exactly (logger level, both file descriptors):
no process-wide setting outlives it. ``bball-annotate --debug`` leaves them talking.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

#: Loggers of libraries that narrate model loading at INFO level.
NOISY_LOGGERS = ("ultralytics",)


@contextlib.contextmanager
def _fd_to_devnull(fd: int) -> Iterator[None]:
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (embedded interpreters): nothing to silence
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def quiet_libraries(enabled: bool = True) -> Iterator[None]:
    """Silence library loggers (below WARNING) and native stdout/stderr inside the block."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        with _fd_to_devnull(1), _fd_to_devnull(2), contextlib.redirect_stdout(open(os.devnull, "w")) as sink:
            try:
                yield
            finally:
                sink.close()
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
