"""Per-player action timeline exports: JSON (schema in docs/timeline.schema.json), CSV, a PNG plot
and an HTML report (:mod:`pipeline.report_html`).

``dump_*`` write a report to a path; :func:`export` does it atomically (through
:mod:`tracker.common.files`), and :class:`~pipeline.core.Pipeline` stages all of a run's outputs
in one :class:`~tracker.common.files.OutputSet` so they replace the previous ones together.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.report_html import dump_html
from pipeline.timeline import PlayerTimeline
from pipeline.video.reader import VideoInfo
from tracker.common.files import atomic_write

SCHEMA_ID = "bball-annotate/timeline/1"
CSV_COLUMNS = [
    "player_id", "team", "jersey", "action", "start_frame", "end_frame", "start_time", "end_time", "confidence",
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
    ball: list[list[Any]] | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    cuts: list[dict[str, Any]] = field(default_factory=list)
    #: the run's annotated video (``-o``), which the HTML report plays; not part of the JSON.
    annotated_video: str | None = None

    def to_dict(self, players: bool = True) -> dict[str, Any]:
        """The JSON document (``players`` left empty when ``players=False``)."""
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
            "players": [player_dict(p) for p in self.players if p.segments] if players else [],
            "possession": self.possession,
            "ball": self.ball,
            "cuts": self.cuts,
            "summary": self.summary,
        }


def player_dict(p: PlayerTimeline) -> dict[str, Any]:
    segments = [s.to_dict() for s in p.segments]
    return {
        "id": p.track_id,
        "team": p.team,
        "jersey": p.jersey,
        "first_frame": p.first_frame,
        "last_frame": p.last_frame,
        "first_time": segments[0]["start_time"],
        "last_time": segments[-1]["end_time"],
        "frames_seen": len(p.frames),
        "segments": segments,
        "boxes": p.box_rows(),
        "predicted_frames": p.predicted_frames(),
    }


def dump_json(report: RunReport, path: str | Path) -> None:
    """The JSON document, streamed player by player (memory stays small for long games)."""
    with open(path, "w") as f:
        head = json.dumps(report.to_dict(players=False), indent=1)
        before, after = head.split('"players": []', 1)
        f.write(before + '"players": [')
        first = True
        for p in report.players:
            if p.segments:
                f.write(("\n" if first else ",\n") + json.dumps(player_dict(p)))
                first = False
        f.write("]" + after)


def dump_csv(report: RunReport, path: str | Path) -> None:
    """One row per player per action segment."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for p in report.players:
            for s in p.segments:
                d = s.to_dict()
                w.writerow([p.track_id, p.team or "", p.jersey or "", d["action"], d["start_frame"], d["end_frame"],
                            d["start_time"], d["end_time"], d["confidence"]])


def dump_plot(report: RunReport, path: str | Path) -> None:
    """One row per player, coloured bars per action segment, time on the x axis (PNG).

    Drawn on a :class:`~matplotlib.figure.Figure` of its own with the Agg canvas, so neither
    pyplot's global state nor the process-wide backend is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(report.recognizer.get("labels", []))
    players = [p for p in report.players if p.segments]
    fig = Figure(figsize=(12, max(2.5, 0.32 * len(players) + 1.5)), dpi=100)
    FigureCanvasAgg(fig)
    _draw_timeline(fig.add_subplot(), report, players, labels)
    fig.tight_layout()
    fig.savefig(path, format="png")


#: The side outputs by name: each writes a report to a plain path (the caller makes it atomic).
EXPORTERS = {"json": dump_json, "csv": dump_csv, "plot": dump_plot, "html": dump_html}


def export(report: RunReport, kind: str, path: str | Path, overwrite: bool = False) -> Path:
    """Write one side output (``"json"``, ``"csv"``, ``"plot"`` or ``"html"``) atomically."""
    return atomic_write(path, lambda tmp: EXPORTERS[kind](report, tmp), overwrite=overwrite)


def _draw_timeline(ax, report: RunReport, players: list[PlayerTimeline], labels: list[str]) -> None:
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    cmap = colormaps["tab10"]
    for row, p in enumerate(players):
        for s in p.segments:
            k = labels.index(s.action) if s.action in labels else 0
            width = max(s.end_time - s.start_time, 1.0 / max(report.video.fps, 1.0))
            ax.broken_barh([(s.start_time, width)], (row - 0.4, 0.8), color=cmap(k % 10))
    ax.set_yticks(range(len(players)), [f"#{p.track_id}" + (f" {p.team}" if p.team else "") for p in players])
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, max(report.video.duration, report.frames / max(report.video.fps, 1.0)))
    ax.set_title(f"{Path(report.video.path).name} — actions by player ({report.recognizer.get('name', '')})")
    handles = [Rectangle((0, 0), 1, 1, color=cmap(i % 10)) for i in range(len(labels))]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(labels), 10),
              frameon=False)
    ax.invert_yaxis()
