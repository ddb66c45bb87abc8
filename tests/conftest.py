"""Shared test helpers: the ../shared assets (a failure under CI=true when missing, a skip elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_asset(relative: str) -> Path:
    """Path of a file under ../shared; missing -> pytest.fail under CI=true, else pytest.skip."""
    path = SHARED / relative
    if not path.exists():
        message = f"shared asset missing: {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def nba_clip() -> Path:
    return shared_asset("demo_videos/nba_broadcast_480p.mp4")


@pytest.fixture(scope="session")
def court_clip() -> Path:
    return shared_asset("demo_videos/court_3players_720p.mp4")


@pytest.fixture(scope="session")
def tflite_weights() -> Path:
    return shared_asset("weights/yolov8n_int8.tflite")
