"""Frames -> person detections -> tracked IDs -> per-player tubes and clip windows."""

from tracker.errors import BballError, InputVideoError, OutputError, UsageError, WeightsError
from tracker.tubes import ClipWindow, Tube, TubeBuilder

__all__ = [
    "BballError",
    "ClipWindow",
    "InputVideoError",
    "OutputError",
    "Tube",
    "TubeBuilder",
    "UsageError",
    "WeightsError",
]
