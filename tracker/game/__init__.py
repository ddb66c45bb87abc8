"""Understand the game: who is on the floor (:mod:`.court`), teams and referees (:mod:`.teams`: colour
descriptors, team assignment), re-linked identities (:mod:`.relink`; the ID spaces and the per-detection
data keys in :mod:`.identity`), the ball and possession (:mod:`.ball`), and the tracking-quality report
(:mod:`.quality`)."""
