"""The game-context recogniser: ball actions from the ball, possession, teams and motion -- no action weights.

The rules read the ball's path against the players' boxes over a short stretch of frames (the
frames already seen and the ``stride`` or more frames after the one being labelled, see below):

* a player *holds* the ball on a frame when it is within :attr:`BallRules.reach` body heights of
  his hands region (:func:`~tracker.game.ball.possession.hands_regions`), nearer than anybody else's (between
  two players close together, the one whose body centre is nearer; an opponent must be nearer by
  :attr:`BallRules.switch` to take it from the last holder), and moves with him (its speed relative
  to his box under :attr:`BallRules.slow` body heights per second: a ball flying past his hands is
  not his). Two holds of the same player are one possession when the ball stays near him or is
  unseen in between (up to :attr:`BallRules.bridge_s`): a dribble's bounce, a ball hidden by his
  body. A player the detector misses for up to ``bridge_s`` keeps his interpolated box;
* the *release* is his last frame with the ball still about him (within ``reach`` of his hands
  region raised by :attr:`BallRules.lift`: arms up) before it is seen away from him, followed on a
  ball's path (no jump further than :attr:`BallRules.max_speed` allows: a ball finder jumping to
  another object is no release). Then ``shoot`` when the ball goes more than :attr:`BallRules.lob`
  body heights above his head and no teammate holds it within :attr:`BallRules.catch_s`, labelled
  from the moment the ball was lifted above his shoulders up to the release; else ``pass``,
  labelled :attr:`BallRules.pass_pad_s` either side of the moment it left his hands;
* ``dribble`` -- the possessor while the ball is below his hips on its way to a bounce (it gets
  near the floor: below :attr:`BallRules.floor` of his box height) and back; bounces closer than
  :attr:`BallRules.dribble_gap_s` are one dribble;
* ``ball in hand`` -- the possessor otherwise;
* ``defense`` -- the opponent nearest the possessor, within ``defense_heights`` of his body height;
* everyone else: the motion recogniser's labels (:class:`~recognizer.kinematic.KinematicRecognizer`
  by default: ``run`` / ``walk`` / ``no_action``; or a checkpoint, see ``mode``).

The possessor here is the recogniser's own (the rules above, which look both ways in time): the
streaming :class:`~tracker.game.ball.possession.PossessionTracker` (``GameFrame.possessor``) must decide on
each frame as it comes, so it hands the ball over a few frames late.

Latency is bounded like the clip windows: for a window ending on frame ``t`` the context labels of
frames up to ``t - stride`` are given (each frame once per track), so a decision sees at least
``stride`` frames after it (a release is seen leaving; a pass caught further on is told from a shot
by the ball's way: a shot rises well above the shooter's head). The recogniser keeps the last
:attr:`BallRules.history_s` seconds of game frames it was shown, for the frames before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recognizer.base import ActionRecognizer, FrameBuffer, WindowPrediction
from recognizer.kinematic import KinematicRecognizer
from tracker.game.ball.possession import hands_regions
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


@dataclass(frozen=True)
class BallRules:
    """The rules' thresholds: distances in the player's body (box) heights, times in seconds.

    Attributes:
        reach: largest ball-to-hands-region distance of a holder. Raising it credits a ball a
            little way off (loose boxes; also a ball flying close by); lowering it asks for the
            ball in his hands.
        band, widen: the hands region (:func:`~tracker.game.ball.possession.hands_regions`) of a holder.
        lift: the ball is still *about* a player (not yet released) up to this much higher (arms
            raised for a shot or an overhead pass).
        switch: the last holder keeps a ball within his reach unless an opponent is nearer by this
            much (heights): a defender's hands on the ball do not take it (a teammate's hand-off does).
        slow: largest speed of the ball relative to its holder's box (heights per second) on a
            held frame. Raising it lets a ball flying past count as caught; lowering it misses
            holds of a jittery ball.
        bridge_s: longest stretch with the ball unseen or near him (not held) between two holds of
            one player that stays his possession. Raising it bridges longer occlusions (and may
            hide a quick give-and-go); lowering it splits possessions.
        leave_s: how soon after the last held frame the ball must be seen away from him for a release.
        follow_s: a release needs the ball followed this long (seen frames) after it, on a path
            without jumps.
        max_speed: fastest ball, body heights per second; a ball position further from the last is
            another object (a finder's jump), not the ball flying. Raising it trusts more jumps;
            lowering it breaks the path of fast passes.
        lob, catch_s: a release is a shot when the ball goes more than ``lob`` heights above his head
            within ``leave_s`` (higher than a pass lobbed over a defender) and no teammate holds it
            within ``catch_s`` (a rebound comes later).
        pass_pad_s: a pass is labelled this long either side of its release.
        shot_lead_s: the shot is labelled back to when the ball rose above the shoulders, at most
            this long before the release.
        shoulders: the shoulders' line (fraction of the box height from its top).
        hips, floor: a dribble is the ball below the hips (fraction of the box height from its top)
            on a way that gets below ``floor`` (near the feet: a bounce) and back.
        dribble_gap_s: bounces this close together are one dribble (the ball's moment in the hand
            between them included).
        history_s: seconds of game frames the recogniser keeps.
    """

    reach: float = 0.35
    band: tuple[float, float] = (0.2, 0.7)
    lift: float = 0.2
    switch: float = 0.15
    widen: float = 0.3
    slow: float = 3.0
    bridge_s: float = 1.0
    leave_s: float = 0.5
    follow_s: float = 0.1
    max_speed: float = 12.0
    catch_s: float = 1.0
    lob: float = 0.5
    pass_pad_s: float = 0.07
    shot_lead_s: float = 0.5
    shoulders: float = 0.2
    hips: float = 0.55
    floor: float = 0.75
    dribble_gap_s: float = 0.4
    history_s: float = 4.0


def _frames(n_seconds: float, fps: float) -> int:
    return max(1, int(round(n_seconds * fps)))


def ball_roles(frames: Sequence[GameFrame], fps: float, rules: BallRules = BallRules(),
               defense_heights: float = 1.5) -> dict[tuple[int, int], str]:
    """Ball roles over a stretch of consecutive game frames: ``{(player, frame): label}`` (see the module docs).

    Frames missing from the stretch count as frames without a ball. Players without a ball role
    on a frame are left out.
    """
    if not frames:
        return {}
    by_index = {g.frame_index: g for g in frames}
    lo, hi = min(by_index), max(by_index)
    n = hi - lo + 1
    empty = GameFrame(0, {})
    seq = [by_index.get(lo + i, empty) for i in range(n)]
    ball = np.full((n, 2), np.nan)
    for i, g in enumerate(seq):
        if g.ball_xy is not None:
            ball[i] = g.ball_xy
    pids = sorted({p for g in seq for p in g.players})
    boxes = np.full((len(pids), n, 4), np.nan)
    teams: dict[int, str | None] = {}
    for i, g in enumerate(seq):
        for j, p in enumerate(pids):
            if p in g.players:
                boxes[j, i] = g.players[p].xyxy
                teams[p] = g.players[p].team if g.players[p].team is not None else teams.get(p)
    _fill_gaps(boxes, _frames(rules.bridge_s, fps))
    height = np.maximum(boxes[..., 3] - boxes[..., 1], 1.0)  # (P, n), NaN where absent
    y_rel = (ball[None, :, 1] - boxes[..., 1]) / height  # ball height on the box, 0 top, 1 feet
    hold_dist = _region_distance(ball, boxes, height, rules.band, rules.widen)
    near_dist = _region_distance(ball, boxes, height, (rules.band[0] - rules.lift, rules.band[1]), rules.widen)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    rel = ball[None] - centre  # (P, n, 2)
    # a ball position further from the last one seen than a ball flies is another object (the
    # finder jumped): no path, and no speed, through it
    present = ~np.isnan(boxes[..., 0])
    scale = np.maximum(np.where(present, height, 0).sum(axis=0) / np.maximum(present.sum(axis=0), 1), 1.0)
    jump = np.zeros(n, bool)
    seen = np.flatnonzero(~np.isnan(ball[:, 0]))
    if len(seen) > 1:
        moved = np.linalg.norm(np.diff(ball[seen], axis=0), axis=1)
        jump[seen[1:]] = moved > rules.max_speed / fps * scale[seen[1:]] * np.diff(seen)
    # ball speed relative to each box (heights per second): the mean of the steps before and after
    # (one of them at the ends, next to unseen frames and jumps)
    step = np.diff(rel, axis=1)  # (P, n - 1, 2)
    step[:, jump[1:]] = np.nan
    around = np.full((len(pids), n, 2, 2), np.nan)
    around[:, 1:, 0], around[:, :-1, 1] = step, step
    ok = ~np.isnan(around[..., 0])
    mean = np.where(ok[..., None], around, 0).sum(axis=2) / np.maximum(ok.sum(axis=2), 1)[..., None]
    speed = np.where(ok.any(axis=2), np.linalg.norm(mean, axis=-1) / height * fps, np.nan)

    # nearest hands; between players close together (their widened regions overlap) the one whose
    # body is nearer: half the ball's sideways distance from the box centre is added. The last holder
    # keeps it unless an opponent is nearer by ``switch`` (hysteresis: a defender's hands on it; a
    # teammate close by takes it as soon as he is the nearer: a hand-off)
    safe = np.where(np.isnan(near_dist), np.inf, near_dist)
    cost = safe + 0.5 * np.where(np.isnan(rel[..., 0]), np.inf, np.abs(rel[..., 0]) / height)
    near = np.full(n, -1)  # index into pids of the player the ball is near, -1 none
    held = np.full(n, -1)
    last = -1
    for i in range(n if len(pids) else 0):
        k = int(np.argmin(cost[:, i]))
        if (last >= 0 and last != k and safe[last, i] <= rules.reach and cost[last, i] <= cost[k, i] + rules.switch
                and _opponents(teams.get(pids[last]), teams.get(pids[k]))):
            k = last
        if safe[k, i] <= rules.reach:
            near[i] = k
            if hold_dist[k, i] <= rules.reach and not speed[k, i] > rules.slow:  # NaN speed counts as slow
                held[i] = last = k

    # possessions: runs of held frames, bridged across stretches where the ball is near him or unseen
    bridge = _frames(rules.bridge_s, fps)
    holder = held.copy()
    last_i = -1
    for i in range(n):
        if held[i] < 0:
            continue
        if last_i >= 0 and held[last_i] == held[i] and 1 < i - last_i <= bridge + 1:
            gap = range(last_i + 1, i)
            if all(near[k] == held[i] or np.isnan(ball[k, 0]) for k in gap):
                holder[last_i + 1:i] = held[i]
        last_i = i

    runs: list[tuple[int, int, int]] = []  # (player index, first, last)
    for i in range(n):
        if holder[i] < 0:
            continue
        if runs and runs[-1][0] == holder[i] and runs[-1][2] == i - 1:
            runs[-1] = (runs[-1][0], runs[-1][1], i)
        else:
            runs.append((int(holder[i]), i, i))

    roles: dict[tuple[int, int], str] = {}
    events: dict[tuple[int, int], str] = {}
    leave_n, catch_n = _frames(rules.leave_s, fps), _frames(rules.catch_s, fps)
    follow = _frames(rules.follow_s, fps)
    pad, lead = _frames(rules.pass_pad_s, fps), _frames(rules.shot_lead_s, fps)
    for r, (j, a, b) in enumerate(runs):
        nxt = runs[r + 1] if r + 1 < len(runs) else None
        end = min(nxt[1] if nxt is not None else n, b + 1 + leave_n)
        e, out = b, None  # the release (the last sighting still about him), the first sighting away
        for k in range(b + 1, end):
            if np.isnan(ball[k, 0]):
                continue
            if near[k] != j:
                out = k
                break
            e = k
        if out is None or (nxt is not None and nxt[0] == j):
            continue  # not seen leaving him (yet), or he gets it back himself: no release
        path = [k for k in range(out, min(n, out + leave_n)) if not np.isnan(ball[k, 0])][:follow]
        if len(path) < follow or any(jump[k] for k in path):
            continue  # not followed leaving him on a ball's path (yet)
        runs[r] = (j, a, e)
        top = np.nanmin(boxes[j, max(a, e - lead):e + 1, 1])
        # a shot goes well above his head (higher than a pass lobbed over a defender) and is not
        # caught by a teammate soon after
        high = any(ball[k, 1] < top - rules.lob * height[j, e] for k in range(e + 1, min(end, e + 1 + leave_n)))
        caught = nxt is not None and nxt[1] - e <= catch_n and (teams.get(pids[j]) is None or
                                                               teams.get(pids[nxt[0]]) == teams.get(pids[j]))
        if high and not caught:
            start = e
            while start - 1 >= max(a, e - lead) and (np.isnan(ball[start - 1, 1]) or
                                                     y_rel[j, start - 1] < rules.shoulders):
                start -= 1
            for k in range(min(start, e - pad), e + 1):
                events[(j, k)] = "shoot"
        else:  # dated back to when the ball left his hands (it is some way off on his last near frame)
            left = next((k for k in range(e, b - 1, -1) if near_dist[j, k] <= rules.reach / 2), e)
            for k in range(left - pad, left + pad + 1):
                events[(j, k)] = "pass"

    gap = _frames(rules.dribble_gap_s, fps)
    for j, a, b in runs:
        for i in range(a, b + 1):
            roles[(j, i)] = "ball in hand"
        low = [i for i in range(a, b + 1) if y_rel[j, i] > rules.hips]  # below the hips
        bounces = [seg for seg in _segments(low) if np.nanmax(y_rel[j, seg]) > rules.floor]
        for k, seg in enumerate(bounces):
            first, last = max(a, seg[0] - 1), min(b, seg[-1] + 1)
            if k + 1 < len(bounces) and bounces[k + 1][0] - seg[-1] <= gap:  # the next bounce: still dribbling
                last = bounces[k + 1][0]
            for i in range(first, last + 1):
                roles[(j, i)] = "dribble"
    for (j, i), label in events.items():
        if 0 <= i < n and not np.isnan(boxes[j, i, 0]):
            roles[(j, i)] = label

    # the defender: the nearest opponent of the possessor
    for j, a, b in runs:
        team = teams.get(pids[j])
        if team not in ("A", "B"):
            continue
        for i in range(a, b + 1):
            hx, hy = centre[j, i, 0], boxes[j, i, 3]
            best, best_d = None, defense_heights * height[j, i]
            for k, p in enumerate(pids):
                if teams.get(p) in ("A", "B") and teams.get(p) != team and not np.isnan(boxes[k, i, 0]):
                    d = float(np.hypot(centre[k, i, 0] - hx, boxes[k, i, 3] - hy))
                    if d <= best_d:
                        best, best_d = k, d
            if best is not None and (best, i) not in roles:
                roles[(best, i)] = "defense"
    return {(pids[j], lo + i): label for (j, i), label in roles.items()}


def _region_distance(ball: np.ndarray, boxes: np.ndarray, height: np.ndarray, band: tuple[float, float],
                     widen: float) -> np.ndarray:
    """``(P, n)`` distance of the ball ``(n, 2)`` to each player's hands region (boxes ``(P, n, 4)``), in heights."""
    region = hands_regions(boxes.reshape(-1, 4), band, widen).reshape(boxes.shape)
    zero = np.zeros(height.shape)
    dx = np.maximum.reduce([region[..., 0] - ball[None, :, 0], zero, ball[None, :, 0] - region[..., 2]])
    dy = np.maximum.reduce([region[..., 1] - ball[None, :, 1], zero, ball[None, :, 1] - region[..., 3]])
    return np.hypot(dx, dy) / height


def _fill_gaps(boxes: np.ndarray, longest: int) -> None:
    """Interpolate each player's box ``(P, n, 4)`` across gaps of at most ``longest`` frames, in place: a
    player the detector misses for a moment (hidden by the man guarding him) is still there, ball and all."""
    for track in boxes:
        seen = np.flatnonzero(~np.isnan(track[:, 0]))
        for a, b in zip(seen[:-1], seen[1:]):
            if 1 < b - a <= longest + 1:
                w = ((np.arange(a + 1, b) - a) / (b - a))[:, None]
                track[a + 1:b] = (1 - w) * track[a] + w * track[b]


def _opponents(a: str | None, b: str | None) -> bool:
    return a in ("A", "B") and b in ("A", "B") and a != b


def _segments(indices: list[int]) -> list[list[int]]:
    """Consecutive runs of sorted integers."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][-1] == i - 1:
            out[-1].append(i)
        else:
            out.append([i])
    return out


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
        keep = _frames(self.rules.history_s, frames.fps)
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
