"""The game-context recogniser: ball actions from the ball, possession, teams and motion -- no action weights.

The ball roles (:func:`recognizer.ball_roles.ball_roles`, thresholds in
:class:`~recognizer.ball_roles.BallRules`) read the ball's path against the players' boxes over a
short stretch of frames (the frames already seen and the ``stride`` or more frames after the one
being labelled, see below): who holds the ball (``ball in hand``), ``dribble``, ``pass``, ``shoot``
and ``defense`` (the opponent nearest the possessor). Everyone else gets the motion recogniser's
labels (:class:`~recognizer.kinematic.KinematicRecognizer` by default: ``run`` / ``walk`` /
``no_action``; or a checkpoint, see ``mode``).

The possessor here is the recogniser's own (the rules above, which look both ways in time): the
streaming :class:`~tracker.game.ball.possession.PossessionTracker` (``GameFrame.possessor``) must decide on
each frame as it comes, so it hands the ball over a few frames late.

Latency is bounded like the clip windows: for a window ending on frame ``t`` the context labels of
frames up to ``t - stride`` are given (each frame once per track), so a decision sees at least
``stride`` frames after it (a release is seen leaving; a pass caught further on is told from a shot
by the ball's way: a shot rises well above the shooter's head). The recogniser keeps the last
:attr:`~recognizer.ball_roles.BallRules.history_s` seconds of game frames it was shown, for the frames before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recognizer.ball_roles import BallRules, ball_roles, seconds_to_frames
from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.kinematic import KinematicRecognizer
from tracker.tracking.tubes import ClipWindow

BALL_LABELS = ("dribble", "ball in hand", "pass", "shoot", "defense")
#: How the context and the motion recogniser combine (``--context-mode``).
MODES = ("ball-roles", "checkpoint")
#: Weight of a context label against the motion recogniser's windows on the same frame.
CONTEXT_WEIGHT = 100.0


@dataclass(frozen=True)
class PlayerState:
    """One player on one frame: box ``(x1, y1, x2, y2)`` pixels, team ``"A"``/``"B"``/None."""

    xyxy: tuple[float, float, float, float]
    team: str | None = None


@dataclass(frozen=True)
class GameFrame:
    """What the game looks like on one frame (the recogniser's context).

    Attributes:
        frame_index: the frame.
        players: tracked players (referees left out) by shown ID.
        ball_xy: ball centre in pixels, or None when lost.
        ball_state: ``"held"``, ``"flight"`` or ``"lost"``.
        possessor: the streaming possession tracker's holder ID, or None.
    """

    frame_index: int
    players: dict[int, PlayerState]
    ball_xy: tuple[float, float] | None = None
    ball_state: str = "lost"
    possessor: int | None = None


@dataclass
class GameContext:
    """Per-frame :class:`GameFrame` store, pruned as frames are finalised (about a window of frames)."""

    frames: dict[int, GameFrame] = field(default_factory=dict)

    def add(self, frame: GameFrame) -> None:
        self.frames[frame.frame_index] = frame

    def get(self, index: int) -> GameFrame | None:
        return self.frames.get(index)

    def prune(self, before: int) -> None:
        for k in [k for k in self.frames if k < before]:
            del self.frames[k]

    @property
    def last(self) -> int:
        return max(self.frames, default=-1)


class ContextRecognizer(ActionRecognizer):
    """Ball actions from the game context, motion labels for everyone else (see the module docs).

    Args:
        motion: the recogniser for players without a ball role (kinematic by default, or a checkpoint).
        mode: ``"ball-roles"`` (context labels for the possessor, passer, shooter and defender, the
            motion recogniser's for the rest) or ``"checkpoint"`` (the motion recogniser only; the
            context is ignored).
        rules: the thresholds of the ball rules (:class:`BallRules`).
        defense_heights: see the module docs.
    """

    def __init__(self, motion: ActionRecognizer | None = None, mode: str = "ball-roles",
                 rules: BallRules | None = None, defense_heights: float = 1.5) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.motion = motion or KinematicRecognizer()
        self.mode = mode
        self.decides_possession = mode == "ball-roles"  # one possessor a frame: ball_roles' possessions
        self.rules = rules or BallRules()
        self.defense_heights = defense_heights
        self.labels = list(self.motion.labels) + [b for b in BALL_LABELS if b not in self.motion.labels]
        self.window, self.stride = self.motion.window, self.motion.stride
        self.checkpoint_sha256 = self.motion.checkpoint_sha256
        motion_name = "speed" if isinstance(self.motion, KinematicRecognizer) else f"checkpoint ({self.motion.name})"
        self.name = f"game context: ball + possession + {motion_name}"
        self._emitted: dict[int, int] = {}
        self._seen: dict[int, GameFrame] = {}

    def reset(self) -> None:
        self.motion.reset()
        self._emitted.clear()
        self._seen.clear()

    def predict(self, windows: Sequence[ClipWindow], frames: FrameBuffer,
                context: GameContext | None = None) -> list[WindowPrediction]:
        index = {name: i for i, name in enumerate(self.labels)}
        out = []
        for w, p in zip(windows, self.motion.predict(windows, frames, context)):
            probs = np.zeros(len(self.labels), np.float32)
            probs[[index[n] for n in self.motion.labels]] = p.probs
            out.append(WindowPrediction(p.track_id, p.frame_indices, probs))
        if context is None or self.mode == "checkpoint" or not windows:
            return out
        self._seen.update(context.frames)
        keep = seconds_to_frames(self.rules.history_s, frames.fps)
        newest = max(self._seen, default=-1)
        for k in [k for k in self._seen if k < newest - keep]:
            del self._seen[k]
        roles = ball_roles(list(self._seen.values()), frames.fps, self.rules, self.defense_heights)
        for w in windows:
            start = self._emitted.get(w.track_id, -1)
            until = w.last_frame - self.stride
            for f in np.unique(w.frame_indices).tolist():
                if start < f <= until:
                    role = roles.get((w.track_id, f))
                    if role is not None:
                        probs = np.full(len(self.labels), 0.02 / max(len(self.labels) - 1, 1), np.float32)
                        probs[index[role]] = 0.98
                        out.append(WindowPrediction(w.track_id, np.array([f]), probs, weight=CONTEXT_WEIGHT))
            self._emitted[w.track_id] = max(start, until)
        return out
