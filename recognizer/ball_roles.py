"""Ball roles: who holds, dribbles, passes, shoots and defends, from the ball's path against the players' boxes.

The rules read a short stretch of consecutive game frames (:class:`~recognizer.context.GameFrame`),
laid out as arrays by :class:`~recognizer.ball_stretch.Stretch`, each rule one function, chained by
:func:`ball_roles`:

* :func:`~recognizer.ball_stretch.ball_jumps` -- a ball position further from the last one than
  :attr:`BallRules.max_speed` allows is another object (the ball finder jumped), not the ball flying;
* :func:`~recognizer.ball_stretch.relative_speed` -- the ball's speed relative to each player's box;
* :func:`nearest_and_held` -- a player *holds* the ball on a frame when it is within
  :attr:`BallRules.reach` body heights of his hands region
  (:func:`~tracker.game.ball.possession.hands_regions`), nearer than anybody else's (between two
  players close together, the one whose body centre is nearer; an opponent must be nearer by
  :attr:`BallRules.switch` to take it from the last holder), and moves with him (its speed relative
  to his box under :attr:`BallRules.slow` body heights per second: a ball flying past his hands is
  not his). A player the detector misses for up to ``bridge_s`` keeps his interpolated box
  (:func:`~recognizer.ball_stretch.fill_gaps`);
* :func:`bridge_holds`, :func:`possessions` -- two holds of the same player are one possession when
  the ball stays near him or is unseen in between (up to :attr:`BallRules.bridge_s`): a dribble's
  bounce, a ball hidden by his body;
* :func:`release` -- the *release* is his last frame with the ball still about him (within ``reach``
  of his hands region raised by :attr:`BallRules.lift`: arms up) before it is seen away from him,
  followed on a ball's path (:func:`followed_away`: no jump, see above);
* :func:`is_shot` -- then ``shoot`` when the ball goes more than :attr:`BallRules.lob` body heights
  above his head and no teammate holds it within :attr:`BallRules.catch_s`, labelled from the moment
  the ball was lifted above his shoulders up to the release (:func:`shot_frames`); else ``pass``,
  labelled :attr:`BallRules.pass_pad_s` either side of the moment it left his hands
  (:func:`pass_frames`);
* :func:`dribble_frames` -- ``dribble``: the possessor while the ball is below his hips on its way to
  a bounce (it gets near the floor: below :attr:`BallRules.floor` of his box height) and back;
  bounces closer than :attr:`BallRules.dribble_gap_s` are one dribble;
* ``ball in hand`` -- the possessor otherwise;
* :func:`defender` -- ``defense``: the opponent nearest the possessor, within ``defense_heights`` of
  his body height.

Everyone else gets no ball role (the context recogniser gives them the motion recogniser's labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from recognizer.ball_stretch import Stretch, ball_jumps, relative_speed

if TYPE_CHECKING:  # recognizer.context imports this module
    from recognizer.context import GameFrame


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


def seconds_to_frames(n_seconds: float, fps: float) -> int:
    """``n_seconds`` in frames at ``fps``, at least one."""
    return max(1, int(round(n_seconds * fps)))


@dataclass(frozen=True)
class Spans:
    """The :class:`BallRules` times in frames at one frame rate (see :class:`BallRules` for each)."""

    bridge: int
    leave: int
    follow: int
    catch: int
    pass_pad: int
    shot_lead: int
    dribble_gap: int

    @classmethod
    def of(cls, rules: BallRules, fps: float) -> Spans:
        return cls(*(seconds_to_frames(s, fps) for s in (
            rules.bridge_s, rules.leave_s, rules.follow_s, rules.catch_s, rules.pass_pad_s, rules.shot_lead_s,
            rules.dribble_gap_s)))


class Run(NamedTuple):
    """One possession: player row ``player`` holds the ball from frame row ``first`` to ``last``."""

    player: int
    first: int
    last: int


def nearest_and_held(s: Stretch, near_dist: np.ndarray, hold_dist: np.ndarray, speed: np.ndarray,
                     rules: BallRules) -> tuple[np.ndarray, np.ndarray]:
    """Per frame row, the player row the ball is near and the one holding it (``(n,)`` each, -1 none).

    Near: the nearest raised hands region (``near_dist``) within ``rules.reach``; between players
    close together the one whose body is nearer (half the ball's sideways distance from the box
    centre is added). The last holder keeps it unless an opponent is nearer by ``rules.switch``
    (hysteresis: a defender's hands on it; a teammate close by takes it as soon as he is the nearer:
    a hand-off). Held: near, within ``rules.reach`` of his hands region (``hold_dist``) and not
    faster than ``rules.slow`` relative to him (``speed``; NaN counts as slow)."""
    safe = np.where(np.isnan(near_dist), np.inf, near_dist)
    cost = safe + 0.5 * np.where(np.isnan(s.rel[..., 0]), np.inf, np.abs(s.rel[..., 0]) / s.height)
    near = np.full(s.n, -1)
    held = np.full(s.n, -1)
    last = -1
    for i in range(s.n if len(s.pids) else 0):
        k = int(np.argmin(cost[:, i]))
        if (last >= 0 and last != k and safe[last, i] <= rules.reach and cost[last, i] <= cost[k, i] + rules.switch
                and _opponents(s.team(last), s.team(k))):
            k = last
        if safe[k, i] <= rules.reach:
            near[i] = k
            if hold_dist[k, i] <= rules.reach and not speed[k, i] > rules.slow:
                held[i] = last = k
    return near, held


def bridge_holds(held: np.ndarray, near: np.ndarray, ball: np.ndarray, bridge: int) -> np.ndarray:
    """``(n,)`` the holder per frame row (-1 none): ``held`` with the stretches of at most ``bridge``
    frames between two holds of one player filled when the ball stays ``near`` him or unseen
    (``ball`` NaN) all along."""
    holder = held.copy()
    last_i = -1
    for i in range(len(held)):
        if held[i] < 0:
            continue
        if last_i >= 0 and held[last_i] == held[i] and 1 < i - last_i <= bridge + 1:
            if all(near[k] == held[i] or np.isnan(ball[k, 0]) for k in range(last_i + 1, i)):
                holder[last_i + 1:i] = held[i]
        last_i = i
    return holder


def possessions(holder: np.ndarray) -> list[Run]:
    """The runs of consecutive frames with one holder (``holder``: player row per frame, -1 none)."""
    runs: list[Run] = []
    for i, j in enumerate(holder.tolist()):
        if j < 0:
            continue
        if runs and runs[-1].player == j and runs[-1].last == i - 1:
            runs[-1] = runs[-1]._replace(last=i)
        else:
            runs.append(Run(j, i, i))
    return runs


def watch_end(run: Run, nxt: Run | None, n: int, leave: int) -> int:
    """The frame row (exclusive) up to which the ball is watched leaving ``run``'s holder: ``leave``
    frames after his last hold, at most up to the next possession."""
    return min(nxt.first if nxt is not None else n, run.last + 1 + leave)


def release(run: Run, nxt: Run | None, near: np.ndarray, ball: np.ndarray, leave: int) -> tuple[int, int] | None:
    """``(release, away)``: the last frame row with the ball still about (``near``) ``run``'s holder
    and the first sighting away from him after it, within :func:`watch_end`. None when it is not
    seen leaving him (yet), or when he gets it back himself (``nxt`` is his)."""
    j, _, b = run
    e, out = b, None
    for k in range(b + 1, watch_end(run, nxt, len(ball), leave)):
        if np.isnan(ball[k, 0]):
            continue
        if near[k] != j:
            out = k
            break
        e = k
    if out is None or (nxt is not None and nxt.player == j):
        return None
    return e, out


def followed_away(away: int, ball: np.ndarray, jump: np.ndarray, leave: int, follow: int) -> bool:
    """The ball is followed on a ball's path from frame row ``away`` on: its first ``follow``
    sightings within ``leave`` frames exist and none is a ``jump``."""
    path = [k for k in range(away, min(len(ball), away + leave)) if not np.isnan(ball[k, 0])][:follow]
    return len(path) >= follow and not any(jump[k] for k in path)


def is_shot(s: Stretch, run: Run, e: int, nxt: Run | None, rules: BallRules, spans: Spans) -> bool:
    """A release at frame row ``e`` of possession ``run`` (as found, before it is cut at the
    release) is a shot: the ball goes more than ``rules.lob`` heights above the holder's head (his
    box top over the last ``shot_lead`` frames) within ``leave`` frames (watched up to
    :func:`watch_end`; higher than a pass lobbed over a defender), and no teammate (anyone, when the
    holder's team is unknown) has it next (``nxt``) within ``catch`` frames."""
    j, a, _ = run
    end = watch_end(run, nxt, s.n, spans.leave)
    top = np.nanmin(s.boxes[j, max(a, e - spans.shot_lead):e + 1, 1])
    high = any(s.ball[k, 1] < top - rules.lob * s.height[j, e] for k in range(e + 1, min(end, e + 1 + spans.leave)))
    caught = nxt is not None and nxt.first - e <= spans.catch and (s.team(j) is None or
                                                                  s.team(nxt.player) == s.team(j))
    return high and not caught


def shot_frames(s: Stretch, run: Run, e: int, rules: BallRules, spans: Spans) -> range:
    """The frame rows labelled ``shoot`` for a shot released at ``e``: back to when the ball rose
    above the shoulders (or was unseen), at most ``shot_lead`` frames and not before the possession,
    and at least ``pass_pad`` frames."""
    j, a, _ = run
    start = e
    while start - 1 >= max(a, e - spans.shot_lead) and (np.isnan(s.ball[start - 1, 1]) or
                                                       s.y_rel[j, start - 1] < rules.shoulders):
        start -= 1
    return range(min(start, e - spans.pass_pad), e + 1)


def pass_frames(near_dist: np.ndarray, run: Run, e: int, reach: float, pad: int) -> range:
    """The frame rows labelled ``pass`` for a release at ``e``: ``pad`` either side of when the ball
    left his hands -- dated back from ``e`` to his last frame (not before the possession's last hold)
    with the ball within half ``reach`` of his raised hands region (``near_dist``; it is some way off
    on his last near frame)."""
    j, _, b = run
    left = next((k for k in range(e, b - 1, -1) if near_dist[j, k] <= reach / 2), e)
    return range(left - pad, left + pad + 1)


def releases(s: Stretch, runs: list[Run], near: np.ndarray, near_dist: np.ndarray, jump: np.ndarray,
             rules: BallRules, spans: Spans) -> tuple[list[Run], dict[tuple[int, int], str]]:
    """Each possession's release (:func:`release`, :func:`followed_away`) told as a shot or a pass:
    the possessions cut at their release, and ``{(player row, frame row): "shoot" | "pass"}`` (a
    later release's label wins on a shared frame)."""
    runs = list(runs)
    events: dict[tuple[int, int], str] = {}
    for r, run in enumerate(runs):
        nxt = runs[r + 1] if r + 1 < len(runs) else None
        found = release(run, nxt, near, s.ball, spans.leave)
        if found is None or not followed_away(found[1], s.ball, jump, spans.leave, spans.follow):
            continue
        e = found[0]
        runs[r] = run._replace(last=e)
        if is_shot(s, run, e, nxt, rules, spans):
            frames, label = shot_frames(s, run, e, rules, spans), "shoot"
        else:
            frames, label = pass_frames(near_dist, run, e, rules.reach, spans.pass_pad), "pass"
        for k in frames:
            events[(run.player, k)] = label
    return runs, events


def dribble_frames(y_rel: np.ndarray, run: Run, rules: BallRules, gap: int) -> list[int]:
    """The frame rows of ``run`` labelled ``dribble``: each way of the ball below the hips
    (``y_rel``: the ball's height on the holder's box, per frame row) that gets below ``rules.floor``
    -- a bounce -- with a frame either side, joined to the next bounce when it starts within ``gap``
    frames."""
    _, a, b = run
    low = [i for i in range(a, b + 1) if y_rel[i] > rules.hips]
    bounces = [seg for seg in _segments(low) if np.nanmax(y_rel[seg]) > rules.floor]
    out: list[int] = []
    for k, seg in enumerate(bounces):
        first, last = max(a, seg[0] - 1), min(b, seg[-1] + 1)
        if k + 1 < len(bounces) and bounces[k + 1][0] - seg[-1] <= gap:  # the next bounce: still dribbling
            last = bounces[k + 1][0]
        out.extend(range(first, last + 1))
    return out


def defender(s: Stretch, j: int, i: int, defense_heights: float) -> int | None:
    """The player row guarding player row ``j`` on frame row ``i``: the opponent whose feet are
    nearest his (within ``defense_heights`` of his height; the later row on a tie); None when his
    team or nobody's is known."""
    team = s.team(j)
    if team not in ("A", "B"):
        return None
    hx, hy = s.centre[j, i, 0], s.boxes[j, i, 3]
    best, best_d = None, defense_heights * s.height[j, i]
    for k, p in enumerate(s.pids):
        if s.teams.get(p) in ("A", "B") and s.teams.get(p) != team and s.present(k, i):
            d = float(np.hypot(s.centre[k, i, 0] - hx, s.boxes[k, i, 3] - hy))
            if d <= best_d:
                best, best_d = k, d
    return best


def ball_roles(frames: Sequence[GameFrame], fps: float, rules: BallRules = BallRules(),
               defense_heights: float = 1.5) -> dict[tuple[int, int], str]:
    """Ball roles over a stretch of consecutive game frames: ``{(player, frame): label}`` (see the module docs).

    Frames missing from the stretch count as frames without a ball. Players without a ball role
    on a frame are left out.
    """
    if not frames:
        return {}
    spans = Spans.of(rules, fps)
    s = Stretch.of(frames, spans.bridge)
    jump = ball_jumps(s, rules.max_speed, fps)
    near_dist = s.hands_distance((rules.band[0] - rules.lift, rules.band[1]), rules.widen)
    hold_dist = s.hands_distance(rules.band, rules.widen)
    near, held = nearest_and_held(s, near_dist, hold_dist, relative_speed(s, jump, fps), rules)
    runs = possessions(bridge_holds(held, near, s.ball, spans.bridge))
    runs, events = releases(s, runs, near, near_dist, jump, rules, spans)

    roles: dict[tuple[int, int], str] = {}
    for run in runs:
        j, a, b = run
        roles.update({(j, i): "ball in hand" for i in range(a, b + 1)})
        roles.update({(j, i): "dribble" for i in dribble_frames(s.y_rel[j], run, rules, spans.dribble_gap)})
    for (j, i), label in events.items():
        if 0 <= i < s.n and s.present(j, i):
            roles[(j, i)] = label
    for j, a, b in runs:
        for i in range(a, b + 1):
            k = defender(s, j, i, defense_heights)
            if k is not None and (k, i) not in roles:
                roles[(k, i)] = "defense"
    return {(s.pids[j], s.first + i): label for (j, i), label in roles.items()}


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
