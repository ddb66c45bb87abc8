"""Who is who: the three ID spaces a player goes through, and the keys of the per-detection extras.

A person on the floor is named three times on his way to the user:

1. :data:`RawId` -- the multi-object tracker's ``tracker_id``. A player hidden for longer
   than the tracker's lost-track buffer comes back under a new one, so one player may wear
   several raw IDs over a video (and a tracker may swap two players' IDs when they cross).
2. :data:`LinkedId` -- after :class:`~tracker.game.relink.relinker.IdRelinker`: a raw ID born near where
   a lost track vanished (same size, team and jersey) takes that track's ID back. Sparse:
   raw IDs passed through, plus fresh IDs from ``fresh_id_start`` (1 000 000) on.
3. :data:`PlayerId` -- what users see (boxes, JSON, CSV): dense, 1, 2, 3 ... in order of
   first appearance (:class:`pipeline.players.PlayerTracking` numbers them). Teams, possession,
   tubes and the label timeline are keyed by it.

The ``NewType`` s are for readers and type checkers (no cost at run time): a function taking a
``LinkedId`` must not be handed a ``PlayerId``. Arrays of IDs (``sv.Detections.tracker_id``) say
in their docstrings which space they hold.

``sv.Detections.data`` carries per-row extras between the stages under the keys below; this
module is the one place that names them.
"""

from __future__ import annotations

from typing import NewType

RawId = NewType("RawId", int)
"""A multi-object tracker's ``tracker_id`` (:class:`tracker.tracking.base.Tracker`)."""
LinkedId = NewType("LinkedId", int)
"""An ID after re-linking broken tracks (:class:`tracker.game.relink.relinker.IdRelinker`)."""
PlayerId = NewType("PlayerId", int)
"""The ID shown to users: dense, from 1, in order of first appearance."""

TEAM_HINT_KEY = "team_hint"
"""``(N,)`` object array: each row's team guessed from this frame alone (``"A"``, ``"B"``,
``"referee"``, or ``""`` when unknown; :meth:`~tracker.game.teams.assigner.TeamAssigner.classify`).
A cue for the re-linker, not the player's team."""
APPEARANCE_KEY = "appearance"
"""``(N, D)`` float: each row's appearance vector, NaN rows unknown
(:func:`~tracker.game.teams.colours.appearance`). A cue for the re-linker."""
TEAM_KEY = "team"
"""``(N,)`` object array: each row's team as decided over the player's track (``"A"``, ``"B"``,
``"referee"``, or ``""`` while undecided): what is drawn and exported."""
