"""The HTML report: one self-contained page beside the annotated video that opens from disk.

No server and no network: the page's CSS and JavaScript (``pipeline/static/report.*``, plain
JS drawing SVG) are inlined, the run's data is embedded as JSON, and the video is referenced by
a path *relative to the page*, so the page keeps playing it when the folder moves.

What the page shows (all computed here, in Python, so it is tested without a browser):

* the annotated video in an HTML5 player;
* one timeline row per player, a bar per action segment; clicking a bar seeks the video to
  the segment's start; a playhead follows the video;
* possession over time (who held the ball, coloured by team), also clickable;
* a players table: team, jersey number when the JSON has one (``jersey``), time on screen,
  share of each action, and distance covered in body heights (:func:`distance_body_heights`).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from pipeline.render import TEAM_HEX

#: Positions are sampled every this many seconds before distances are summed: box jitter
#: between consecutive frames would otherwise add up to more than the player's real motion.
DISTANCE_STEP_S = 0.2
#: ... after smoothing them over this many seconds.
SMOOTH_S = 0.5


@dataclass(frozen=True)
class PlayerStats:
    """One row of the players table.

    Attributes:
        id: the player's track ID; ``team`` ``"A"``, ``"B"``, ``"referee"`` or ``None``;
            ``jersey`` the number read from the shirt, or ``None``.
        seconds: time on screen (frames the player was labelled on / fps).
        share: action name -> share of the player's labelled time (sums to 1).
        distance_bh: distance the feet point moved in the image, in body heights (see
            :func:`distance_body_heights`).
    """

    id: int
    team: str | None
    jersey: str | None
    seconds: float
    share: dict[str, float]
    distance_bh: float


def distance_body_heights(rows: list[list[float]], fps: float, max_gap_s: float = 0.5,
                          cuts: list[int] | tuple[int, ...] = ()) -> float:
    """Distance covered by a player's feet point (bottom centre of the box), in body heights.

    ``rows`` are the JSON's ``[[frame, x1, y1, x2, y2], ...]``. The track is cut where the player
    was unseen for more than ``max_gap_s`` and at the camera cuts (``cuts``: the frames that start a
    new shot; a player who keeps his ID across one did not run from his old spot); in each piece the feet points are smoothed with a
    Savitzky-Golay line fit over :data:`SMOOTH_S` (box jitter would otherwise add up to a
    distance for a player standing still; straight motion is kept exactly) and taken every
    :data:`DISTANCE_STEP_S`; each step's length is divided by the mean box height of its ends
    (a body height, so near and far players compare). The positions are in the image: a camera
    pan moves players too, so on broadcast footage this overstates the distance.
    """
    from scipy.signal import savgol_filter

    if len(rows) < 2:
        return 0.0
    a = np.asarray(rows, dtype=np.float64)
    step = max(1, int(round(DISTANCE_STEP_S * fps)))
    breaks = np.flatnonzero(np.diff(a[:, 0]) > max(step, max_gap_s * fps)) + 1
    if len(cuts):  # a camera cut: the positions on either side are in two different pictures
        breaks = np.union1d(breaks, np.searchsorted(a[:, 0], np.asarray(cuts, np.float64))).astype(int)
        breaks = breaks[(breaks > 0) & (breaks < len(a))]
    total = 0.0
    for piece in np.split(a, breaks):
        if len(piece) < 2:
            continue
        feet = np.stack([(piece[:, 1] + piece[:, 3]) / 2, piece[:, 4]], axis=1)
        window = min(len(piece), int(round(SMOOTH_S * fps))) // 2 * 2 + 1
        if window > len(piece):
            window -= 2
        if window >= 3:
            feet = savgol_filter(feet, window, polyorder=1, axis=0, mode="interp")
        frames, keep = piece[:, 0], [0]
        for i in range(1, len(piece)):  # one sample per step (rows may skip frames), and the last one
            if frames[i] - frames[keep[-1]] >= step or i == len(piece) - 1:
                keep.append(i)
        heights = np.maximum(piece[keep, 4] - piece[keep, 2], 1.0)
        moved = np.linalg.norm(np.diff(feet[keep], axis=0), axis=1)
        total += float((moved / ((heights[1:] + heights[:-1]) / 2)).sum())
    return total


def player_stats(player: dict[str, Any], fps: float, cuts: list[int] | tuple[int, ...] = ()) -> PlayerStats:
    """The table row of one exported player (a ``players`` entry of the JSON document)."""
    frames: dict[str, int] = {}
    for s in player["segments"]:
        frames[s["action"]] = frames.get(s["action"], 0) + s["end_frame"] - s["start_frame"] + 1
    total = sum(frames.values()) or 1
    jersey = player.get("jersey")
    return PlayerStats(
        id=int(player["id"]),
        team=player.get("team"),
        jersey=None if jersey in (None, "") else str(jersey),
        seconds=round(player.get("frames_seen", total) / max(fps, 1e-9), 2),
        share={k: round(v / total, 4) for k, v in sorted(frames.items(), key=lambda kv: -kv[1])},
        distance_bh=round(distance_body_heights(player.get("boxes", []), fps, cuts=cuts), 1),
    )


def action_colours(labels: list[str]) -> dict[str, str]:
    """The plot's palette (matplotlib ``tab10`` by label index), as hex, so the page and the PNG agree."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10"]
    return {name: to_hex(cmap(i % 10)) for i, name in enumerate(labels)}


