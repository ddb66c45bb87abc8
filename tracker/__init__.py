"""Frames -> players, ball and identities.

Two halves:

* :mod:`tracker.tracking` -- detect and track: the YOLO detector, SORT / ByteTrack, tubes and clip windows;
* :mod:`tracker.game` -- understand the game: on-court filter, teams and referees, re-linking, ball,
  possession, tracking quality;

and :mod:`tracker.common`, what all three packages share (errors, atomic files, device, arrays).
"""

from tracker.common.errors import BballError, InputVideoError, OutputError, UsageError, WeightsError
from tracker.tracking.tubes import ClipWindow, Tube, TubeBuilder

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
