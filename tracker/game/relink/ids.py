"""The re-linker's ID books: which output ID each raw ID wears, and when each output ID was seen.

Mappings are stable: once a raw ID maps to an output ID it keeps it (until it is split off or a
cut restarts the tracker). IDs that are not re-linked pass through unchanged; a raw ID whose output
ID was handed to another raw ID and that comes back anyway (a *retired* raw ID), or whose number is
already worn, gets a fresh ID from ``fresh_id_start`` on, so an output ID is never worn twice in a
frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracker.game.identity import LinkedId, RawId


class IdMap:
    """Raw ID -> output ID, with the raw IDs retired and the output IDs handed out."""

    def __init__(self, fresh_id_start: int) -> None:
        self.map: dict[RawId, LinkedId] = {}
        self.retired: set[RawId] = set()
        self.used: set[LinkedId] = set()  # every output ID handed out
        self._next_fresh = fresh_id_start

    def fresh(self) -> LinkedId:
        """A new output ID."""
        self._next_fresh += 1
        return LinkedId(self._next_fresh - 1)

    def give(self, raw_id: RawId) -> LinkedId:
        """``raw_id``'s output ID; an unmapped one gets its own number, or a fresh ID when that is
        retired or already handed out."""
        if raw_id not in self.map:
            self.map[raw_id] = self.fresh() if raw_id in self.retired or raw_id in self.used else LinkedId(raw_id)
            self.used.add(self.map[raw_id])
        return self.map[raw_id]

    def link(self, raw_id: RawId, out_id: LinkedId, old_raw_id: RawId) -> None:
        """``raw_id`` takes over ``out_id``, last worn by ``old_raw_id``: that one is retired (if it
        comes back, it is born again) unless it was mapped elsewhere since."""
        if self.map.get(old_raw_id) == out_id:
            self.retired.add(old_raw_id)
            self.map.pop(old_raw_id)
        self.map[raw_id] = out_id

    def restart(self) -> None:
        """A camera cut: the tracker restarts, every raw ID of the old shot is retired."""
        self.retired.update(self.map)
        self.map.clear()


@dataclass
class SeenSpans:
    """Each output ID's first and last frame seen (kept for good)."""

    first: dict[LinkedId, int] = field(default_factory=dict)
    last: dict[LinkedId, int] = field(default_factory=dict)

    def see(self, out_id: LinkedId, frame_index: int) -> None:
        self.first.setdefault(out_id, frame_index)
        self.last[out_id] = frame_index

    def extend_back(self, out_id: LinkedId, first: int) -> None:
        """``out_id`` (merged with a track first seen on ``first``) counts as seen from then."""
        self.first[out_id] = min(self.first.get(out_id, first), first)