def page_data(doc: dict[str, Any], video_src: str | None) -> dict[str, Any]:
    """What the page's script draws, from the JSON document (:meth:`RunReport.to_dict`).

    Per-frame boxes are left out (they can be tens of MB for a whole game); the table's
    numbers are computed from them here.
    """
    fps = float(doc["video"]["fps"]) or 30.0
    labels = list(doc["recognizer"].get("labels", []))
    players = []
    for p in doc["players"]:
        stats = player_stats(p, fps, [int(c["frame"]) for c in doc.get("cuts", [])])
        players.append({**asdict(stats), "first_time": p["first_time"], "last_time": p["last_time"],
                        "segments": [{k: s[k] for k in ("action", "start_time", "end_time", "confidence")}
                                     for s in p["segments"]]})
    duration = max([float(doc["video"].get("duration") or 0.0)]
                   + [s["end_time"] for p in players for s in p["segments"]] or [0.0])
    return {
        "title": Path(doc["video"]["path"]).name,
        "video": video_src,
        "fps": fps,
        "duration": duration,
        "frames": doc["video"]["frames"],
        "recognizer": doc["recognizer"].get("name", ""),
        "labels": labels,
        "colours": action_colours(labels),
        "teams": dict(TEAM_HEX),  # the video's box colours
        "players": players,
        "possession": [{k: s.get(k) for k in ("player_id", "team", "start_time", "end_time")}
                       for s in doc.get("possession", [])],
        "possession_share": doc.get("summary", {}).get("possession_share", {}),
    }


def render_page(data: dict[str, Any]) -> str:
    """The complete HTML document (CSS and JS inlined, data embedded as JSON)."""
    static = resources.files("pipeline") / "static"
    css = (static / "report.css").read_text(encoding="utf-8")
    js = (static / "report.js").read_text(encoding="utf-8")
    template = (static / "report.html").read_text(encoding="utf-8")
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")  # cannot close the <script>
    return (template.replace("{{TITLE}}", html.escape(data["title"]))
            .replace("/*{{CSS}}*/", css).replace("/*{{JS}}*/", js).replace("{{DATA}}", payload))


def video_src(video: str | Path | None, page: str | Path) -> str | None:
    """``video`` as a URL relative to the page's folder (so both can move together), or ``None``."""
    if video is None:
        return None
    rel = os.path.relpath(Path(video).resolve(), Path(page).resolve().parent)
    return quote(Path(rel).as_posix())


def dump_html(report, path: str | Path) -> None:
    """Write the report page for a :class:`~pipeline.export.RunReport` to ``path``.

    The player shows ``report.annotated_video`` (the run's ``-o`` video) when there is one,
    else the source video.
    """
    from pipeline.export import player_dict

    video = getattr(report, "annotated_video", None) or report.video.path
    doc = report.to_dict(players=False)
    doc["players"] = (player_dict(p) for p in report.players if p.segments)  # one player's boxes at a time
    Path(path).write_text(render_page(page_data(doc, video_src(video, path))), encoding="utf-8")
