"""Checks of a raw ID that keeps its output ID: is the tracker still on the same player?

* :class:`TeamSwapWatch` -- when the tracker swaps a track onto a player of the other team (two
  players crossing), the per-detection team hint contradicts the output ID's team frame after frame;
  after ``split_after`` such frames in a row the raw ID is to be split off;
* :func:`revived_elsewhere` -- the tracker's lost-track buffer re-activates a track by its predicted
  box, which after a long gap may be another player: a raw ID back after more than ``recheck_after``
  frames unseen is weighed like a newcomer against its own output ID's memory.

(A jersey number that changes splits a raw ID off too: ``number_changed``, see
:class:`~tracker.game.relink.relinker.IdRelinker`.)
"""

from __future__ import annotations

from tracker.game.identity import RawId
from tracker.game.relink.cost import LinkCost
from tracker.game.relink.memory import LastSeen
from tracker.game.relink.sighting import Sighting


class TeamSwapWatch:
    """Counts, per raw ID, the frames in a row its team hint contradicted its output ID's team;
    ``split_after`` None: never split."""

    def __init__(self, split_after: int | None) -> None:
        self.split_after = split_after
        self._disagree: dict[RawId, int] = {}

    def contradicted(self, raw_id: RawId, team: str | None, hint: str | None) -> bool:
        """True when ``hint`` (this frame's) has contradicted ``team`` (the output ID's, None when
        unknown) for ``split_after`` frames in a row; the count then starts again."""
        if self.split_after is None or hint is None or team is None or hint == team:
            self._disagree.pop(raw_id, None)
            return False
        self._disagree[raw_id] = self._disagree.get(raw_id, 0) + 1
        if self._disagree[raw_id] < self.split_after:
            return False
        del self._disagree[raw_id]
        return True

    def clear(self) -> None:
        """Forget every count (a camera cut: every raw ID is new)."""
        self._disagree.clear()


def revived_elsewhere(frame_index: int, row: Sighting, last: LastSeen | None, lost_team: str | None,
                      cut_frame: int, recheck_after: int | None, cost: LinkCost) -> bool:
    """True when ``row``'s raw ID, back after more than ``recheck_after`` frames unseen (None: never
    checked), is on someone its output ID's remembered player (``last``, team ``lost_team``) cannot
    be: the link cost (:class:`~tracker.game.relink.cost.LinkCost`) is above 1."""
    if recheck_after is None or last is None or frame_index - last.frame <= recheck_after:
        return False
    return not cost.cost(frame_index, row, last, lost_team, cut_frame) <= 1.0
