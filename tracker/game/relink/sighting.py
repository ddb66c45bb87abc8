"""What one tracked detection tells the re-linker: raw ID, feet, height, team hint and appearance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from tracker.game.identity import APPEARANCE_KEY, TEAM_HINT_KEY, RawId


@dataclass(frozen=True)
class Sighting:
    """One row of a frame's tracked detections.

    Attributes:
        raw_id: the tracker's ID (negative: untracked, passed through).
        feet: ``(2,)`` bottom-centre of the box, pixels.
        height: box height in pixels, at least 1.
        hint: the row's team hint (``detections.data[TEAM_HINT_KEY]``), None when unknown.
        look: ``(D,)`` the row's appearance vector (``detections.data[APPEARANCE_KEY]``), None when
            not given or not finite.
    """

    raw_id: RawId
    feet: np.ndarray
    height: float
    hint: str | None
    look: np.ndarray | None


def sightings(detections: sv.Detections) -> list[Sighting]:
    """Each row of ``detections`` (with ``tracker_id``) as a :class:`Sighting`."""
    raw = [int(t) for t in detections.tracker_id]
    feet = detections.get_anchors_coordinates(sv.Position.BOTTOM_CENTER).astype(np.float64)
    heights = np.maximum(detections.xyxy[:, 3] - detections.xyxy[:, 1], 1.0).astype(np.float64)
    hints = detections.data.get(TEAM_HINT_KEY) if detections.data else None
    hints = [None] * len(raw) if hints is None else [h if isinstance(h, str) and h else None for h in hints]
    looks = detections.data.get(APPEARANCE_KEY) if detections.data else None
    looks = [None] * len(raw) if looks is None else [
        None if not np.isfinite(v).all() else np.asarray(v, np.float64) for v in np.asarray(looks, np.float64)
    ]
    return [Sighting(r, feet[i], float(heights[i]), hints[i], looks[i]) for i, r in enumerate(raw)]
