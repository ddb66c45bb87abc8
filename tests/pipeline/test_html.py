"""The HTML report's content (no browser: see test_html_browser.py for the page in Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main as cli_main
from pipeline.report_html import distance_body_heights, page_data, player_stats, video_src
from tests.webpages import FPS, N_FRAMES, annotate, synthetic_game


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    game = synthetic_game(folder)
    out = folder / "out" / "game_annotated.mp4"
    report = annotate(game, out, json=out.with_suffix(".json"), html=out.with_suffix(".html"))
    return report, out


def test_distance_counts_body_heights_and_skips_gaps():
    # feet moving 60 px/s for 2 s, boxes 30 px tall: 4 body heights; a 1 s gap (unseen) adds nothing
    t = np.arange(0, 50)
    rows = [[int(f), 60 * f / 25, 100, 60 * f / 25 + 10, 130] for f in t]
    assert distance_body_heights(rows, 25.0) == pytest.approx(2 * 49 / 50 * 2, rel=1e-6)
    later = [[int(f) + 75, 500 + 60 * f / 25, 100, 510 + 60 * f / 25, 130] for f in t]
    assert distance_body_heights(rows + later, 25.0) == pytest.approx(2 * 2 * 49 / 50 * 2, rel=1e-6)
    # per-frame box jitter of +-1 px on a player standing still for 10 s does not add up to a distance:
    # positions are smoothed and sampled every 0.2 s (summing every frame's step gives several body heights)
    rng = np.random.default_rng(0)
    still = np.array([[f, 100, 100, 110, 130] for f in range(250)], float)
    still[:, 1:] += rng.uniform(-1, 1, (250, 4))
    feet = np.stack([(still[:, 1] + still[:, 3]) / 2, still[:, 4]], axis=1)
    every_frame = (np.linalg.norm(np.diff(feet, axis=0), axis=1) / 30).sum()
    assert every_frame > 3 and distance_body_heights(still.tolist(), 25.0) < 0.5


def test_player_stats_shares_time_and_jersey():
    p = {"id": 7, "team": "A", "jersey": 23, "frames_seen": 50, "boxes": [],
         "segments": [{"action": "walk", "start_frame": 0, "end_frame": 29},
                      {"action": "run", "start_frame": 30, "end_frame": 39},
                      {"action": "walk", "start_frame": 40, "end_frame": 49}]}
    s = player_stats(p, 25.0)
    assert (s.id, s.team, s.jersey, s.seconds) == (7, "A", "23", 2.0)
    assert s.share == {"walk": 0.8, "run": 0.2} and list(s.share) == ["walk", "run"]
    assert player_stats({**p, "jersey": None}, 25.0).jersey is None
    assert player_stats({k: v for k, v in p.items() if k != "jersey"}, 25.0).jersey is None


def test_page_is_self_contained_and_embeds_the_run(run):
    report, out = run
    page = out.with_suffix(".html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must not load from the network"
    assert "<script src" not in page and "<link rel=\"stylesheet\"" not in page  # CSS and JS inlined
    data = embedded(page)
    assert data["video"] == "game_annotated.mp4"  # relative: the folder can move
    doc = json.loads(out.with_suffix(".json").read_text())
    assert [p["id"] for p in data["players"]] == [p["id"] for p in doc["players"]]
    for shown, exported in zip(data["players"], doc["players"]):
        assert shown["segments"] == [{k: s[k] for k in ("action", "start_time", "end_time", "confidence")}
                                     for s in exported["segments"]]
        assert sum(shown["share"].values()) == pytest.approx(1.0, abs=1e-3)
        assert shown["seconds"] == pytest.approx(exported["frames_seen"] / FPS, abs=0.01)
    assert "boxes" not in page  # per-frame boxes stay in the JSON
    # the runner crosses 150 px/s * 47/25 s = 282 px with 50 px boxes: 5.6 body heights; the other stands
    distances = sorted(p["distance_bh"] for p in data["players"])
    assert distances[0] < 0.2 and distances[-1] == pytest.approx(150 * (N_FRAMES - 1) / FPS / 50, rel=0.1)
    assert set(data["colours"]) == set(report.recognizer["labels"])


def test_video_src_is_relative_and_url_encoded(tmp_path):
    assert video_src(tmp_path / "a b#1.mp4", tmp_path / "r.html") == "a%20b%231.mp4"
    assert video_src(tmp_path / "v" / "g.mp4", tmp_path / "reports" / "r.html") == "../v/g.mp4"
    assert video_src(None, tmp_path / "r.html") is None


def test_team_colours_are_the_videos():
    from pipeline.render import TEAM_HEX

    doc = {"video": {"path": "g.mp4", "fps": 25.0, "frames": 1, "duration": 0.04}, "recognizer": {"labels": []},
           "players": [], "possession": [{"player_id": 1, "team": "A", "start_time": 0.0, "end_time": 0.04}]}
    teams = page_data(doc, None)["teams"]
    assert teams == TEAM_HEX and all(re.fullmatch("#[0-9a-f]{6}", c) for c in teams.values())
    assert "A" in teams and "B" in teams


def test_jersey_from_the_json_is_shown(run):
    report, out = run
    doc = json.loads(out.with_suffix(".json").read_text())
    doc["players"][0]["jersey"] = "11"
    data = page_data(doc, "x.mp4")
    assert data["players"][0]["jersey"] == "11" and data["players"][1]["jersey"] is None


def test_cli_html_path_checks(tmp_path, capsys):
    game = synthetic_game(tmp_path)
    (tmp_path / "taken.html").write_text("mine")
    rc = cli_main([str(game.path), "-o", str(tmp_path / "o.mp4"), "--html", str(tmp_path / "taken.html"),
                   "--weights", "yolov8n.yaml", "--no-progress"])
    assert rc == 5 and "taken.html: already exists" in capsys.readouterr().err
    assert (tmp_path / "taken.html").read_text() == "mine"
    rc = cli_main([str(game.path), "-o", str(tmp_path / "o.mp4"), "--html", str(game.path), "--no-progress"])
    assert rc == 5 and "--html path is the input video" in capsys.readouterr().err


def test_html_default_path_is_beside_the_output_video():
    from pipeline.cli import _side_path

    assert _side_path(True, Path("out/game.mp4"), ".html") == Path("out/game.html")


def test_distance_is_not_counted_across_a_camera_cut():
    # 1 s in one shot, then the same ID 2 frames later in the next shot 400 px away (kept by number
    # or appearance): without the cut the jump would count as 400 / 30 = 13 body heights
    one = [[f, 100.0, 100, 110.0, 130] for f in range(25)]
    two = [[f, 500.0, 100, 510.0, 130] for f in range(27, 52)]
    assert distance_body_heights(one + two, 25.0) > 10
    assert distance_body_heights(one + two, 25.0, cuts=[26]) == pytest.approx(0.0, abs=1e-6)
