"""User-facing error families.

Every failure a user can cause (a bad video, a bad weights file, an output that
cannot be written) raises one of these. The CLI catches :class:`BballError` once
and prints ``bball-annotate: error: <file>: <cause>`` with the family's exit code.

They live in ``tracker/common`` because ``tracker/`` is the lowest package: ``recognizer/`` and
``pipeline/`` both import it, neither is imported by it.
"""

from __future__ import annotations

from pathlib import Path


class BballError(Exception):
    """Base class: a failure with a file to blame and a one-line cause."""

    exit_code = 1

    def __init__(self, path: str | Path | None, cause: str):
        self.path = None if path is None else str(path)
        self.cause = cause
        super().__init__(self.one_line())

    def one_line(self) -> str:
        cause = " ".join(str(self.cause).split())
        return f"{self.path}: {cause}" if self.path else cause


class InputVideoError(BballError):
    """The input video is missing, unreadable, or holds no decodable video."""

    exit_code = 3


class WeightsError(BballError):
    """A detector or action-model weights file is missing, corrupt or mismatched."""

    exit_code = 4


class OutputError(BballError):
    """An output cannot be written (folder not writable, would overwrite, ...)."""

    exit_code = 5


class UsageError(BballError):
    """Options that do not fit together."""

    exit_code = 2


def run_command(prog: str, body, debug: bool = False, interrupted: str = "interrupted", on_interrupt=None) -> int:
    """Run a command's ``body()`` and turn failures into one line on stderr and an exit code.

    The one error wrapper of ``bball-annotate``, ``bball-train`` and ``bball-eval``:
    a :class:`BballError` prints ``<prog>: error: <file>: <cause>`` and returns its family's
    code; Ctrl-C calls ``on_interrupt()`` (if given), prints ``<prog>: <interrupted>`` and returns 130; any other exception is a bug, printed as one line that says to
    rerun with ``--debug`` (``debug=True`` lets it raise with its traceback instead).
    """
    import sys

    try:
        return body()
    except BballError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if on_interrupt is not None:  # first, e.g. ignore further Ctrl-C while the message is printed
            on_interrupt()
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        cause = " ".join(str(exc).split())[:300]
        print(f"{prog}: error: internal error: {type(exc).__name__}: {cause} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


EXIT_INTERRUPTED = 130
