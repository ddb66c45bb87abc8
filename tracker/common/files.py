"""Atomic files: the one way every package writes an output.

A reader never sees a half-written file: each output is written to a temp file in the
target's folder (``.<stem>.<pid>.partial<suffix>``, so format guessing by suffix still
works and the final :func:`os.replace` is an atomic rename on one file system) and renamed
onto the target only when complete.

* :class:`AtomicFile` -- one output: check, write the temp path, :meth:`~AtomicFile.commit`.
* :func:`atomic_write` / :func:`write_json` / :func:`write_text` -- the one-call forms.
* :class:`OutputSet` -- several outputs replaced *together*: the previous ones stay untouched
  until every new one is complete, and a failure while swapping puts the old set back.
* :func:`sweep_partials` -- remove temp files that a killed run (SIGKILL, power cut) left.

Folders a write needs are created only when writing starts, and removed again (if the run
created them and they are still empty) when the write is discarded.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.common.errors import OutputError

PARTIAL = ".partial"


def short_os_error(exc: BaseException) -> str:
    """A one-line cause from an OS error (``strerror`` when there is one)."""
    text = getattr(exc, "strerror", None) if isinstance(exc, OSError) else None
    text = " ".join(str(text or exc).split())
    return text[:160] or type(exc).__name__


def partial_path(target: Path, pid: int | None = None) -> Path:
    """The temp path of ``target`` for process ``pid`` (default: this one)."""
    return target.parent / f".{target.stem}.{os.getpid() if pid is None else pid}{PARTIAL}{target.suffix}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours
        return True
    return True


def sweep_partials(target: str | Path) -> list[Path]:
    """Delete the temp files of ``target`` whose writing process is gone; returns what was deleted."""
    target = Path(target)
    removed = []
    pattern = f".{glob.escape(target.stem)}.*{PARTIAL}{glob.escape(target.suffix)}"
    for stale in target.parent.glob(pattern):
        pid = stale.name[len(target.stem) + 2: -len(PARTIAL + target.suffix) or None]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue  # another live run is writing it
        with contextlib.suppress(OSError):
            stale.unlink()
            removed.append(stale)
    return removed


def check_writable(folder: Path) -> None:
    """Create and delete a probe file in ``folder``: permission bits say nothing for root,
    read-only mounts or ``/proc``.

    Raises:
        OutputError: the folder cannot be written.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".bball-write-test.", dir=folder)
    except OSError as exc:
        raise OutputError(folder, f"output folder is not writable ({short_os_error(exc)})") from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


class AtomicFile:
    """A temporary path beside ``target`` that becomes ``target`` only on :meth:`commit`.

    Creating one checks, without writing anything, that the target can be written: it is not
    a folder, it does not exist (unless ``overwrite``), and its nearest existing folder is a
    writable folder. Missing folders are created by :meth:`begin` (when writing starts) and
    removed by :meth:`discard` if this file created them.

    Used as a context manager, it yields the temp path, commits when the block succeeds and
    discards on any failure; an :class:`OSError` inside (disk full, folder gone) becomes an
    :class:`OutputError` naming the target.

    Raises:
        OutputError: the target exists (without ``overwrite``) or is a folder, or its folder
            cannot be created or written.
    """

    def __init__(self, target: str | Path, overwrite: bool = False) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        self._created: list[Path] = []
        if self.target.is_dir():
            raise OutputError(self.target, "is a folder; give a file path")
        if self.target.exists() and not overwrite:
            raise OutputError(self.target, "already exists; pass --overwrite to replace it")
        existing = self._nearest_folder()
        if existing is not None:
            check_writable(existing)
        self.tmp = partial_path(self.target)

    def _nearest_folder(self) -> Path | None:
        folder = self.target.parent
        existing = folder if folder.exists() else next((a for a in folder.parents if a.exists()), None)
        if existing is not None and not existing.is_dir():
            raise OutputError(existing, "is a file, not a folder")
        return existing

    def begin(self) -> Path:
        """Create the missing folders (remembering which) and return the temp path to write."""
        self._nearest_folder()
        folder = self.target.parent
        missing = [folder, *folder.parents]
        missing = [p for p in missing if not p.exists()][::-1]
        try:
            for p in missing:
                p.mkdir()
                self._created.append(p)
        except OSError as exc:
            self.discard()
            raise OutputError(folder, f"cannot create the output folder ({short_os_error(exc)})") from None
        return self.tmp

    def commit(self) -> Path:
        """Rename the finished temp file onto the target."""
        try:
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise OutputError(self.target, f"cannot move the finished output into place ({short_os_error(exc)})"
                              ) from None
        self._created.clear()
        return self.target

    def discard(self) -> None:
        """Delete the temp file and the folders :meth:`begin` created (when empty); safe to repeat."""
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._created.clear()

    def __enter__(self) -> Path:
        return self.begin()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError):
            raise OutputError(self.target, f"could not be written ({short_os_error(exc)})") from None


