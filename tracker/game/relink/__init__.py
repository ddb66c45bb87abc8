"""Re-linking track IDs broken by occlusions (:class:`~tracker.game.relink.relinker.IdRelinker`), one
concept a module: :mod:`.sighting` (what a detection row tells), :mod:`.appearance` (a track's looks),
:mod:`.memory` (last sightings, moved with the camera), :mod:`.cost` (link cost and gates),
:mod:`.assignment` (joint matching, near ties refused), :mod:`.checks` (team swaps, revived tracks),
:mod:`.ids` (the ID books), :mod:`.merges` (late merges by number and after cuts), :mod:`.explain`
(what a newcomer is weighed against) and :mod:`.relinker` (the stage)."""
