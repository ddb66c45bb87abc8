"""Folder mode: every video in a folder, one after another; failures reported, the rest carry on."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tracker.errors import BballError, UsageError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mpg", ".mpeg", ".ts"}


def find_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and not p.name.startswith("."))


def run_folder(args: argparse.Namespace) -> int:
    from pipeline.cli import EXIT_BATCH_FAILED, PROG, make_pipeline

    videos = find_videos(args.input)
    if not videos:
        raise UsageError(args.input, "no video files in this folder")
    out_dir = args.output or args.input.with_name(args.input.name + "_annotated")
    if out_dir.suffix.lower() == ".mp4":
        raise UsageError(out_dir, "for a folder input, -o must be a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline = make_pipeline(args)
    rows = []
    for video in videos:
        out = out_dir / f"{video.stem}.mp4"
        t0 = time.perf_counter()
        try:
            report = pipeline.run(
                video, output=out,
                json=out.with_suffix(".json") if args.json else None,
                csv=out.with_suffix(".csv") if args.csv else None,
                plot=out.with_suffix(".png") if args.plot else None,
                overwrite=args.overwrite,
            )
            rows.append((video.name, "done", report.frames, time.perf_counter() - t0, ""))
        except BballError as exc:
            rows.append((video.name, "failed", 0, time.perf_counter() - t0, exc.cause))
            print(f"{PROG}: error: {exc.one_line()}", file=sys.stderr)
    width = max(len(r[0]) for r in rows)
    print(f"{'video':<{width}}  status  frames  seconds  error", file=sys.stderr)
    for name, status, frames, secs, err in rows:
        print(f"{name:<{width}}  {status:<6}  {frames:>6}  {secs:>7.1f}  {err}", file=sys.stderr)
    failed = sum(r[1] == "failed" for r in rows)
    print(f"{PROG}: {len(rows) - failed} done, {failed} failed", file=sys.stderr)
    return EXIT_BATCH_FAILED if failed else 0
