"""What the re-linker would weigh for each new track (for debugging and benchmarks; changes nothing)."""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from tracker.game.identity import LinkedId, RawId
from tracker.game.relink.cost import LinkCost
from tracker.game.relink.memory import TrackMemory
from tracker.game.relink.sighting import Sighting


def weigh_newcomers(frame_index: int, rows: list[Sighting], mapping: dict[RawId, LinkedId], memory: TrackMemory,
                    cost: LinkCost, team: Callable[[LinkedId], str | None], cut_frame: int,
                    also: Collection[RawId] = ()) -> list[dict]:
    """Per row whose raw ID is not in ``mapping`` (or is in ``also``: weighed as if born, its own
    output ID counting as on screen): every remembered output ID not on screen with its gap, link
    cost, feet distance and the gate that rules it out (``"gap"``, ``"cut"``, or :meth:`LinkCost.weigh`'s;
    ``""`` when it may be linked), cheapest first."""
    on_screen = {mapping[r.raw_id] for r in rows if r.raw_id in mapping}
    answer = []
    for i, row in enumerate(rows):
        if row.raw_id < 0 or (row.raw_id in mapping and row.raw_id not in also):
            continue
        options = []
        for o, last in memory.last.items():
            if o in on_screen:
                continue
            gap = frame_index - last.frame
            value, why = cost.weigh(frame_index, row, last, team(o), cut_frame)
            gate = "gap" if gap > memory.gap_limit(last) else "cut" if last.frame < cut_frame else ""
            gate = gate or why
            options.append({"output_id": o, "gap": gap, "cost": round(value, 2), "gate": gate,
                            "dist_px": round(float(np.linalg.norm(row.feet - last.feet)), 1)})
        answer.append({"row": i, "raw_id": row.raw_id, "feet": [round(float(v), 1) for v in row.feet],
                       "hint": row.hint, "options": sorted(options, key=lambda d: d["cost"])})
    return answer
