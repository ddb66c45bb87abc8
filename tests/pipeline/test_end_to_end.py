"""End to end: the real CLI on real footage with the real detector, and the Python API on a synthetic video."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import jsonschema
import numpy as np
import pytest

from pipeline.core import Pipeline
from tests.conftest import REPO
from tests.synth import linear_path, make_video, player
from tracker.tracking.detector import Detector

SCHEMA = json.loads((REPO / "docs" / "timeline.schema.json").read_text())


def _probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        return {
            "codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "fps": float(v.average_rate),
            "size": (v.codec_context.width, v.codec_context.height), "frames": frames,
            "audio": [a.codec_context.name for a in c.streams.audio],
        }


@pytest.fixture(scope="module")
def nba_run(tmp_path_factory, nba_clip, tflite_weights):
    out = tmp_path_factory.mktemp("nba") / "annotated.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", str(nba_clip), "-o", str(out), "--weights", str(tflite_weights),
         "--json", "--csv", "--plot", "--no-progress"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc


def test_cli_writes_browser_playable_h264_matching_the_input(nba_run, nba_clip):
    out, proc = nba_run
    src, dst = _probe(nba_clip), _probe(out)
    assert (dst["codec"], dst["pix_fmt"]) == ("h264", "yuv420p")
    assert len(dst["frames"]) == len(src["frames"])
    assert dst["size"] == src["size"]
    assert dst["fps"] == pytest.approx(src["fps"], rel=1e-3)
    assert dst["audio"] == src["audio"] == ["aac"]
    assert "Traceback" not in proc.stderr
    assert not list(out.parent.glob(".*partial*")), "temp files left behind"


def test_cli_timeline_validates_and_tracks_the_players(nba_run, nba_clip):
    out, _ = nba_run
    doc = json.loads(out.with_suffix(".json").read_text())
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    n = doc["video"]["frames"]
    per_frame = np.zeros(n, int)
    for p in doc["players"]:
        for box in p["boxes"]:
            per_frame[box[0]] += 1
        # segments tile the player's labelled frames in order
        seg_frames = [(s["start_frame"], s["end_frame"]) for s in p["segments"]]
        assert all(a <= b for a, b in seg_frames) and seg_frames == sorted(seg_frames)
    assert (per_frame >= 5).mean() >= 0.8, per_frame
    assert doc["recognizer"]["name"] == "game context: ball + possession + speed"  # the default with the ball
    assert doc["recognizer"]["checkpoint_sha256"] is None
    assert [row[0] for row in doc["ball"]] == list(range(n))  # a ball row (position or lost) per frame
    # who is playing: the floor filter leaves the players (10 on court + referees), two teams are found
    teams = [p["team"] for p in doc["players"]]
    assert teams.count("A") >= 2 and teams.count("B") >= 2
    assert doc["summary"]["teams"]["mode"] == "two teams"
    assert doc["summary"]["tracking"]["mean_tracked"] <= 12  # not the 10-20 people with the crowd
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == sum(len(p["segments"]) for p in doc["players"])
    assert {r["action"] for r in rows} <= set(doc["recognizer"]["labels"])
    plot = cv2.imread(str(out.with_suffix(".png")))
    assert plot is not None and plot.shape[0] > 100


def test_boxes_are_drawn_where_the_players_are(nba_run, nba_clip):
    out, _ = nba_run
    doc = json.loads(out.with_suffix(".json").read_text())
    src, dst = _probe(nba_clip)["frames"], _probe(out)["frames"]
    f = 80
    boxes = [b[1:] for p in doc["players"] for b in p["boxes"] if b[0] == f]
    assert boxes
    diff = np.abs(src[f].astype(int) - dst[f].astype(int)).sum(axis=2)
    border = np.zeros(diff.shape, bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        x1, y1 = max(x1, 0), max(y1, 0)
        x2, y2 = min(x2, diff.shape[1] - 1), min(y2, diff.shape[0] - 1)
        border[y1:y2 + 1, [x1, x2]] = True
        border[[y1, y2], x1:x2 + 1] = True
    assert diff[border].mean() > 60  # box outlines changed those pixels
    quiet = np.ones(diff.shape, bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        quiet[max(y1 - 40, 0):y2 + 10, max(x1 - 10, 0):x2 + 40] = False
    quiet[:40, :] = False  # header
    assert np.median(diff[quiet]) < 10  # elsewhere only compression noise


def test_python_api_keeps_audio_timing_and_frame_count(tmp_path):
    truth = make_video(tmp_path / "in.mp4", n_frames=40, fps=25.0, audio=True,
                       objects=[player(0, linear_path(40, 25.0, (50, 120), (60, 0)))])
    report = Pipeline(Detector("yolov8n.yaml", imgsz=160), tracker="sort").run(
        truth.path, output=tmp_path / "out.mp4", json=tmp_path / "out.json")
    dst = _probe(tmp_path / "out.mp4")
    assert len(dst["frames"]) == 40 == report.frames
    assert dst["fps"] == pytest.approx(25.0) and dst["audio"] == ["aac"]
    with av.open(str(tmp_path / "out.mp4")) as c:
        pts = [float(f.time) for f in c.decode(video=0)]
    np.testing.assert_allclose(np.diff(pts), 1 / 25.0, atol=1e-3)
    doc = json.loads((tmp_path / "out.json").read_text())
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert doc["video"]["frames"] == 40 and doc["tracker"]["name"] == "sort"
