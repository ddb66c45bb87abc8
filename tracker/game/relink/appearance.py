"""A track's remembered looks: the running mean of its clean appearance samples and a gallery of the last ones.

A sample is an appearance vector of one detection (e.g. :func:`tracker.game.teams.colours.appearance`);
it is *clean* when its team hint does not contradict the track's team (the caller decides): a box
that slid onto an opponent shows the other team's colours and would make the player's own look
refuse him when he comes back. A newcomer is compared with the few nearest gallery samples rather
than with the mean, because one player's torso changes with his pose (the back, the front with a
logo, in shade); and with a few of them (not one), so that one odd sample does not let a stranger in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Looks:
    """One track's looks on one frame.

    Attributes:
        mean: ``(D,)`` running mean of the clean samples (each new one weighs 0.1), None before the first.
        samples: clean samples seen.
        gallery: the last clean samples, each ``(D,)``, at most its ``maxlen``. One deque is shared by
            a track's successive :class:`Looks` (appended in place): it is the track's, the mean and the
            count are the frame's.
    """

    mean: np.ndarray | None = None
    samples: int = 0
    gallery: deque = field(default_factory=deque)

    @classmethod
    def empty(cls, gallery_size: int) -> Looks:
        """No sample yet; the gallery will keep the last ``gallery_size`` (0: none, the mean decides)."""
        return cls(None, 0, deque(maxlen=gallery_size))

    def with_sample(self, look: np.ndarray) -> Looks:
        """These looks with one more clean sample ``look`` ``(D,)`` (the gallery grows in place)."""
        self.gallery.append(look)
        return Looks(look if self.mean is None else 0.9 * self.mean + 0.1 * look, self.samples + 1, self.gallery)

    def comparable(self, look: np.ndarray | None) -> bool:
        """``look`` and these looks are both known and of one kind (same length)."""
        return look is not None and self.mean is not None and len(look) == len(self.mean)

    def distance(self, look: np.ndarray, nearest: int = 3) -> float:
        """Mean distance from ``look`` to the ``nearest`` closest gallery samples (to the running mean
        when the gallery is empty)."""
        if self.gallery:
            d = np.linalg.norm(np.asarray(self.gallery) - look, axis=1)
            return float(np.partition(d, nearest - 1)[:nearest].mean() if len(d) > nearest else d.mean())
        return float(np.linalg.norm(look - self.mean))
