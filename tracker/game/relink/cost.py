"""The cost of linking a newcomer to a lost track, and the gate that rules a pair out.

A pair is ruled out (cost inf) when the box heights differ by more than ``max_size_ratio``, when
the newcomer's team hint contradicts the lost track's team, when the lost track belongs to an
earlier shot (before a camera cut: positions say nothing), or when the looks differ by more than
``max_appearance_dist``. Otherwise the cost is the distance of the newcomer's feet from where the
lost track was heading (its velocity, for at most ``max_extrapolation`` frames of the gap) over the
allowed distance (``max_dist_rel + reach_per_frame * gap`` mean box heights), averaged with the
appearance distance over its limit when both looks are known. A cost of at most 1 may be linked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.game.relink.memory import LastSeen
from tracker.game.relink.sighting import Sighting


@dataclass(frozen=True)
class LinkCost:
    """The link cost's limits (see :class:`~tracker.game.relink.relinker.IdRelinker` for each)."""

    max_dist_rel: float = 0.75
    max_size_ratio: float = 1.5
    max_appearance_dist: float = 0.5
    reach_per_frame: float = 0.03
    max_extrapolation: int = 10
    gallery_nearest: int = 3

    def weigh(self, frame_index: int, new: Sighting, last: LastSeen, lost_team: str | None,
              cut_frame: int) -> tuple[float, str]:
        """``(cost, gate)`` of linking ``new`` on ``frame_index`` to the track last seen as ``last``
        (team ``lost_team``; ``cut_frame``: the last camera cut). ``gate`` names the test that rules
        the pair out or keeps its cost above 1 (``"size"``, ``"team"``, ``"cut"``, ``"appearance"``,
        ``"distance"``), ``""`` when it may be linked."""
        gap = frame_index - last.frame
        if max(new.height, last.height) > self.max_size_ratio * min(new.height, last.height):
            return np.inf, "size"
        if new.hint is not None and lost_team is not None and new.hint != lost_team:
            return np.inf, "team"
        if last.frame < cut_frame:
            return np.inf, "cut"  # another shot: positions say nothing
        predicted = last.feet + last.velocity * min(gap, self.max_extrapolation)
        allowed = self.max_dist_rel + self.reach_per_frame * gap
        scale = 0.5 * (new.height + last.height)
        cost = float(np.linalg.norm(new.feet - predicted) / scale / allowed)
        if last.looks.comparable(new.look):
            differ = last.looks.distance(new.look, self.gallery_nearest) / self.max_appearance_dist
            if differ > 1.0:
                return np.inf, "appearance"
            cost = 0.5 * (cost + differ)
        return cost, "distance" if cost > 1.0 else ""

    def cost(self, frame_index: int, new: Sighting, last: LastSeen, lost_team: str | None, cut_frame: int) -> float:
        """The cost alone (<= 1 to link, inf when ruled out; see :meth:`weigh`)."""
        return self.weigh(frame_index, new, last, lost_team, cut_frame)[0]
