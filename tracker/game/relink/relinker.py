"""Re-linking track IDs broken by occlusions: a stage right after the tracker.

When a player is hidden for longer than the tracker's lost-track buffer (or the
tracker fails to re-associate him), he comes back under a new ID and the
player's tube, actions and statistics split in two. :class:`IdRelinker` maps a
newly born tracker ID to a recently lost one when

* the new track starts near where the lost one vanished (feet point, after a short
  constant-velocity extrapolation), within ``max_dist_rel + reach_per_frame * gap``
  box heights -- the longer the gap, the further he may have moved;
* the gap is at most ``max_gap_frames``;
* the box heights are similar (ratio at most ``max_size_ratio``);
* the torso colours agree, when the caller puts per-detection appearance vectors in
  ``detections.data[APPEARANCE_KEY]`` (``(N, D)`` float, NaN rows unknown; e.g.
  :func:`tracker.game.teams.colours.appearance`): the distance between the new
  detection's vector and the ``gallery_nearest`` closest of the lost track's last ``gallery_size``
  *clean* samples (their mean distance) is at most ``max_appearance_dist``
  (:mod:`~tracker.game.relink.appearance`: a sample is clean when the row's team hint does not
  contradict the track's team);
* the teams agree, when both are known: the lost track's team comes from
  ``team_of(output_id)`` (e.g. :meth:`tracker.game.teams.assigner.TeamAssigner.team_of`, asked
  about this stage's output IDs), the new one's from ``detections.data[TEAM_HINT_KEY]`` when the
  caller puts a per-detection hint there (e.g. :meth:`tracker.game.teams.assigner.TeamAssigner.classify`).

These tests and the link cost are :mod:`~tracker.game.relink.cost`'s. Input IDs are
:data:`~tracker.game.identity.RawId` s (the tracker's), output IDs
:data:`~tracker.game.identity.LinkedId` s; the data keys are :mod:`tracker.game.identity`'s.

The team cue also works the other way (:mod:`~tracker.game.relink.checks`): when the tracker swaps
a track onto a player of the other team (two players crossing), the per-detection team hint
disagrees with ``team_of(output_id)`` frame after frame; after ``split_after`` such frames in a row
the raw ID is split off: it is treated as newly born -- re-linked to a lost track of its own team
nearby if there is one, else given a fresh ID -- and the old output ID becomes "lost", free to be
re-linked to the player it belonged to.

Jersey numbers (``number_of(output_id)``, e.g. :meth:`tracker.game.jersey.JerseyNumbers.number_of`,
and ``number_changed(output_id)`` -> the new number or None) sharpen this:

* two tracks whose decided numbers differ are never linked;
* a *late merge* (:mod:`~tracker.game.relink.merges`): when a track born without a link gets its
  number decided, and an earlier output ID of the same team with the same number is not on screen
  now (and never was while this one was), the raw ID is mapped onto that earlier ID from then on;
* a track whose number changes (the tracker swapped it onto another player) is split off like a
  team swap.

:meth:`IdRelinker.cut` marks a camera cut: the raw IDs of the old shot are forgotten (the tracker
restarts), the lost tracks' velocities are zeroed, and the lost tracks of the old shot can only come
back by a late merge, never by position: by number (above), or by appearance
(:class:`~tracker.game.relink.merges.ReidAfterCut`).

The camera (:mod:`~tracker.game.relink.memory`): when the caller passes the frame's camera motion
(``update(..., camera=A)``), every remembered position is moved with the picture; a track last seen
touching the frame's edge (``frame_size`` given) is remembered for ``max_gap_frames_edge`` frames
instead of ``max_gap_frames``.

A raw ID that the tracker brings back after ``recheck_after`` frames unseen is checked like a birth
against its own output ID (:func:`~tracker.game.relink.checks.revived_elsewhere`). When the check
fails the raw ID is split off (recorded in ``splits``) and treated as born.

Several births in one frame are matched to the lost tracks jointly, near ties left as fragments
(:mod:`~tracker.game.relink.assignment`). Mappings are stable, and an output ID is never worn twice
in a frame (:mod:`~tracker.game.relink.ids`). :meth:`IdRelinker.explain` says, for debugging, what
each new track would be weighed against and which test rules each pair out
(:mod:`~tracker.game.relink.explain`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import supervision as sv

from tracker.game.identity import LinkedId, RawId
from tracker.game.relink.assignment import confident_pairs
from tracker.game.relink.checks import TeamSwapWatch, revived_elsewhere
from tracker.game.relink.cost import LinkCost
from tracker.game.relink.explain import weigh_newcomers
from tracker.game.relink.ids import IdMap, SeenSpans
from tracker.game.relink.memory import TrackMemory, touches_edge
from tracker.game.relink.merges import NumberMerges, ReidAfterCut
from tracker.game.relink.sighting import Sighting, sightings


class IdRelinker:
    """Maps newly born tracker IDs onto recently lost ones (see the module docstring).

    Args:
        max_gap_frames: longest gap (frames) a lost track waits to be re-found. Raising it
            re-joins players hidden for longer (fewer broken IDs) but gives a newcomer more
            lost tracks to be wrongly joined to; lowering it re-links only brief losses.
        max_dist_rel: allowed distance at gap 0, in box heights. Raising it re-links
            players who moved further while hidden (and, wrongly, nearby strangers);
            lowering it links only births right where the lost track vanished.
        team_of: ``output_id -> team label or None``; None to ignore teams (then only
            the per-detection hints remembered for the lost track are compared).
        max_size_ratio: largest ratio between the two box heights. Raising it tolerates
            a crouch or a bad box; lowering it rules out more pairs (safer, fewer links).
        max_appearance_dist: largest distance between appearance vectors (the default
            suits :func:`tracker.game.teams.colours.appearance`, Hellinger distance).
            Raising it links players whose jerseys look less alike (lighting, motion blur;
            also teammates); lowering it insists on a close colour match.
        reach_per_frame: box heights the allowed distance grows per frame of gap. Raising
            it lets long gaps reach further; lowering it keeps the search near the last
            position however long the gap.
        max_extrapolation: frames of the lost track's velocity used to predict where
            it went (beyond that a player is assumed to have stopped or turned). Raising
            it trusts the last motion longer (good for straight runs, bad for turns).
        split_after: consecutive frames of team hints contradicting ``team_of`` after which
            a track is split (None: never). Raising it splits only long-lasting swaps (a
            few misread jerseys never split a track); lowering it corrects swaps sooner,
            at the risk of splitting a player whose jersey is misread for a moment.
        fresh_id_start: first ID given to a raw ID whose output ID was taken over; keep
            it above any ID the tracker will hand out.
        number_of, number_changed: jersey numbers by output ID (see the module docstring); None
            to ignore numbers.
        max_gap_frames_edge: how long a track last seen at the frame's edge is remembered
            (default three times ``max_gap_frames``). Raising it waits longer for players who
            left the picture; lowering it gives newcomers at the edge fewer old tracks to be
            joined to.
        recheck_after: a raw ID unseen for more than this many frames is checked against its
            own output ID when it comes back (None: never). Raising it trusts the tracker's
            re-activations for longer gaps; lowering it also checks short ones (a check can
            wrongly split a player who turned or crouched while hidden).
        reid_samples, reid_ratio: after a camera cut, appearance samples a new track needs
            before it may be merged onto an old-shot track, and the ratio between the nearest
            and second-nearest candidates' distances for that merge (see the module docstring).
            Raising ``reid_samples`` waits for a steadier appearance; lowering ``reid_ratio``
            demands a clearer winner (fewer merges, fewer wrong ones).
        gallery_size, gallery_nearest: clean appearance samples remembered per track, and how many
            of the closest a newcomer is compared with (mean distance). Raising ``gallery_size``
            remembers more of a player's views (pose, shade) and accepts a newcomer that looks like
            some of them; lowering it keeps only his latest looks (0: compare with the running mean,
            which the contradicted samples never enter either). Raising ``gallery_nearest`` demands
            that more of his views agree (closer to a mean: fewer links, fewer wrong ones); 1 lets a
            single odd sample decide.
        min_margin: a link is made only when no other pair of its row or column (another lost
            track for the newcomer, another newcomer for the lost track) costs less than its
            cost + ``min_margin``: a near tie between two players is left unlinked (a fragment),
            not guessed (a merge of two people). Raising it refuses more close calls.
    """

    def __init__(
        self,
        max_gap_frames: int = 60,
        max_dist_rel: float = 0.75,
        team_of: Callable[[LinkedId], str | None] | None = None,
        *,
        max_size_ratio: float = 1.5,
        max_appearance_dist: float = 0.5,
        reach_per_frame: float = 0.03,
        max_extrapolation: int = 10,
        split_after: int | None = 12,
        fresh_id_start: int = 1_000_000,
        number_of: Callable[[int], str | None] | None = None,
        number_changed: Callable[[int], str | None] | None = None,
        max_gap_frames_edge: int | None = None,
        recheck_after: int | None = 10,
        reid_samples: int = 8,
        reid_ratio: float = 0.6,
        min_margin: float = 0.1,
        gallery_size: int = 150,
        gallery_nearest: int = 3,
    ) -> None:
        self.team_of = team_of
        self.number_of = number_of
        self.number_changed = number_changed
        self.recheck_after = recheck_after
        self.min_margin = min_margin
        self.link_cost = LinkCost(max_dist_rel, max_size_ratio, max_appearance_dist, reach_per_frame,
                                  max_extrapolation, max(1, gallery_nearest))
        self.memory = TrackMemory(max_gap_frames, 3 * max_gap_frames if max_gap_frames_edge is None
                                  else max_gap_frames_edge, gallery_size)
        self.ids = IdMap(fresh_id_start)
        self.seen = SeenSpans()
        self.swaps = TeamSwapWatch(split_after)
        self.by_number = NumberMerges(self.ids, self.seen)
        self.reid = ReidAfterCut(self.ids, self.seen, self.memory, reid_samples, reid_ratio, 0.5 * max_appearance_dist)
        self._cut_frame = -1
        self.links: list[tuple[int, RawId, LinkedId]] = []
        """``(frame_index, new_raw_id, output_id)`` for every re-link made."""
        self.splits: list[tuple[int, RawId, LinkedId, LinkedId]] = []
        """``(frame_index, raw_id, old_output_id, new_output_id)`` for every split made."""
        self.cuts: list[int] = []
        """Frames where :meth:`cut` was called."""

    @property
    def number_links(self) -> list[tuple[int, RawId, LinkedId, LinkedId]]:
        """``(frame_index, raw_id, from_output_id, to_output_id)`` for every late merge by number."""
        return self.by_number.links

    @property
    def reid_links(self) -> list[tuple[int, RawId, LinkedId, LinkedId]]:
        """``(frame_index, raw_id, from_output_id, to_output_id)`` for every merge by appearance after a cut."""
        return self.reid.links

    @property
    def mapping(self) -> dict[RawId, LinkedId]:
        """raw tracker ID -> output ID, for the raw IDs currently mapped."""
        return dict(self.ids.map)

    def cut(self, frame_index: int) -> None:
        """A camera cut before ``frame_index``: forget every raw ID (the tracker restarts; a raw ID
        seen again is a new track) and link nothing to the old shot's tracks by position."""
        self.ids.restart()
        self.swaps.clear()
        self.memory.stop()
        self.reid.cut()
        self._cut_frame = int(frame_index)
        self.cuts.append(int(frame_index))

    def update(self, frame_index: int, detections: sv.Detections, camera: np.ndarray | None = None,
               frame_size: tuple[int, int] | None = None) -> sv.Detections:
        """One frame's tracked detections (``tracker_id``: raw IDs) -> the same rows with
        ``tracker_id`` remapped to linked IDs (negative IDs pass through).

        ``camera``: the ``(2, 3)`` camera motion from the previous frame into this one, or None
        (a still camera); ``frame_size``: ``(width, height)``, to know who left by the edge."""
        self.memory.move_with_camera(camera)
        if len(detections) == 0 or detections.tracker_id is None:
            return detections
        rows = sightings(detections)
        raw = [row.raw_id for row in rows]
        out, born, split_from = self._keep_or_split(frame_index, rows)
        in_use = {int(o) for i, o in enumerate(out) if i not in born}
        lost = self.memory.lost(frame_index, in_use, self._cut_frame)
        if born and lost:
            cost = self._cost_matrix(frame_index, rows, born, lost, split_from)
            for a, b in confident_pairs(cost, self.min_margin):
                i, o = born[a], lost[b]
                self.ids.link(raw[i], o, self.memory.last[o].raw_id)
                self.links.append((frame_index, raw[i], o))
        for i in born:
            out[i] = self.ids.give(raw[i])
        for i, old in split_from.items():
            self.splits.append((frame_index, raw[i], old, int(out[i])))
        if self.number_of is not None:
            self.by_number.run(frame_index, raw, out, self.number_of, self._team, self.team_of is not None)
        for i, o in enumerate(out):
            if o < 0:
                continue
            o = int(o)
            edge = touches_edge(detections.xyxy[i], frame_size)
            self.memory.see(frame_index, o, rows[i], self._team(o), edge, self._cut_frame)
            self.seen.see(o, frame_index)
        self.reid.run(frame_index, raw, out, self._cut_frame, self.number_of, self._team, self.team_of is not None)
        self.memory.expire(frame_index)

        result = detections[np.arange(len(detections))]
        result.tracker_id = out
        return result

    def _keep_or_split(self, frame_index: int, rows: list[Sighting]) -> tuple[np.ndarray, list[int], dict[int, int]]:
        """Output IDs of the rows whose raw ID keeps its own (negative raw IDs pass through); the
        rows born (new raw IDs, and those split off: team swap, changed number, revived on someone
        else); ``{row: the output ID it was split from}``. The born rows' output IDs are not set."""
        out = np.empty(len(rows), dtype=np.int64)
        born: list[int] = []
        split_from: dict[int, int] = {}
        for i, row in enumerate(rows):
            r, o = row.raw_id, self.ids.map.get(row.raw_id)
            if r < 0:
                out[i] = r
            elif o is not None and not self._contradicted(r, o, row.hint) and not self._renumbered(o) \
                    and not revived_elsewhere(frame_index, row, self.memory.last.get(o), self._team(o),
                                              self._cut_frame, self.recheck_after, self.link_cost):
                out[i] = o
            else:
                if o is not None:  # split off: born again, to be re-linked or given a fresh ID
                    split_from[i] = self.ids.map.pop(r)
                born.append(i)
        return out, born, split_from

    def _cost_matrix(self, frame_index: int, rows: list[Sighting], born: list[int], lost: list[LinkedId],
                     split_from: dict[int, int]) -> np.ndarray:
        """``(born, lost)`` link costs (:class:`~tracker.game.relink.cost.LinkCost`), inf for a row back
        onto the track it was just split from and for two different jersey numbers."""
        cost = np.full((len(born), len(lost)), np.inf)
        for a, i in enumerate(born):
            for b, o in enumerate(lost):
                if split_from.get(i) == o:
                    continue  # not back onto the track it was just split from
                cost[a, b] = self.link_cost.cost(frame_index, rows[i], self.memory.last[o], self._team(o),
                                                 self._cut_frame)
                number = self.number_changed(split_from[i]) if i in split_from and self.number_changed else None
                theirs = self.number_of(o) if number is not None else None
                if theirs is not None and theirs != number:
                    cost[a, b] = np.inf  # two different numbers: two players
        return cost

    def explain(self, frame_index: int, detections: sv.Detections, also: set[RawId] | None = None) -> list[dict]:
        """What :meth:`update` would weigh for the rows whose raw ID is new (call it just before
        :meth:`update` on the same rows, camera motion not applied): per such row, every
        remembered output ID not on screen with its gap, link cost and the gate that rules it out
        (``"gap"``, ``"cut"``, ``"size"``, ``"team"``, ``"appearance"``, ``"distance"``, or ``""``
        when it may be linked). ``also``: mapped raw IDs to weigh as if born (a raw ID that
        :meth:`update` may split off; its own output ID counts as on screen). For debugging and
        benchmarks; it changes nothing."""
        if len(detections) == 0 or detections.tracker_id is None:
            return []
        return weigh_newcomers(frame_index, sightings(detections), self.ids.map, self.memory, self.link_cost,
                               self._team, self._cut_frame, also or ())

    def _team(self, out_id: LinkedId) -> str | None:
        """``team_of(out_id)``, else the team hint last seen on it."""
        if self.team_of is not None:
            team = self.team_of(out_id)
            if team is not None:
                return team
        last = self.memory.last.get(out_id)
        return None if last is None else last.team_hint

    def _contradicted(self, raw_id: RawId, out_id: LinkedId, hint: str | None) -> bool:
        """True when the team hints have contradicted ``team_of(out_id)`` for ``split_after`` frames."""
        return self.swaps.contradicted(raw_id, None if self.team_of is None else self.team_of(out_id), hint)

    def _renumbered(self, out_id: LinkedId) -> bool:
        """True when ``out_id``'s jersey number changed (its raw ID is then split off)."""
        return self.number_changed is not None and self.number_changed(out_id) is not None
