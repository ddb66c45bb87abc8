"""The ball's state over time: a constant-velocity Kalman filter (filterpy) over the candidates,
moved with the camera each frame, gated, confirmed only by a moving candidate, with the state
``held`` (at a player's hands), ``flight`` (away from every player's hands) or ``lost`` (no
candidate for a while, out of frame, occluded). While held and unseen, the possessor's hands are
its measurement (a weak one). Every position has a confidence (what fed it, how long since the
track was last seen moving like a ball, how much its blob looks like the ball learned in flight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv
from filterpy.kalman import KalmanFilter

from tracker.game.ball.candidates import BallCandidates
from tracker.game.ball.possession import hands_regions

HELD, FLIGHT, LOST = "held", "flight", "lost"
STATES = (HELD, FLIGHT, LOST)


@dataclass(frozen=True)
class BallObservation:
    """The ball on one frame.

    Attributes:
        frame_index: the frame.
        xy: ``(x, y)`` centre in pixels, or None when lost.
        diameter: pixels (last measured).
        state: ``"held"``, ``"flight"`` or ``"lost"``.
        measured: a candidate was matched on this frame (else a prediction or the hands prior).
        confidence: in [0, 1], how much this position is to be believed (see
            :meth:`BallStateTracker.confidence`); 0 when lost. :class:`BallFinder` reports a
            position only at or above its ``min_confidence``.
    """

    frame_index: int
    xy: tuple[float, float] | None
    diameter: float
    state: str
    measured: bool
    confidence: float = 0.0

    def to_dict(self) -> dict:
        return {"frame": self.frame_index, "xy": None if self.xy is None else [round(v, 1) for v in self.xy],
                "state": self.state}


class BallStateTracker:
    """Kalman track of the ball over candidates, with held / flight / lost (see the module docs).

    Args:
        gate: a candidate is accepted within ``gate`` ball diameters of the prediction (growing
            by ``gate`` per missed frame, up to 3 times), and at least ``min_gate_px``.
        confirm: moving candidates in a row (each within the gate of the last) that start a track.
        max_misses: frames without a candidate before the ball is lost (while held, the
            possessor's hands keep it for ``max_held_misses``).
        max_static: frames a held ball may be fed by a candidate that does not move (a player
            standing with the ball) before only moving candidates count.
        hold_dist: the ball is held when within this many box heights of a player's hands region.
        process_noise, measurement_noise, hands_noise: Kalman noise (pixels); ``hands_noise`` is
            the hands prior's.
        half_life: frames after which the confidence of a track not seen *as a ball* (a detector
            hit, or a moving blob whose track travels: see :meth:`_travels`) halves: a track fed
            by blobs that keep their place on a player's body, or coasting, is believed less and
            less (see :meth:`confidence`).
        look_sigma, look_samples: the ball's colour (mean CIELAB a, b of its blob) is learned from
            the frames it is seen in flight; after ``look_samples`` of them, a blob ``look_sigma``
            away in (a, b) matches at 0.6 (skin and shoes sit about 10 away from a red-brown ball):
            the match weighs the choice of candidate and the confidence, and keeps a held ball
            that looks like the ball believed (see :meth:`confidence`).
        min_speed: a moving blob counts as seen as a ball only while the track travels at least
            this many diameters a frame against the (camera-compensated) background, and while
            held against its player's box.
    """

    def __init__(self, gate: float = 4.0, min_gate_px: float = 20.0, confirm: int = 3, max_misses: int = 8,
                 max_held_misses: int = 45, max_static: int = 20, hold_dist: float = 0.15, process_noise: float = 6.0,
                 measurement_noise: float = 2.0, hands_noise: float = 25.0, half_life: float = 30.0,
                 min_speed: float = 0.2, look_sigma: float = 8.0, look_samples: int = 3) -> None:
        self.half_life, self.min_speed = half_life, min_speed
        self.look_sigma, self.look_samples = look_sigma, look_samples
        self._look: np.ndarray | None = None  # the ball's mean CIELAB (a, b), learned in flight
        self._look_n = 0
        self._match: float | None = None  # this frame's measurement's look match (None: unseen / unknown)
        # recent (position, player ids, player centres), moved with the camera (see _travels)
        self._path: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._since_ball = 0  # frames since the track was last seen as a ball (see confidence)
        self._evidence = 0.0  # what fed it this frame: a confidence before the half-life decay
        self.gate, self.min_gate_px, self.confirm = gate, min_gate_px, confirm
        self.max_misses, self.max_held_misses, self.hold_dist = max_misses, max_held_misses, hold_dist
        self.max_static = max_static
        self.q, self.r, self.r_hands = process_noise, measurement_noise, hands_noise
        self._kf: KalmanFilter | None = None
        self._diameter = 10.0
        self._misses = 0
        self._state = LOST
        self._seeds: list[tuple[np.ndarray, float]] = []  # unconfirmed moving candidates in a row
        self._seed_gap = 0
        self._boxes_at_seeds: list[np.ndarray] = []  # the players' boxes when the seed chain started
        self._seed_look = np.full(2, np.nan)  # the last seed's colour
        self._static = 0  # frames in a row the track was fed only by candidates that did not move

    def _filter(self, xy: np.ndarray, velocity: np.ndarray) -> KalmanFilter:
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = np.array([xy[0], xy[1], velocity[0], velocity[1]], np.float64)
        kf.F = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]])
        kf.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        kf.P = np.diag([self.r**2] * 2 + [15.0**2] * 2)
        kf.Q = np.diag([self.q**2 / 4] * 2 + [self.q**2] * 2)
        return kf

    def _seed(self, cands: BallCandidates, players_xyxy: np.ndarray) -> None:
        """Grow the chain of moving candidates that confirms a new track."""
        detected = np.flatnonzero(cands.detected)
        if len(detected):  # the detector saw it: no confirmation needed
            best = detected[int(np.argmax(cands.score[detected]))]
            self._kf, self._path = self._filter(cands.xy[best], np.zeros(2)), []
            self._diameter, self._misses, self._seeds, self._static = float(cands.diameter[best]), 0, [], 0
            self._since_ball, self._evidence = 0, self.DETECTED
            return
        moving = np.flatnonzero(cands.moving)
        if not len(moving):
            self._seed_gap += 1
            if self._seed_gap > 1:  # one frame without a candidate is bridged (blur, compression)
                self._seeds = []
            return
        self._seed_gap = 0
        if self._seeds:
            last, d = self._seeds[-1]
            if len(self._seeds) >= 2:  # a ball moves smoothly: the next one is near the extrapolation
                # (give or take half a step: frame-rate conversion makes the steps uneven)
                step = float(np.linalg.norm(last - self._seeds[-2][0]))
                expect, radius = 2 * last - self._seeds[-2][0], max(0.5 * self.min_gate_px, 1.5 * d + 0.5 * step)
            else:
                expect, radius = last, max(self.min_gate_px, 2 * self.gate * d)
            dist = np.linalg.norm(cands.xy[moving] - expect, axis=1)
            k = int(np.argmin(dist))
            step = float(np.linalg.norm(cands.xy[moving[k]] - last))
            if dist[k] <= radius and step >= 0.2 * d:
                self._seeds.append((cands.xy[moving[k]], float(cands.diameter[moving[k]])))
                self._seed_look = cands.look[moving[k]]
            else:
                self._seeds = []
        if not self._seeds:
            best = moving[int(np.argmax(cands.score[moving] * self.look_match(cands.look[moving])))]
            self._seeds = [(cands.xy[best], float(cands.diameter[best]))]
            self._seed_look = cands.look[best]
            self._boxes_at_seeds = [np.asarray(players_xyxy, np.float64).reshape(-1, 4)]
        if len(self._seeds) >= self.confirm and not self._moves_with_a_player(players_xyxy):
            xy, d = self._seeds[-1]
            self._kf = self._filter(xy, xy - self._seeds[-2][0])
            self._path = []
            self._diameter, self._misses, self._seeds, self._static = d, 0, [], 0
            # half believed until it is seen travelling in flight (an arm, a sneaker or a floor
            # speck flickering as the camera pans can make a chain too)
            self._since_ball = self.half_life
            self._evidence = self.MOVING
            if self._look_n >= self.look_samples and np.isfinite(self._seed_look).all():
                self._match = float(self.look_match(self._seed_look[None])[0])

    def _moves_with_a_player(self, players_xyxy: np.ndarray) -> bool:
        """The seed chain keeps its place on the nearest player's box (a jersey patch, a sneaker, skin):
        a ball leaving the hands, bouncing or flying moves against the player."""
        boxes = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
        if not len(boxes) or not self._boxes_at_seeds or not len(self._boxes_at_seeds[0]):
            return False
        (first, b0), (last, b1) = (self._seeds[0][0], self._boxes_at_seeds[0]), (self._seeds[-1][0], boxes)
        centres0 = (b0[:, :2] + b0[:, 2:]) / 2
        k = int(np.argmin(np.linalg.norm(centres0 - first, axis=1)))
        centres1 = (b1[:, :2] + b1[:, 2:]) / 2
        j = int(np.argmin(np.linalg.norm(centres1 - centres0[k], axis=1)))  # the same player, a few frames on
        rel0, rel1 = first - centres0[k], last - centres1[j]
        return float(np.linalg.norm(rel1 - rel0)) < max(2.0, 0.5 * self._seeds[-1][1])

    def update(self, frame_index: int, cands: BallCandidates, players: sv.Detections,
               camera: np.ndarray | None = None, possessor: int | None = None,
               image_size: tuple[int, int] | None = None) -> BallObservation:
        """One frame.

        Args:
            cands: this frame's candidates.
            players: tracked players (``tracker_id`` set), referees left out by the caller.
            camera: ``(2, 3)`` affine mapping the previous frame's pixels to this one's (None: static).
            possessor: the current ball holder's ``tracker_id`` (from the possession tracker), if any.
            image_size: ``(width, height)``; a ball predicted outside is lost (out of frame).
        """
        measured, self._match = False, None
        if self._kf is None:
            self._seed(cands, players.xyxy)
            if self._kf is None:
                return BallObservation(frame_index, None, self._diameter, LOST, False)
            measured = True
        else:
            if camera is not None:  # move the state with the camera before predicting
                a = np.asarray(camera, np.float64)
                self._kf.x[:2] = a[:, :2] @ self._kf.x[:2] + a[:, 2]
                self._kf.x[2:] = a[:, :2] @ self._kf.x[2:]
                self._path = [(a[:, :2] @ p + a[:, 2], i, c @ a[:, :2].T + a[:, 2]) for p, i, c in self._path]
            self._kf.predict()
            if len(cands):
                dist = np.linalg.norm(cands.xy - self._kf.x[:2], axis=1)
                gate = max(self.min_gate_px, self.gate * self._diameter * (1 + min(self._misses, 2)))
                # nearest gated candidate, preferring better scores among near ties
                match = self.look_match(cands.look)
                cost = dist / gate - 0.3 * cands.score + 0.5 * ~cands.moving + 0.5 * (1 - match)
                k = int(np.argmin(cost))
                # a blob that does not move only feeds a held ball, close to where it was, for a while
                # (not a rim, a logo, a ball on the sideline, a player's shorts)
                still_ok = self._state == HELD and dist[k] <= 1.5 * self._diameter and self._static < self.max_static
                # a ball in flight over something of its colour (the rim, a backboard's frame) or
                # slow at the top of its arc can read as not moving for a frame or two
                still_ok |= self._state == FLIGHT and dist[k] <= 2 * self._diameter and self._static < self.confirm - 1
                if dist[k] <= gate and (cands.moving[k] or still_ok):
                    self._static = 0 if cands.moving[k] else self._static + 1
                    self._kf.R = np.eye(2) * self.r**2
                    self._kf.update(cands.xy[k])
                    # seen as a ball: the detector's, or a moving blob that travels (a
                    # flickering floor speck or a logo moves only with the camera)
                    seen_as_ball = cands.detected[k] or (cands.moving[k] and self._travels(players))
                    self._since_ball = 0 if seen_as_ball else self._since_ball + 1
                    self._evidence = self.DETECTED if cands.detected[k] else self.MOVING if cands.moving[k] else self.STILL
                    known = self._look_n >= self.look_samples and np.isfinite(cands.look[k]).all()
                    self._match = float(match[k]) if known else None
                    # learn what the ball looks like, in flight only (held, it touches skin and shirt),
                    # and not from a blob unlike it
                    if seen_as_ball and self._state == FLIGHT and np.isfinite(cands.look[k]).all() \
                            and (not known or match[k] >= 0.5):
                        self._look_n += 1
                        rate = max(1.0 / self._look_n, 0.1)
                        self._look = cands.look[k].copy() if self._look is None else \
                            self._look + rate * (cands.look[k] - self._look)
                    self._diameter = 0.7 * self._diameter + 0.3 * float(cands.diameter[k])
                    self._misses, measured = 0, True
            if cands.detected.any() and not (measured and cands.detected[k]) and (not measured or self._since_ball):
                # the detector sees a ball elsewhere and this track was not seen as one this frame:
                # the detection wins at once (a colour track may be on a jersey edge)
                self._kf = None
                self._seed(cands.subset(cands.detected), players.xyxy)
                measured, k, cands = True, 0, cands.subset(cands.detected)
            # weak: fed by still blobs, or none, or by a blob that does not look like the ball
            unlike = self._match is not None and self._match < 0.5
            weak = self._static >= self.confirm or self._misses + 1 >= self.confirm or unlike
            if measured and (cands.detected[k] or (self._state == FLIGHT and not self._static and not unlike)):
                self._seeds = []  # the detector saw it, or it flies on: nothing to take over
            elif weak or self._state == HELD:
                # a held ball, or a track fed by still blobs (or none), yields to a smooth chain of
                # moving candidates elsewhere: the ball leaving the hands
                others = cands if not measured else cands.subset(np.arange(len(cands)) != k)
                kf, kept = self._kf, (self._diameter, self._misses, self._static, self._since_ball, self._evidence)
                self._kf = None
                self._seed(others, players.xyxy)
                if self._kf is not None:
                    measured, self._state = True, FLIGHT
                else:
                    self._kf = kf
                    self._diameter, self._misses, self._static, self._since_ball, self._evidence = kept
            if not measured:
                self._misses += 1
                self._since_ball += 1
                self._evidence = self.UNSEEN * 0.75 ** (self._misses - 1)
                if self._misses > 2:  # coasting: do not let a noisy velocity carry it across the frame
                    self._kf.x[2:] *= 0.7
                hands = self._hands(players, possessor)
                if hands is not None and self._state == HELD:
                    self._kf.R = np.eye(2) * self.r_hands**2
                    self._kf.update(hands)
                    self._kf.x[2:] *= 0.5
        xy = self._kf.x[:2].copy()
        w, h = image_size if image_size is not None else (np.inf, np.inf)
        outside = not (-self._diameter <= xy[0] <= w + self._diameter and -self._diameter <= xy[1] <= h + self._diameter)
        limit = self.max_held_misses if self._state == HELD and possessor is not None else self.max_misses
        if outside or self._misses > limit:
            self._kf, self._state, self._misses = None, LOST, 0
            return BallObservation(frame_index, None, self._diameter, LOST, False)
        self._path = (self._path + [(xy, *self._centres(players))])[-self.PATH:]
        self._state = HELD if self._near_hands(xy, players.xyxy) else FLIGHT
        return BallObservation(frame_index, (float(xy[0]), float(xy[1])), self._diameter, self._state, measured,
                               self.confidence())

    #: Confidence of what fed the track on a frame, before the decay (see :meth:`confidence`).
    DETECTED, MOVING, STILL, UNSEEN = 0.95, 0.85, 0.6, 0.5

    #: Frames of camera-compensated track positions kept to tell travel from jitter.
    PATH = 5

    @staticmethod
    def _centres(players: sv.Detections) -> tuple[np.ndarray, np.ndarray]:
        xyxy = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        ids = players.tracker_id if players.tracker_id is not None else np.arange(len(xyxy))
        return np.asarray(ids), (xyxy[:, :2] + xyxy[:, 2:]) / 2

    def _travels(self, players: sv.Detections) -> bool:
        """The track moved at least ``min_speed`` diameters a frame over its last :data:`PATH`
        positions, camera-compensated -- and, while held, against the nearest player's box (a
        dribble does; a speck flickering in place, a logo moving only with the camera, or a shirt
        patch or sneaker moving with its player do not)."""
        if len(self._path) < 3:
            return False
        steps = len(self._path)  # the newest position is this frame's, not in the path yet
        now, (xy0, ids0, c0) = self._kf.x[:2], self._path[0]
        move = now - xy0
        if self._state == HELD:
            ids, c = self._centres(players)
            if not len(c):
                return False
            j = int(np.argmin(np.linalg.norm(c - now, axis=1)))
            same = np.flatnonzero(ids0 == ids[j])
            if not len(same):
                return False
            move = move - (c[j] - c0[same[0]])
        return bool(np.linalg.norm(move) >= self.min_speed * self._diameter * steps)

    def confidence(self) -> float:
        """How much the current position is to be believed, in [0, 1]: what fed it this frame
        (the detector's ball :attr:`DETECTED`, a moving colour blob :attr:`MOVING`, a blob that did
        not move :attr:`STILL`, nothing -- a prediction or the holder's hands -- :attr:`UNSEEN`,
        times 0.75 per further frame unseen), halved every ``half_life`` frames since the track was
        last seen *as a ball* (a detector hit or a moving blob in flight). Skin, a sneaker or a
        shirt patch that took a held track over moves with a player and is never seen in flight:
        its confidence fades."""
        if self._kf is None:
            return 0.0
        decay = 0.5 ** (self._since_ball / max(self.half_life, 1e-6))
        if self._match is None:  # unseen this frame, or the ball's look not learned yet
            return float(self._evidence * decay)
        return float(self._evidence * max(decay, self._match) * self._match ** 0.5)

    def look_match(self, look: np.ndarray) -> np.ndarray:
        """``(N,)`` in [0, 1]: how well candidates' mean colours ``(N, 2)`` match the ball's colour
        learned while it was seen in flight (1 before ``look_samples`` such frames, and for
        detector rows): ``exp(-d^2 / 2 look_sigma^2)``, ``d`` the CIELAB (a, b) distance."""
        if self._look is None or self._look_n < self.look_samples:
            return np.ones(len(look))
        d2 = ((np.asarray(look, np.float64) - self._look) ** 2).sum(axis=1)
        return np.where(np.isfinite(d2), np.exp(-d2 / (2 * self.look_sigma**2)), 1.0)

    @staticmethod
    def _hands(players: sv.Detections, possessor: int | None) -> np.ndarray | None:
        if possessor is None or not len(players) or players.tracker_id is None:
            return None
        hit = np.flatnonzero(players.tracker_id == possessor)
        if not len(hit):
            return None
        r = hands_regions(players.xyxy[hit[:1]], band=(0.3, 0.55), widen=0.0)[0]
        return np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2])

    def _near_hands(self, xy: np.ndarray, players_xyxy: np.ndarray) -> bool:
        xyxy = np.asarray(players_xyxy, np.float64).reshape(-1, 4)
        if not len(xyxy):
            return False
        region = hands_regions(xyxy, band=(0.15, 0.95), widen=0.35)
        dx = np.maximum.reduce([region[:, 0] - xy[0], np.zeros(len(region)), xy[0] - region[:, 2]])
        dy = np.maximum.reduce([region[:, 1] - xy[1], np.zeros(len(region)), xy[1] - region[:, 3]])
        return bool((np.hypot(dx, dy) / np.maximum(xyxy[:, 3] - xyxy[:, 1], 1)).min() <= self.hold_dist)
