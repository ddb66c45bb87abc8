"""The HTML report in a real headless Chromium: it loads from disk without console errors, plays the
annotated video from a folder that was moved, and clicking a timeline segment seeks the video there.

Needs Debian's ``chromium`` and ``chromium-driver`` (skipped without them, a failure under CI=true).
"""

from __future__ import annotations

import shutil

import pytest

from tests.webpages import annotate, chrome, console_errors, synthetic_game, wait_for


@pytest.fixture(scope="module")
def driver():
    d = chrome()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def moved_report(tmp_path_factory):
    """A run's video and report written to one folder, which is then moved (renamed) elsewhere."""
    root = tmp_path_factory.mktemp("report")
    game = synthetic_game(root, latecomer=True)
    out = root / "made" / "game_annotated.mp4"
    annotate(game, out, html=out.with_suffix(".html"))
    moved = root / "somewhere" / "else"
    moved.parent.mkdir()
    shutil.move(str(out.parent), str(moved))
    return moved / "game_annotated.html"


def test_report_loads_plays_and_seeks_on_click(driver, moved_report):
    driver.get(moved_report.as_uri())
    state = wait_for(lambda: driver.execute_script(
        "const v = document.getElementById('video');"
        "return v.error ? 'error ' + v.error.code : (v.readyState >= 1 ? 'ready' : null);"),
        what="the video's metadata")
    assert state == "ready", f"the annotated video did not load from the moved folder ({state})"
    duration = driver.execute_script("return document.getElementById('video').duration")
    assert duration == pytest.approx(48 / 25, abs=0.1)

    segments = driver.find_elements("css selector", "#timeline rect.seg")
    rows = driver.find_elements("css selector", "#timeline g.row")
    assert len(rows) == 3 and len(segments) >= 3
    starts = [float(s.get_attribute("data-start")) for s in segments]
    for target in sorted(range(len(segments)), key=lambda i: -starts[i])[:2]:  # the latest-starting segments
        segments[target].click()  # a real mouse click on the SVG bar
        now = wait_for(lambda: driver.execute_script(
            "const v = document.getElementById('video'); return v.seeking ? null : [v.currentTime];"),
            what="the seek")[0]
        assert now == pytest.approx(starts[target], abs=0.02)
    assert max(starts) >= 0.9  # the latecomer's segment: a seek to the middle of the video
    table_rows = driver.find_elements("css selector", "#players tbody tr")
    assert len(table_rows) == 3
    assert console_errors(driver) == []
