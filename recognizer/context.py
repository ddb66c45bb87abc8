"""The game-context recogniser: ball actions from the ball, possession, teams and motion -- no action weights.

Per player and frame, in SpaceJam's names:

* ``dribble`` -- the possessor, while the ball went below :data:`DRIBBLE_LOW` of his box height
  (near the floor) within ``dribble_frames`` frames either side;
* ``ball in hand`` -- the possessor otherwise;
* ``pass`` / ``shoot`` -- the possessor over ``release_frames`` either side of the frame the ball
  leaves him (he holds it, the next frames nobody or somebody else does and the ball is in
  flight): ``shoot`` when the ball rises above his head within the frames known, else ``pass``;
* ``defense`` -- the opponent nearest the possessor, within ``defense_heights`` of his body height;
* everyone else: the motion recogniser's labels (:class:`~recognizer.kinematic.KinematicRecognizer`
  by default: ``run`` / ``walk`` / ``no_action``; or a checkpoint, see ``mode``).

Latency is bounded like the clip windows: for a window ending on frame ``t`` the context labels of
frames up to ``t - stride`` are given (each frame once per track), so a decision sees at least
``stride`` frames after it -- enough to see a shot rise, not always to see a pass caught (a pass
is labelled at its release whoever catches it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.kinematic import KinematicRecognizer
from tracker.tracking.tubes import ClipWindow

BALL_LABELS = ("dribble", "ball in hand", "pass", "shoot", "defense")
#: Ball centre below this fraction of the possessor's box height (from the top): a bounce.
DRIBBLE_LOW = 0.72
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
        possessor: the ball holder's ID, or None.
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
        release_frames, dribble_frames, defense_heights: see the module docs.
    """

    def __init__(self, motion: ActionRecognizer | None = None, mode: str = "ball-roles", release_frames: int = 4,
                 dribble_frames: int = 10, defense_heights: float = 1.5) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.motion = motion or KinematicRecognizer()
        self.mode = mode
        self.release_frames, self.dribble_frames, self.defense_heights = release_frames, dribble_frames, defense_heights
        self.labels = list(self.motion.labels) + [b for b in BALL_LABELS if b not in self.motion.labels]
        self.window, self.stride = self.motion.window, self.motion.stride
        self.checkpoint_sha256 = self.motion.checkpoint_sha256
        motion_name = "speed" if isinstance(self.motion, KinematicRecognizer) else f"checkpoint ({self.motion.name})"
        self.name = f"game context: ball + possession + {motion_name}"
        self._emitted: dict[int, int] = {}

    def reset(self) -> None:
        self.motion.reset()
        self._emitted.clear()

    def predict(self, windows: Sequence[ClipWindow], frames: FrameBuffer,
                context: GameContext | None = None) -> list[WindowPrediction]:
        index = {name: i for i, name in enumerate(self.labels)}
        out = []
        for w, p in zip(windows, self.motion.predict(windows, frames, context)):
            probs = np.zeros(len(self.labels), np.float32)
            probs[[index[n] for n in self.motion.labels]] = p.probs
            out.append(WindowPrediction(p.track_id, p.frame_indices, probs))
        if context is None or self.mode == "checkpoint":
            return out
        for w in windows:
            start = self._emitted.get(w.track_id, -1)
            until = w.last_frame - self.stride
            for f in np.unique(w.frame_indices).tolist():
                if start < f <= until:
                    role = self.role(w.track_id, f, context)
                    if role is not None:
                        probs = np.full(len(self.labels), 0.02 / max(len(self.labels) - 1, 1), np.float32)
                        probs[index[role]] = 0.98
                        out.append(WindowPrediction(w.track_id, np.array([f]), probs, weight=CONTEXT_WEIGHT))
            self._emitted[w.track_id] = max(start, until)
        return out

    def role(self, player: int, f: int, context: GameContext) -> str | None:
        """The ball role of ``player`` on frame ``f`` (one of :data:`BALL_LABELS`), or None."""
        g = context.get(f)
        if g is None or player not in g.players:
            return None
        release = self._release_near(player, f, context)
        if release is not None:
            return release
        if g.possessor == player:
            for k in range(f - self.dribble_frames, f + self.dribble_frames + 1):
                gk = context.get(k)
                if gk is None or gk.possessor != player or gk.ball_xy is None or player not in gk.players:
                    continue
                bk = gk.players[player].xyxy
                if (gk.ball_xy[1] - bk[1]) / max(bk[3] - bk[1], 1.0) >= DRIBBLE_LOW:
                    return "dribble"
            return "ball in hand"
        if g.possessor is not None and g.possessor in g.players:
            return "defense" if self._nearest_opponent(g) == player else None
        return None

    def _release_near(self, player: int, f: int, context: GameContext) -> str | None:
        """``"pass"``/``"shoot"`` when ``player`` releases the ball within ``release_frames`` of ``f``."""
        r = self.release_frames
        for k in range(f - r, f + r + 1):
            a, b = context.get(k), context.get(k + 1)
            if a is None or b is None or a.possessor != player or b.possessor == player:
                continue
            after = [context.get(j) for j in range(k + 1, k + 1 + 2 * r)]
            after = [g for g in after if g is not None]
            if not any(g.ball_state == "flight" for g in after) or player not in a.players:
                continue
            top = a.players[player].xyxy[1]
            rises = any(g.ball_xy is not None and g.ball_xy[1] < top and g.possessor is None
                        for g in [context.get(j) for j in range(k + 1, context.last + 1)] if g is not None)
            return "shoot" if rises else "pass"
        return None

    def _nearest_opponent(self, g: GameFrame) -> int | None:
        holder = g.players[g.possessor]
        if holder.team not in ("A", "B"):
            return None
        hx, hy = (holder.xyxy[0] + holder.xyxy[2]) / 2, holder.xyxy[3]
        reach = self.defense_heights * max(holder.xyxy[3] - holder.xyxy[1], 1.0)
        best, best_d = None, reach
        for pid, p in g.players.items():
            if p.team in ("A", "B") and p.team != holder.team:
                d = float(np.hypot((p.xyxy[0] + p.xyxy[2]) / 2 - hx, p.xyxy[3] - hy))
                if d <= best_d:
                    best, best_d = pid, d
        return best
