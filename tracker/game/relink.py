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
  *clean* samples (their mean distance) is at most ``max_appearance_dist``. A sample is clean when the row's team hint does
  not contradict the track's team: a box that slid onto (or half onto) an opponent shows the
  other team's colours, and a running mean of such frames would refuse the real player when he
  comes back. The nearest few samples rather than a mean, because one player's torso changes
  with his pose (the back, the front with a logo, in shade): the gallery holds his views, and a
  few of them (not one) must agree, so that one odd sample does not let a stranger in;
* the teams agree, when both are known: the lost track's team comes from
  ``team_of(output_id)`` (e.g. :meth:`tracker.game.teams.assigner.TeamAssigner.team_of`, asked
  about this stage's output IDs), the new one's from ``detections.data[TEAM_HINT_KEY]`` when the
  caller puts a per-detection hint there (e.g. :meth:`tracker.game.teams.assigner.TeamAssigner.classify`).

Input IDs are :data:`~tracker.game.identity.RawId` s (the tracker's), output IDs
:data:`~tracker.game.identity.LinkedId` s; the data keys are :mod:`tracker.game.identity`'s.

The team cue also works the other way: when the tracker swaps a track onto a player
of the other team (two players crossing), the per-detection team hint disagrees with
``team_of(output_id)`` frame after frame; after ``split_after`` such frames in a row the
raw ID is split off: it is treated as newly born -- re-linked to a lost track of its
own team nearby if there is one, else given a fresh ID -- and the old output ID
becomes "lost", free to be re-linked to the player it belonged to.

Jersey numbers (``number_of(output_id)``, e.g. :meth:`tracker.game.jersey.JerseyNumbers.number_of`,
and ``number_changed(output_id)`` -> the new number or None) sharpen this:

* two tracks whose decided numbers differ are never linked;
* a *late merge*: when a track born without a link gets its number decided, and an earlier
  output ID of the same team with the same number is not on screen now (and never was while
  this one was), the raw ID is mapped onto that earlier ID from then on (a fragment after a
  long occlusion, a substitution, or a camera cut);
* a track whose number changes (the tracker swapped it onto another player) is split off like a
  team swap.

:meth:`IdRelinker.cut` marks a camera cut: the raw IDs of the old shot are forgotten (the tracker
restarts), the lost tracks' velocities are zeroed, and the lost tracks of the old shot can only come
back by a late merge, never by position: by number (above), or by appearance -- once a track born
after the cut has ``reid_samples`` appearance samples, the old shot's tracks of its team (when
teams are known; all of them otherwise) are ranked by the distance of their running appearance to
its own; it is merged onto the nearest when that one is within ``max_appearance_dist / 2``,
clearly nearer than the second (at most ``reid_ratio`` times its distance), not on screen, not
back already since the new track began, and not of another number. A lone candidate
is never taken by appearance alone: teammates in one kit look alike.

The camera: when the caller passes the frame's camera motion (``update(..., camera=A)``, the ``(2, 3)``
affine from the previous frame's pixels to this one's, e.g.
:class:`~tracker.tracking.camera_motion.CameraMotionEstimator`), every remembered position is moved
with the picture, so a lost player's last position stays on the same spot of the floor while the
camera pans, and velocities are the players' own motion on the floor. A track that was last seen
touching the frame's edge (``frame_size`` given) left the picture: it is remembered for
``max_gap_frames_edge`` frames instead of ``max_gap_frames`` (players walk out of a panning
broadcast view and back in).

A raw ID that the tracker brings back after ``recheck_after`` frames unseen is checked like a birth
against its own output ID (distance from the remembered position, size, appearance, team): the
tracker's lost-track buffer re-activates a track by its predicted box, which after a long gap may
be another player. When the check fails the raw ID is split off (recorded in ``splits``) and treated
as born.

Several births in one frame are matched to the lost tracks jointly (Hungarian
assignment; the cost is the distance over the allowed distance, averaged with the
appearance distance over its limit when appearance is known; a pair is linked when
its cost is at most 1 and no rival pair of the same newcomer or the same lost track
comes within ``min_margin`` of it: a near tie is left as a fragment rather than guessed).
Mappings are stable: once a raw ID maps to an output ID it keeps it. IDs that are not
relinked pass through unchanged; a raw ID whose output ID was handed to another raw ID
and that comes back anyway gets a fresh ID from ``fresh_id_start`` on, so an output ID
is never worn twice in a frame. :meth:`IdRelinker.explain` says, for debugging, what
each new track would be weighed against and which test rules each pair out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment

from tracker.game.identity import APPEARANCE_KEY, TEAM_HINT_KEY, LinkedId, RawId
from tracker.tracking.camera_motion import apply


@dataclass
class _LastSeen:
    frame: int
    feet: np.ndarray  # (2,) bottom-centre, pixels
    height: float
    velocity: np.ndarray  # (2,) pixels per frame, smoothed
    raw_id: RawId
    team_hint: str | None
    appearance: np.ndarray | None  # (D,) running mean of the clean samples, or None
    at_edge: bool = False  # the box touched the frame's edge
    samples: int = 0  # clean appearance samples in the running mean
    gallery: deque = field(default_factory=deque)  # the last clean samples, each (D,)

    def look_distance(self, look: np.ndarray, nearest: int = 3) -> float:
        """Mean distance from ``look`` to the ``nearest`` closest remembered clean samples (to the
        running mean when there are none)."""
        if self.gallery:
            d = np.linalg.norm(np.asarray(self.gallery) - look, axis=1)
            return float(np.partition(d, nearest - 1)[:nearest].mean() if len(d) > nearest else d.mean())
        return float(np.linalg.norm(look - self.appearance))


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
        self.max_gap_frames = max_gap_frames
        self.max_dist_rel = max_dist_rel
        self.team_of = team_of
        self.max_size_ratio = max_size_ratio
        self.max_appearance_dist = max_appearance_dist
        self.reach_per_frame = reach_per_frame
        self.max_extrapolation = max_extrapolation
        self.split_after = split_after
        self.number_of = number_of
        self.number_changed = number_changed
        self.max_gap_frames_edge = 3 * max_gap_frames if max_gap_frames_edge is None else max_gap_frames_edge
        self.recheck_after = recheck_after
        self.reid_samples = reid_samples
        self.reid_ratio = reid_ratio
        self.min_margin = min_margin
        self.gallery_size = gallery_size
        self.gallery_nearest = max(1, gallery_nearest)
        self._old_shot: dict[LinkedId, _LastSeen] = {}  # tracks seen before the last cut, for re-identification
        self._reid_done: set[LinkedId] = set()  # output IDs born after a cut that were looked at for a merge
        self._cut_frame = -1
        self._first: dict[LinkedId, int] = {}  # output ID -> first frame seen
        self._seen_last: dict[LinkedId, int] = {}  # output ID -> last frame seen (kept for good)
        self._by_number: dict[tuple[str | None, str], LinkedId] = {}  # (team, number) -> first output ID wearing it
        self._settled: set[LinkedId] = set()  # output IDs whose number was looked up for a late merge
        self._disagree: dict[RawId, int] = {}  # raw ID -> frames in a row its hint contradicted its team
        self._map: dict[RawId, LinkedId] = {}
        self._retired: set[RawId] = set()
        self._used: set[LinkedId] = set()  # every output ID handed out
        self._last: dict[LinkedId, _LastSeen] = {}
        self._next_fresh = fresh_id_start
        self.links: list[tuple[int, RawId, LinkedId]] = []
        """``(frame_index, new_raw_id, output_id)`` for every re-link made."""
        self.splits: list[tuple[int, RawId, LinkedId, LinkedId]] = []
        """``(frame_index, raw_id, old_output_id, new_output_id)`` for every split made."""
        self.number_links: list[tuple[int, RawId, LinkedId, LinkedId]] = []
        """``(frame_index, raw_id, from_output_id, to_output_id)`` for every late merge by number."""
        self.reid_links: list[tuple[int, RawId, LinkedId, LinkedId]] = []
        """``(frame_index, raw_id, from_output_id, to_output_id)`` for every merge by appearance after a cut."""
        self.cuts: list[int] = []
        """Frames where :meth:`cut` was called."""

    def cut(self, frame_index: int) -> None:
        """A camera cut before ``frame_index``: forget every raw ID (the tracker restarts; a raw ID
        seen again is a new track) and link nothing to the old shot's tracks by position."""
        self._retired.update(self._map)
        self._map.clear()
        self._disagree.clear()
        for last in self._last.values():
            last.velocity = np.zeros(2)  # no motion carries over a cut
        self._old_shot.update(self._last)
        self._cut_frame = int(frame_index)
        self.cuts.append(int(frame_index))

    @property
    def mapping(self) -> dict[RawId, LinkedId]:
        """raw tracker ID -> output ID, for the raw IDs currently mapped."""
        return dict(self._map)

    def _fresh(self) -> LinkedId:
        self._next_fresh += 1
        return LinkedId(self._next_fresh - 1)

    def _team(self, out_id: LinkedId) -> str | None:
        if self.team_of is not None:
            team = self.team_of(out_id)
            if team is not None:
                return team
        last = self._last.get(out_id)
        return None if last is None else last.team_hint

    def _contradicted(self, raw_id: RawId, out_id: LinkedId, hint: str | None) -> bool:
        """True when the team hints have contradicted ``team_of(out_id)`` for ``split_after`` frames."""
        team = None if self.team_of is None else self.team_of(out_id)
        if self.split_after is None or hint is None or team is None or hint == team:
            self._disagree.pop(raw_id, None)
            return False
        self._disagree[raw_id] = self._disagree.get(raw_id, 0) + 1
        if self._disagree[raw_id] < self.split_after:
            return False
        del self._disagree[raw_id]
        return True

    def _renumbered(self, out_id: int) -> bool:
        """True when ``out_id``'s jersey number changed (its raw ID is then split off)."""
        return self.number_changed is not None and self.number_changed(out_id) is not None

    def _merge_by_number(self, frame_index: int, raw: list[int], out: np.ndarray) -> None:
        """Late merges (see the module docstring), in place on ``out``."""
        if self.number_of is None:
            return
        on_screen = {int(o) for o in out if o >= 0}
        for i, o in enumerate(int(o) for o in out):
            if o < 0 or o in self._settled:
                continue
            number, team = self.number_of(o), self._team(o)
            if number is None or (team is None and self.team_of is not None):
                continue  # numbers are per team: wait for the team when teams are told
            self._settled.add(o)
            earlier = self._by_number.setdefault((team, number), o)
            first = self._first.get(o, frame_index)
            if earlier == o or earlier in on_screen or self._seen_last.get(earlier, first) >= first:
                continue  # the same ID, or two players seen together: a misread, not one player
            self._map[raw[i]] = earlier
            out[i] = earlier
            on_screen.add(earlier)
            self._first[earlier] = min(self._first.get(earlier, first), first)
            self.number_links.append((frame_index, raw[i], o, earlier))

    def _move_with_camera(self, camera: np.ndarray | None) -> None:
        """Carry every remembered position and velocity into this frame's pixels."""
        if camera is None:
            return
        a = np.asarray(camera, np.float64)
        scale = float(np.sqrt(abs(np.linalg.det(a[:, :2])))) or 1.0
        for last in self._last.values():
            last.feet = apply(a, last.feet)[0]
            last.velocity = a[:, :2] @ last.velocity
            last.height *= scale

    def _gap_limit(self, last: _LastSeen) -> int:
        return self.max_gap_frames_edge if last.at_edge else self.max_gap_frames

    def _rows(self, detections: sv.Detections):
        """Per row: raw IDs, feet ``(N, 2)``, heights ``(N,)``, team hints and appearance vectors."""
        raw = [int(t) for t in detections.tracker_id]
        feet = detections.get_anchors_coordinates(sv.Position.BOTTOM_CENTER).astype(np.float64)
        heights = np.maximum(detections.xyxy[:, 3] - detections.xyxy[:, 1], 1.0).astype(np.float64)
        hints = detections.data.get(TEAM_HINT_KEY) if detections.data else None
        hints = [None] * len(raw) if hints is None else [h if isinstance(h, str) and h else None for h in hints]
        looks = detections.data.get(APPEARANCE_KEY) if detections.data else None
        looks = [None] * len(raw) if looks is None else [
            None if not np.isfinite(v).all() else np.asarray(v, np.float64) for v in np.asarray(looks, np.float64)
        ]
        return raw, feet, heights, hints, looks

    def _returns_elsewhere(self, frame_index: int, out_id: LinkedId, feet, height, hint, look) -> bool:
        """True when the tracker brought a raw ID back after ``recheck_after`` frames onto someone
        its output ID's remembered player cannot be."""
        last = self._last.get(out_id)
        if self.recheck_after is None or last is None or frame_index - last.frame <= self.recheck_after:
            return False
        return not self._cost(frame_index, feet, height, hint, look, out_id) <= 1.0

    def update(self, frame_index: int, detections: sv.Detections, camera: np.ndarray | None = None,
               frame_size: tuple[int, int] | None = None) -> sv.Detections:
        """One frame's tracked detections (``tracker_id``: raw IDs) -> the same rows with
        ``tracker_id`` remapped to linked IDs (negative IDs pass through).

        ``camera``: the ``(2, 3)`` camera motion from the previous frame into this one, or None
        (a still camera); ``frame_size``: ``(width, height)``, to know who left by the edge."""
        self._move_with_camera(camera)
        if len(detections) == 0 or detections.tracker_id is None:
            return detections
        raw, feet, heights, hints, looks = self._rows(detections)

        out = np.empty(len(raw), dtype=np.int64)
        born: list[int] = []
        split_from: dict[int, int] = {}  # row -> the output ID it was split from
        for i, r in enumerate(raw):
            if r < 0:
                out[i] = r
            elif r in self._map and not self._contradicted(r, self._map[r], hints[i]) \
                    and not self._renumbered(self._map[r]) \
                    and not self._returns_elsewhere(frame_index, self._map[r], feet[i], heights[i], hints[i], looks[i]):
                out[i] = self._map[r]
            else:
                if r in self._map:  # split off: born again, to be re-linked or given a fresh ID
                    split_from[i] = self._map.pop(r)
                born.append(i)
        in_use = {int(o) for i, o in enumerate(out) if i not in born}
        lost = [
            o
            for o, last in self._last.items()
            if o not in in_use and 0 < frame_index - last.frame <= self._gap_limit(last)
            and last.frame >= self._cut_frame
        ]
        if born and lost:
            cost = np.full((len(born), len(lost)), np.inf)
            for a, i in enumerate(born):
                for b, o in enumerate(lost):
                    if split_from.get(i) == o:
                        continue  # not back onto the track it was just split from
                    cost[a, b] = self._cost(frame_index, feet[i], heights[i], hints[i], looks[i], o)
                    number = self.number_changed(split_from[i]) if i in split_from and self.number_changed else None
                    theirs = self.number_of(o) if number is not None else None
                    if theirs is not None and theirs != number:
                        cost[a, b] = np.inf  # two different numbers: two players
            finite = np.where(np.isfinite(cost), cost, 1e6)
            rows, cols = linear_sum_assignment(finite)
            for a, b in zip(rows, cols):
                others = np.concatenate([np.delete(cost[a], b), np.delete(cost[:, b], a)])
                if cost[a, b] <= 1.0 and not (others < cost[a, b] + self.min_margin).any():
                    i, o = born[a], lost[b]
                    old_raw = self._last[o].raw_id
                    if self._map.get(old_raw) == o:  # (it may have been split off and linked elsewhere since)
                        self._retired.add(old_raw)
                        self._map.pop(old_raw)  # if it comes back, it is born again
                    self._map[raw[i]] = o
                    self.links.append((frame_index, raw[i], o))
        for i in born:
            r = raw[i]
            if r not in self._map:
                self._map[r] = self._fresh() if r in self._retired or r in self._used else r
                self._used.add(self._map[r])
            out[i] = self._map[r]
        for i, old in split_from.items():
            self.splits.append((frame_index, raw[i], old, int(out[i])))
        self._merge_by_number(frame_index, raw, out)

        w, h = frame_size if frame_size is not None else (None, None)
        for i, o in enumerate(out):
            if o < 0:
                continue
            o = int(o)
            prev = self._last.get(o)
            velocity = np.zeros(2)
            if prev is not None and frame_index > prev.frame and prev.frame >= self._cut_frame:  # not across a cut
                step = (feet[i] - prev.feet) / (frame_index - prev.frame)
                velocity = 0.5 * prev.velocity + 0.5 * step if prev.raw_id == raw[i] else np.zeros(2)
            hint = hints[i] if hints[i] is not None else (prev.team_hint if prev is not None else None)
            look = prev.appearance if prev is not None else None
            samples = prev.samples if prev is not None else 0
            gallery = prev.gallery if prev is not None else deque(maxlen=self.gallery_size)
            team = self._team(o)
            if looks[i] is not None and (hints[i] is None or team is None or hints[i] == team):  # a clean sample
                look = looks[i] if look is None else 0.9 * look + 0.1 * looks[i]
                samples += 1
                if self.gallery_size > 0:
                    gallery.append(looks[i])
            x1, _, x2, y2 = (float(v) for v in detections.xyxy[i])
            edge = w is not None and (x1 <= 2 or x2 >= w - 2 or y2 >= h - 2)
            self._last[o] = _LastSeen(frame_index, feet[i], float(heights[i]), velocity, raw[i], hint, look,
                                      edge, samples, gallery)
            self._first.setdefault(o, frame_index)
            self._seen_last[o] = frame_index
        self._merge_by_appearance(frame_index, raw, out)
        for o in [o for o, last in self._last.items() if frame_index - last.frame > self._gap_limit(last)]:
            del self._last[o]

        result = detections[np.arange(len(detections))]
        result.tracker_id = out
        return result

    def _merge_by_appearance(self, frame_index: int, raw: list[int], out: np.ndarray) -> None:
        """After a cut: merges of new tracks onto old-shot ones by appearance (module docstring), in place."""
        if not self._old_shot:
            return
        on_screen = {int(o) for o in out if o >= 0}
        for i, o in enumerate(int(o) for o in out):
            last = self._last.get(o)
            if o < 0 or o in self._reid_done or o in self._old_shot or last is None or last.appearance is None \
                    or self._first.get(o, frame_index) < self._cut_frame or last.samples < self.reid_samples:
                continue
            self._reid_done.add(o)
            team, number, first = self._team(o), (self.number_of(o) if self.number_of else None), self._first[o]
            if team is None and self.team_of is not None:
                continue  # teams are told but this one's is unknown: no way to narrow the candidates
            dists: dict[LinkedId, float] = {}  # every old-shot player of his team, those back on screen too
            for c, seen in self._old_shot.items():
                if seen.appearance is not None and (self.team_of is None or self._team(c) == team):
                    dists[c] = float(np.linalg.norm(last.appearance - seen.appearance))
            if len(dists) < 2:
                continue
            (best, d1), (_, d2) = sorted(dists.items(), key=lambda kv: kv[1])[:2]
            theirs = self.number_of(best) if self.number_of else None
            if d1 > 0.5 * self.max_appearance_dist or d1 > self.reid_ratio * d2 \
                    or best in on_screen or self._seen_last.get(best, -1) >= first \
                    or (number is not None and theirs is not None and theirs != number):
                continue  # no clear winner, or the winner is on screen / back already / numbered otherwise
            self._map[raw[i]] = best
            out[i] = best
            on_screen.add(best)
            self._first[best] = min(self._first.get(best, first), first)
            self._seen_last[best] = frame_index
            self._last[best] = self._last.pop(o)
            self.reid_links.append((frame_index, raw[i], o, best))

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
        raw, feet, heights, hints, looks = self._rows(detections)
        on_screen = {self._map[r] for r in raw if r in self._map}
        answer = []
        for i, r in enumerate(raw):
            if r < 0 or (r in self._map and r not in (also or ())):
                continue
            options = []
            for o, last in self._last.items():
                if o in on_screen:
                    continue
                gap = frame_index - last.frame
                cost = self._cost(frame_index, feet[i], heights[i], hints[i], looks[i], o)
                gate = "gap" if gap > self._gap_limit(last) else "cut" if last.frame < self._cut_frame else ""
                if not gate:
                    gate = self._gate(frame_index, feet[i], heights[i], hints[i], looks[i], o) if cost > 1 else ""
                options.append({"output_id": o, "gap": gap, "cost": round(cost, 2), "gate": gate,
                                "dist_px": round(float(np.linalg.norm(feet[i] - last.feet)), 1)})
            answer.append({"row": i, "raw_id": r, "feet": [round(float(v), 1) for v in feet[i]],
                           "hint": hints[i], "options": sorted(options, key=lambda d: d["cost"])})
        return answer

    def _gate(self, frame_index, feet, height, hint, look, out_id) -> str:
        """Which test rules a pair out (for :meth:`explain`)."""
        last = self._last[out_id]
        if max(height, last.height) > self.max_size_ratio * min(height, last.height):
            return "size"
        lost_team = self._team(out_id)
        if hint is not None and lost_team is not None and hint != lost_team:
            return "team"
        if look is not None and last.appearance is not None and len(look) == len(last.appearance) \
                and last.look_distance(look, self.gallery_nearest) > self.max_appearance_dist:
            return "appearance"
        return "distance"

    def _cost(
        self, frame_index: int, feet: np.ndarray, height: float, hint: str | None, look: np.ndarray | None,
        out_id: LinkedId,
    ) -> float:
        """Link cost (<= 1 to link), inf when the pair is ruled out."""
        last = self._last[out_id]
        gap = frame_index - last.frame
        if max(height, last.height) > self.max_size_ratio * min(height, last.height):
            return np.inf
        lost_team = self._team(out_id)
        if hint is not None and lost_team is not None and hint != lost_team:
            return np.inf
        if last.frame < self._cut_frame:
            return np.inf  # another shot: positions say nothing
        predicted = last.feet + last.velocity * min(gap, self.max_extrapolation)
        allowed = self.max_dist_rel + self.reach_per_frame * gap
        scale = 0.5 * (height + last.height)
        cost = float(np.linalg.norm(feet - predicted) / scale / allowed)
        if look is not None and last.appearance is not None and len(look) == len(last.appearance):
            differ = last.look_distance(look, self.gallery_nearest) / self.max_appearance_dist
            if differ > 1.0:
                return np.inf
            cost = 0.5 * (cost + differ)
        return cost
