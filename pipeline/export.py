"""Per-player action timeline exports: JSON (schema in docs/timeline.schema.json), CSV and a PNG plot.

All writers go through :class:`pipeline.io.AtomicFile`: the output appears complete or not at all.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.io import AtomicFile, VideoInfo
from pipeline.timeline import PlayerTimeline

SCHEMA_ID = "bball-annotate/timeline/1"
CSV_COLUMNS = [
    "player_id", "team", "action", "start_frame", "end_frame", "start_time", "end_time", "confidence",
]


@dataclass
class RunReport:
    """Everything one run produced, as exported (the JSON document is :meth:`to_dict`)."""

    video: VideoInfo
    frames: int
    lost_frames: int
    recognizer: dict[str, Any]
    detector: dict[str, Any]
    tracker: dict[str, Any]
    players: list[PlayerTimeline]
    seconds: float = 0.0
    possession: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        v = self.video
        return {
            "schema": SCHEMA_ID,
            "video": {
                "path": v.path, "fps": round(v.fps, 6), "frames": self.frames, "lost_frames": self.lost_frames,
                "width": v.width, "height": v.height, "duration": round(v.duration, 4),
            },
            "recognizer": self.recognizer,
            "detector": self.detector,
            "tracker": self.tracker,
            "players": [
                {
                    "id": p.track_id,
                    "team": p.team,
                    "first_frame": p.first_frame,
                    "last_frame": p.last_frame,
                    "first_time": p.segments[0].to_dict()["start_time"],
                    "last_time": p.segments[-1].to_dict()["end_time"],
                    "frames_seen": len(p.boxes),
                    "segments": [s.to_dict() for s in p.segments],
                    "boxes": [list(b) for b in p.boxes],
                }
                for p in self.players
                if p.segments
            ],
            "possession": self.possession,
            "summary": self.summary,
        }


def write_json(report: RunReport, path: str | Path, overwrite: bool = False) -> Path:
    out = AtomicFile(path, overwrite=overwrite)
    try:
        out.tmp.write_text(json.dumps(report.to_dict(), indent=1))
    except BaseException:
        out.discard()
        raise
    return out.commit()


def write_csv(report: RunReport, path: str | Path, overwrite: bool = False) -> Path:
    out = AtomicFile(path, overwrite=overwrite)
    try:
        with open(out.tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for p in report.players:
                for s in p.segments:
                    d = s.to_dict()
                    w.writerow([p.track_id, p.team or "", d["action"], d["start_frame"], d["end_frame"],
                                d["start_time"], d["end_time"], d["confidence"]])
    except BaseException:
        out.discard()
        raise
    return out.commit()


def write_plot(report: RunReport, path: str | Path, overwrite: bool = False) -> Path:
    """One row per player, coloured bars per action segment, time on the x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = AtomicFile(path, overwrite=overwrite)
    labels = list(report.recognizer.get("labels", []))
    cmap = plt.get_cmap("tab10")
    players = [p for p in report.players if p.segments]
    fig, ax = plt.subplots(figsize=(12, max(2.5, 0.32 * len(players) + 1.5)), dpi=100)
    try:
        for row, p in enumerate(players):
            for s in p.segments:
                k = labels.index(s.action) if s.action in labels else 0
                width = max(s.end_time - s.start_time, 1.0 / max(report.video.fps, 1.0))
                ax.broken_barh([(s.start_time, width)], (row - 0.4, 0.8), color=cmap(k % 10))
        ax.set_yticks(range(len(players)), [f"#{p.track_id}" + (f" {p.team}" if p.team else "") for p in players])
        ax.set_xlabel("time (s)")
        ax.set_xlim(0, max(report.video.duration, report.frames / max(report.video.fps, 1.0)))
        ax.set_title(f"{Path(report.video.path).name} — actions by player ({report.recognizer.get('name', '')})")
        handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i % 10)) for i in range(len(labels))]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(labels), 10),
                  frameon=False)
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(out.tmp, format="png")
    except BaseException:
        out.discard()
        raise
    finally:
        plt.close(fig)
    return out.commit()
