"""``bball-label DIR``: review and relabel exported training clips in the browser.

A grid of looping clips (``DIR/examples/<id>.mp4`` from ``bball-annotate --export-clips DIR``) with
their predicted labels, least confident first, filterable by label. Keys: ``0``-``9`` give a clip
that class, ``x`` discards it (SpaceJam's 10), ``Enter``/``a`` accepts the current label; arrows move.

Every change is saved at once: ``annotation_dict.json`` is rewritten atomically
(:func:`tracker.common.files.write_json`, under the export folder's lock, so a concurrent export
is not lost) and a line ``{"clip", "old", "new", "time"}`` is appended to ``labels_log.jsonl``
(accepting logs ``old == new``). A clip with a log line counts as reviewed. Reloading the page
shows what is on disk; stopping the server loses nothing.

Why the standard library's :mod:`http.server`: the page needs four routes on one machine for one
person, so a framework would be a dependency for nothing. It listens on 127.0.0.1 only (not
reachable from other machines), serves only the package's own page and the clips named in
``annotation_dict.json`` (no path from the URL reaches the file system), and takes only JSON
label changes that it validates.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import threading
import time
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.clip_export import ANNOTATIONS, EXAMPLES, LABELS, check_layout, folder_lock, read_json, read_records
from recognizer.labels import SPACEJAM_DISCARD, SPACEJAM_LABELS
from tracker.common.errors import OutputError, UsageError, run_command
from tracker.common.files import write_json

PROG = "bball-label"
LOG = "labels_log.jsonl"
STATIC = ("label.html", "label.js", "label.css")
_CLIP_URL = re.compile(r"^/examples/([^/]+)\.mp4$")


class LabelStore:
    """The export folder's labels: read state, change one clip's label (saved and logged at once)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        check_layout(self.root)
        self._lock = threading.Lock()

    def names(self) -> dict[int, str]:
        raw = read_json(self.root / LABELS, None)
        names = {int(k): str(v) for k, v in raw.items()} if raw else dict(enumerate(SPACEJAM_LABELS))
        names.setdefault(SPACEJAM_DISCARD, "discard")
        return names

    def log(self) -> list[dict]:
        try:
            text = (self.root / LOG).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def state(self) -> dict[str, Any]:
        """Everything the page shows: classes, and per clip its current and predicted label."""
        annotations = read_json(self.root / ANNOTATIONS, {})
        records = {r["id"]: r for r in read_records(self.root)}
        reviewed = {e["clip"] for e in self.log()}
        clips = []
        for key, label in annotations.items():
            if not (self.root / EXAMPLES / f"{key}.mp4").is_file():
                continue
            r = records.get(key, {})
            clips.append({
                "id": key, "label": int(label), "predicted": r.get("label"), "action": r.get("action"),
                "confidence": r.get("confidence"), "video": Path(r["video"]).name if r.get("video") else None,
                "track": r.get("track"), "frames": [r["frames"][0], r["frames"][-1]] if r.get("frames") else None,
                "reviewed": key in reviewed,
            })
        clips.sort(key=lambda c: (c["confidence"] if c["confidence"] is not None else 2.0, c["id"]))
        return {"folder": str(self.root), "labels": {str(k): v for k, v in sorted(self.names().items())},
                "clips": clips}

    def clip_path(self, key: str) -> Path | None:
        """The file of an annotated clip, or ``None`` (only annotated keys are ever served)."""
        if key not in read_json(self.root / ANNOTATIONS, {}):
            return None
        path = self.root / EXAMPLES / f"{key}.mp4"
        return path if path.is_file() else None

    def set_label(self, key: str, label: int) -> dict[str, Any]:
        """Give clip ``key`` class ``label`` (``10`` = discard); returns the log entry written.

        Raises:
            UsageError: unknown clip or class.
            OutputError: the folder cannot be written.
        """
        if label not in self.names():
            raise UsageError(None, f"unknown class {label}")
        with self._lock, folder_lock(self.root):
            annotations = read_json(self.root / ANNOTATIONS, {})
            if key not in annotations:
                raise UsageError(None, f"unknown clip {key}")
            old = int(annotations[key])
            annotations[key] = int(label)
            if old != label:
                write_json(self.root / ANNOTATIONS, annotations, indent=1)
            entry = {"clip": key, "old": old, "new": int(label), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            try:
                with open(self.root / LOG, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            except OSError as exc:
                raise OutputError(self.root / LOG, f"could not be written ({exc.strerror or exc})") from None
        return entry


def make_handler(store: LabelStore) -> type[BaseHTTPRequestHandler]:
    """The request handler for one folder."""
    static = resources.files("pipeline") / "static"

    class Handler(BaseHTTPRequestHandler):
        server_version = "bball-label"

        def log_message(self, format: str, *args) -> None:  # quiet: the terminal is for errors
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, obj: Any, status: int = HTTPStatus.OK) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                path = "/label.html"
            if path.lstrip("/") in STATIC:
                name = path.lstrip("/")
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self._send(HTTPStatus.OK, (static / name).read_bytes(), ctype + "; charset=utf-8")
            elif path == "/api/clips":
                self._json(store.state())
            elif (m := _CLIP_URL.match(path)) and (clip := store.clip_path(m.group(1))) is not None:
                self._file(clip)
            else:
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

        def _file(self, path: Path) -> None:
            """A clip, with byte ranges (browsers seek and loop media with them)."""
            data = path.read_bytes()
            m = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
            if m and (m.group(1) or m.group(2)):
                start = int(m.group(1)) if m.group(1) else max(0, len(data) - int(m.group(2)))
                end = min(int(m.group(2)), len(data) - 1) if m.group(1) and m.group(2) else len(data) - 1
                if start >= len(data):
                    self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", "video/mp4",
                               {"Content-Range": f"bytes */{len(data)}"})
                    return
                self._send(HTTPStatus.PARTIAL_CONTENT, data[start:end + 1], "video/mp4",
                           {"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"})
            else:
                self._send(HTTPStatus.OK, data, "video/mp4", {"Accept-Ranges": "bytes"})

        def do_POST(self) -> None:
            if self.path != "/api/label":
                self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                entry = store.set_label(str(body["clip"]), int(body["label"]))
            except (ValueError, KeyError, TypeError, UsageError) as exc:
                self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
                return
            except OutputError as exc:
                self._json({"error": exc.one_line()}, HTTPStatus.INTERNAL_SERVER_ERROR)
                return
            self._json(entry)

    return Handler


def serve(root: str | Path, port: int = 8765, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A label server for ``root`` (not yet serving: call ``serve_forever``; ``port=0`` picks a free port)."""
    store = LabelStore(root)
    try:
        server = ThreadingHTTPServer((host, port), make_handler(store))
    except OSError as exc:
        raise UsageError(None, f"cannot listen on {host}:{port} ({exc.strerror or exc}); try --port 0") from None
    server.daemon_threads = True
    return server


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Review and relabel training clips exported by "
                                "bball-annotate --export-clips, in the browser (served on this machine only).")
    p.add_argument("folder", type=Path, help="the --export-clips folder")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port; default 8765)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        server = serve(args.folder, port=args.port)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        print(f"{PROG}: labelling {args.folder} at {url} (Ctrl-C to stop; every change is already saved)",
              file=sys.stderr)
        if not args.no_browser:
            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:  # the normal way to stop: nothing is pending
            print(f"{PROG}: stopped; all changes are in {args.folder / ANNOTATIONS}", file=sys.stderr)
        finally:
            server.server_close()
        return 0

    return run_command(PROG, body, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
