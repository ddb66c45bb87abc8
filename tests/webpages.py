"""Helpers for the HTML report, clip export and labelling page tests: a small synthetic game run
through the real pipeline, and a real headless Chromium driven by Selenium.

The browser is Debian's ``chromium`` with its ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``), both given to Selenium by path so that Selenium Manager never downloads
anything. Without them the browser tests skip with the reason, except under ``CI=true``, where a
missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.clip_export import ClipExporter
from pipeline.core import Pipeline
from tests.synth import GroundTruth, GroundTruthDetector, linear_path, make_video, player, standing_path

FPS = 25.0
N_FRAMES = 48
SIZE = (320, 240)
#: object id -> what the kinematic recogniser should call it (50 px tall players: 150 px/s = 3 body heights/s)
RUNNER, STANDER = 0, 1


def synthetic_game(folder: Path, name: str = "game.mp4", seed: int = 0, runner_y: float = 120.0,
                   latecomer: bool = False) -> GroundTruth:
    """A 48-frame 320x240 video: player 0 runs left to right, player 1 stands still; with
    ``latecomer``, player 2 walks in from frame 24 (so a timeline segment starts mid-video)."""
    objects = [player(RUNNER, linear_path(N_FRAMES, FPS, (40, runner_y), (150, 0))),
               player(STANDER, standing_path(N_FRAMES, (250, 170)))]
    if latecomer:
        objects.append(player(2, linear_path(N_FRAMES, FPS, (60, 190), (30, 0), first=24)))
    return make_video(folder / name, size=SIZE, n_frames=N_FRAMES, fps=FPS, seed=seed, objects=objects)


def annotate(truth: GroundTruth, out: Path | None = None, clips: ClipExporter | None = None, **outputs):
    """Run the real pipeline (ground-truth boxes in place of the detector) on a synthetic game."""
    pipeline = Pipeline(GroundTruthDetector(truth), tracker="sort", batch_size=8, all_people=True, teams=False,
                        ball=False, clip_export=clips)
    return pipeline.run(truth.path, output=out, **outputs)


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests need it under CI: {reason}")
    pytest.skip(reason)


def chrome():
    """A headless Chromium WebDriver (caller quits it); skips (fails under CI) when there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[test]')")
    binary = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        _missing("no chromium / chromedriver on PATH (apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--mute-audio", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
