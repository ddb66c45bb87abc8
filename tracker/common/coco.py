"""The class ids the project's detections carry, and which of a model's own classes map to them.

Detections leave :class:`~tracker.tracking.detector.Detector` numbered as in COCO-80 (what the
stock YOLO weights are trained on): :data:`PERSON` for people, :data:`SPORTS_BALL` for the ball.
A model trained on other classes (a basketball model with ``ball``, ``player``, ``rim`` ...) is
mapped by its class *names* (:func:`model_classes`).
"""

from __future__ import annotations

from collections.abc import Mapping

PERSON = 0
SPORTS_BALL = 32

#: Class names (lower case, ``_``/``-`` read as spaces) taken for a person: players and referees are
#: both people to the tracker (the teams stage tells referees apart).
PERSON_NAMES = frozenset({"person", "people", "player", "players", "referee", "referees"})
#: Class names taken for the ball.
BALL_NAMES = frozenset({"sports ball", "ball", "basketball", "basket ball"})


def model_classes(names: Mapping[int, str]) -> tuple[list[int], list[int]] | None:
    """A model's ``{class id: name}`` -> (its person class ids, its ball class ids), by name
    (:data:`PERSON_NAMES`, :data:`BALL_NAMES`). Models whose names are only numbers (a ``.yaml``
    built with random weights, an export that lost its names) with 80 classes are taken as COCO
    numbered. ``None`` when no class is a person (the caller says so)."""
    def norm(name) -> str:
        return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())

    people = sorted(i for i, n in names.items() if norm(n) in PERSON_NAMES)
    balls = sorted(i for i, n in names.items() if norm(n) in BALL_NAMES)
    if not people and len(names) == 80 and all(norm(n) in (str(i), f"class{i}") for i, n in names.items()):
        return [PERSON], [SPORTS_BALL]
    return (people, balls) if people else None
