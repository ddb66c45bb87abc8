"""Late merges: an output ID mapped, after the fact, onto an earlier one of the same player.

* :class:`NumberMerges` -- when a track's jersey number is decided and an earlier output ID of the
  same team with the same number is not on screen now (and never was while this one was), the raw
  ID is mapped onto that earlier ID from then on (a fragment after a long occlusion, a
  substitution, or a camera cut);
* :class:`ReidAfterCut` -- after a camera cut the old shot's tracks can come back by appearance:
  once a track born after the cut has ``reid_samples`` appearance samples, the old shot's tracks of
  its team (when teams are known; all of them otherwise) are ranked by the distance of their
  running appearance to its own; it is merged onto the nearest when that one is within
  ``max_dist``, clearly nearer than the second (at most ``reid_ratio`` times its distance), not on
  screen, not back already since the new track began, and not of another number. A lone candidate
  is never taken by appearance alone: teammates in one kit look alike.

Both work in place on the frame's output IDs and on the books they were given
(:class:`~tracker.game.relink.ids.IdMap`, :class:`~tracker.game.relink.ids.SeenSpans`,
:class:`~tracker.game.relink.memory.TrackMemory`); the team and number look-ups come with each call
(``team(output_id)``, ``number_of(output_id)`` or None, ``teams_told``: teams are known at all).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracker.game.identity import LinkedId, RawId
from tracker.game.relink.ids import IdMap, SeenSpans
from tracker.game.relink.memory import LastSeen, TrackMemory

Lookup = Callable[[LinkedId], str | None]


class NumberMerges:
    """Late merges by jersey number (module docs); ``links``: ``(frame, raw_id, from_id, to_id)``."""

    def __init__(self, ids: IdMap, seen: SeenSpans) -> None:
        self.ids, self.seen = ids, seen
        self._by_number: dict[tuple[str | None, str], LinkedId] = {}  # (team, number) -> first output ID wearing it
        self._settled: set[LinkedId] = set()  # output IDs whose number was looked up
        self.links: list[tuple[int, RawId, LinkedId, LinkedId]] = []

    def run(self, frame_index: int, raw: list[RawId], out: np.ndarray, number_of: Lookup, team: Lookup,
            teams_told: bool) -> None:
        """Merge the rows of this frame (raw IDs ``raw``, output IDs ``out``, changed in place)."""
        on_screen = {int(o) for o in out if o >= 0}
        for i, o in enumerate(int(o) for o in out):
            if o < 0 or o in self._settled:
                continue
            number, its_team = number_of(o), team(o)
            if number is None or (its_team is None and teams_told):
                continue  # numbers are per team: wait for the team when teams are told
            self._settled.add(o)
            earlier = self._by_number.setdefault((its_team, number), o)
            first = self.seen.first.get(o, frame_index)
            if earlier == o or earlier in on_screen or self.seen.last.get(earlier, first) >= first:
                continue  # the same ID, or two players seen together: a misread, not one player
            self.ids.map[raw[i]] = earlier
            out[i] = earlier
            on_screen.add(earlier)
            self.seen.extend_back(earlier, first)
            self.links.append((frame_index, raw[i], o, earlier))


class ReidAfterCut:
    """Merges by appearance onto the tracks of the shots before the last cut (module docs);
    ``links``: ``(frame, raw_id, from_id, to_id)``."""

    def __init__(self, ids: IdMap, seen: SeenSpans, memory: TrackMemory, reid_samples: int, reid_ratio: float,
                 max_dist: float) -> None:
        self.ids, self.seen, self.memory = ids, seen, memory
        self.reid_samples, self.reid_ratio, self.max_dist = reid_samples, reid_ratio, max_dist
        self.old_shot: dict[LinkedId, LastSeen] = {}  # tracks seen before the last cut
        self._done: set[LinkedId] = set()  # output IDs born after a cut that were looked at
        self.links: list[tuple[int, RawId, LinkedId, LinkedId]] = []

    def cut(self) -> None:
        """A camera cut: every remembered track joins the old shots' candidates."""
        self.old_shot.update(self.memory.last)

    def ranked(self, last: LastSeen, team: Lookup, its_team: str | None,
               teams_told: bool) -> list[tuple[LinkedId, float]]:
        """The old shots' tracks (of ``its_team`` when teams are told), nearest running appearance to
        ``last``'s first."""
        dists: dict[LinkedId, float] = {}  # every old-shot player of his team, those back on screen too
        for c, seen in self.old_shot.items():
            if seen.looks.mean is not None and (not teams_told or team(c) == its_team):
                dists[c] = float(np.linalg.norm(last.looks.mean - seen.looks.mean))
        return sorted(dists.items(), key=lambda kv: kv[1])

    def run(self, frame_index: int, raw: list[RawId], out: np.ndarray, cut_frame: int, number_of: Lookup | None,
            team: Lookup, teams_told: bool) -> None:
        """Merge the rows of this frame (raw IDs ``raw``, output IDs ``out``, changed in place; the
        memory already holds this frame's sightings)."""
        if not self.old_shot:
            return
        on_screen = {int(o) for o in out if o >= 0}
        for i, o in enumerate(int(o) for o in out):
            last = self.memory.last.get(o)
            if o < 0 or o in self._done or o in self.old_shot or last is None or last.looks.mean is None \
                    or self.seen.first.get(o, frame_index) < cut_frame or last.looks.samples < self.reid_samples:
                continue
            self._done.add(o)
            its_team, number, first = team(o), (number_of(o) if number_of else None), self.seen.first[o]
            if its_team is None and teams_told:
                continue  # teams are told but this one's is unknown: no way to narrow the candidates
            ranked = self.ranked(last, team, its_team, teams_told)
            if len(ranked) < 2:
                continue
            (best, d1), (_, d2) = ranked[:2]
            theirs = number_of(best) if number_of else None
            if d1 > self.max_dist or d1 > self.reid_ratio * d2 \
                    or best in on_screen or self.seen.last.get(best, -1) >= first \
                    or (number is not None and theirs is not None and theirs != number):
                continue  # no clear winner, or the winner is on screen / back already / numbered otherwise
            self.ids.map[raw[i]] = best
            out[i] = best
            on_screen.add(best)
            self.seen.extend_back(best, first)
            self.seen.last[best] = frame_index
            self.memory.last[best] = self.memory.last.pop(o)
            self.links.append((frame_index, raw[i], o, best))
