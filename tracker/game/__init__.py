"""Understand the game: who is on the floor, teams and referees, re-linked identities, the ball and possession,
and the tracking-quality report."""