def atomic_write(target: str | Path, write: Callable[[Path], Any], overwrite: bool = True) -> Path:
    """Call ``write(temp_path)`` and move the result onto ``target`` when it returns."""
    with AtomicFile(target, overwrite=overwrite) as tmp:
        write(tmp)
    return Path(target)


def write_text(target: str | Path, text: str, overwrite: bool = True) -> Path:
    return atomic_write(target, lambda tmp: tmp.write_text(text), overwrite=overwrite)


def write_json(target: str | Path, obj: Any, overwrite: bool = True, indent: int | None = 2) -> Path:
    """``obj`` as JSON (UTF-8, trailing newline), atomically."""
    return write_text(target, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", overwrite=overwrite)


class OutputSet:
    """Several outputs that replace the previous ones all together, or not at all.

    :meth:`add` stages a file under a name (an :class:`AtomicFile`, checked at once); the caller writes
    the temp paths; :meth:`commit` then moves each existing target aside (``.<name>.<pid>.old``),
    renames every temp file into place, and only then deletes the old files. If anything
    fails before the last rename, the old files are put back and the new temp files deleted:
    the user has either the complete previous set or the complete new one. :meth:`discard`
    (on failure or interrupt) deletes the temp files and leaves the previous outputs as they were.
    """

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self.named: dict[str, AtomicFile] = {}

    @property
    def files(self) -> list[AtomicFile]:
        return list(self.named.values())

    def add(self, name: str, target: str | Path) -> AtomicFile:
        f = AtomicFile(target, overwrite=self.overwrite)
        if any(g.target.resolve() == f.target.resolve() for g in self.files):
            raise OutputError(f.target, "the same path is given for two outputs")
        self.named[name] = f
        return f

    def commit(self) -> list[Path]:
        moved: list[tuple[Path, Path]] = []
        done: list[AtomicFile] = []
        try:
            for f in self.files:
                if f.target.exists():
                    old = f.target.parent / f".{f.target.name}.{os.getpid()}.old"
                    os.replace(f.target, old)
                    moved.append((old, f.target))
            for f in self.files:
                os.replace(f.tmp, f.target)
                done.append(f)
        except BaseException as exc:
            for f in done:
                with contextlib.suppress(OSError):
                    f.target.unlink()
            for old, target in moved:
                with contextlib.suppress(OSError):
                    os.replace(old, target)
            self.discard()
            if isinstance(exc, OSError):
                raise OutputError(exc.filename or self.files[0].target,
                                  f"cannot move the finished outputs into place ({short_os_error(exc)}); "
                                  "the previous outputs are kept") from None
            raise
        for old, _ in moved:
            with contextlib.suppress(OSError):
                old.unlink()
        for f in self.files:
            f._created.clear()
        return [f.target for f in self.files]

    def discard(self) -> None:
        for f in reversed(self.files):
            f.discard()
