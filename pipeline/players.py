"""Who is playing, frame by frame: on-court people -> tracked IDs -> re-linked IDs -> teams and jersey
numbers; the ball and who has it; camera cuts.

Each step is one of ``tracker/``'s small pieces; this module only wires them in order
for one video (a fresh :class:`PlayerTracking` per video). IDs go through the three spaces of
:mod:`tracker.game.identity`: the tracker's :data:`RawId` s, the re-linker's :data:`LinkedId` s,
and the :data:`PlayerId` s shown to users, which everything downstream (teams, possession,
tubes, the timeline, the outputs) is keyed by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

from pipeline.render import TEAM_HEX
from recognizer.context import GameFrame, PlayerState
from tracker.common.arrays import GrowingArray
from tracker.common.coco import PERSON
from tracker.game.ball.finder import BallFinder
from tracker.game.ball.flight import FlightFinder, FlightTracker
from tracker.game.ball.net import BallNet, NetCandidates
from tracker.game.ball.possession import PossessionTracker
from tracker.game.ball.state import STATES, BallObservation
from tracker.game.ball.tiles import TileBallDetector
from tracker.game.court import CourtFilter
from tracker.game.identity import APPEARANCE_KEY, TEAM_HINT_KEY, TEAM_KEY, LinkedId, PlayerId
from tracker.game.jersey import JERSEY_KEY, JerseyNumbers, ocr_available
from tracker.game.quality import TrackingQuality
from tracker.game.relink.relinker import IdRelinker
from tracker.game.teams.assigner import REFEREE, TeamAssigner
from tracker.game.teams.colours import ColourDescriber, appearance
from tracker.tracking.base import Tracker
from tracker.tracking.camera_motion import IDENTITY, CameraMotionEstimator
from tracker.tracking.cuts import CutDetector
from tracker.tracking.keyframes import PREDICTED, BoxPredictor


class CameraSteps:
    """The camera motion into each frame, estimated once per frame and shared: the re-linker moves
    lost players' positions with it, the ball finder reuses it (:meth:`camera` has the signature of
    :meth:`CameraMotionEstimator.estimate`). The previous frame's players (referees out: the boxes
    the ball finder masked when it estimated the motion itself) are masked."""

    def __init__(self, estimator: CameraMotionEstimator | None = None) -> None:
        self.estimator = estimator or CameraMotionEstimator()
        self._prev: tuple[np.ndarray, float] | None = None
        self._prev_index = -1
        self.last: np.ndarray | None = None  # ``(2, 3)`` into the last frame stepped; None on a first frame

    def reset(self) -> None:
        """A camera cut: no motion into the next frame."""
        self._prev, self._prev_index, self.last = None, -1, None

    def step(self, index: int, image: np.ndarray, prev_boxes: np.ndarray) -> np.ndarray | None:
        """Frame ``index`` arrives; ``prev_boxes`` ``(N, 4)`` are the people of the frame before."""
        grey = self.estimator.prepare(image)
        self.last = None
        if self._prev is not None and index == self._prev_index + 1:
            self.last = self.estimator.estimate_prepared(self._prev[0], grey[0], grey[1], prev_boxes)
        self._prev, self._prev_index = grey, index
        return self.last

    def camera(self, prev: np.ndarray, cur: np.ndarray, prev_boxes: np.ndarray | None = None) -> np.ndarray:
        return self.last if self.last is not None else IDENTITY.copy()


@dataclass
class PlayerIds:
    """Linked IDs -> the player IDs shown to users: dense, 1, 2, 3 ... in order of first appearance."""

    _shown: dict[LinkedId, PlayerId] = field(default_factory=dict)
    _linked: dict[PlayerId, LinkedId] = field(default_factory=dict)

    def show(self, linked: LinkedId) -> PlayerId:
        """The player ID of ``linked``, numbering it now if it is new."""
        player = self._shown.setdefault(linked, PlayerId(len(self._shown) + 1))
        self._linked[player] = linked
        return player

    def linked(self, player: PlayerId) -> LinkedId | None:
        """The linked ID behind a player ID, or None if it was never shown."""
        return self._linked.get(player)

    def players(self) -> list[PlayerId]:
        """Every player ID shown so far."""
        return list(self._linked)

    def get(self, linked: LinkedId) -> PlayerId | None:
        """The player ID of ``linked``, or None if it was never shown."""
        return self._shown.get(linked)


@dataclass
class PlayerTracking:
    """Per frame: detections of people and ball in, tracked players out (``tracker_id`` = :data:`PlayerId`).

    Build the shipped chain with :meth:`build`; each piece's own arguments say what its knobs do.

    Attributes:
        tracker: the multi-object tracker (raw IDs); its ``max_age`` is the chain's.
        court: on-court filter, or ``None`` to keep everyone (``--all-people``: spectators
            and the bench get IDs, team colours and possession too).
        teams: team/referee assignment (keyed by player IDs), or ``None`` (no team labels;
            referees count as players for possession).
        relinker: joins tracks broken by occlusions (raw -> linked IDs; uses the team
            decisions when ``teams`` is set, see :meth:`build`), or ``None`` (a player lost
            for longer than ``tracker.max_age`` comes back under a new player ID).
        ball, possession: ball finder (colour + motion + detector candidates, held/flight/lost) and
            possession (keyed by player IDs), or ``None`` (no ball, no possession timeline); the
            possession tracker is fed the finder's ball and the finder the current holder (his hands
            are its prior while the ball is held and unseen).
        ball_track: per frame ``(frame, x, y, state index in STATES)``, x/y NaN when lost.
        last_ball: the finder's answer on the last frame.
        predictor: with ``--detect-every N`` > 1, makes the boxes of the frames the detector skips
            (``update`` gets ``None`` detections there; see :mod:`tracker.tracking.keyframes`); its
            camera-motion estimate is the ball finder's and the kinematic recogniser's too.
        jerseys: jersey numbers (OCR in a worker thread, keyed by linked IDs), or ``None``.
        cuts: camera-cut detector, or ``None``. At a cut the tracker is reset (its motion state
            means nothing in the new shot), the re-linker forgets the old shot's raw IDs and its
            players' velocities and links nothing to them by position, the camera-motion chain and
            the ball finder start afresh; :attr:`cut_now` tells
            the caller to close the tubes. Identities come back by team + number, or by team +
            appearance when one old-shot player is clearly the nearest (late merges, see
            :class:`IdRelinker`).
        steps: the camera motion into each frame, when there is no predictor (whose estimate is
            used then) and a ball finder needs it (the re-linker gets it too); ``None`` otherwise.
        quality: tracking-quality numbers of the player IDs.
        ids: linked -> player IDs.
        cut_now: whether the last :meth:`update` started a new camera shot.
    """

    tracker: Tracker
    court: CourtFilter | None = None
    teams: TeamAssigner | None = None
    relinker: IdRelinker | None = None
    ball: BallFinder | None = None
    possession: PossessionTracker | None = None
    ball_track: GrowingArray = field(default_factory=lambda: GrowingArray(4, np.float64))
    last_ball: BallObservation | None = None
    predictor: BoxPredictor | None = None
    jerseys: JerseyNumbers | None = None
    cuts: CutDetector | None = None
    quality: TrackingQuality = field(default_factory=TrackingQuality)
    ids: PlayerIds = field(default_factory=PlayerIds)
    cut_now: bool = False
    steps: CameraSteps | None = None
    _splits_seen: int = 0
    _prev_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    @classmethod
    def build(cls, tracker: Tracker, *, all_people: bool = False, teams: bool = True, ball: bool = True,
              relink: bool = True, relink_gap_frames: int | None = None,
              ball_tiles: Callable[[list[np.ndarray]], list[sv.Detections]] | None = None,
              detect_every: int = 1,
              jerseys: bool = True, cuts: bool = True, fps: float = 30.0, ball_flight: bool = False,
              ball_net: BallNet | str | Path | None = None) -> PlayerTracking:
        """The shipped chain around ``tracker``, each piece with its defaults.

        Args:
            tracker: the multi-object tracker (its ``max_age`` sets the re-link gap).
            all_people: keep everyone the detector finds (no :class:`CourtFilter`): spectators
                and the bench are tracked too.
            teams: split players into two teams and referees (:class:`TeamAssigner`, reading
                the floor colour the court filter found). Without it there are no team labels,
                no team cue for re-linking, and referees count as players for possession.
            ball: follow the ball and possession (:class:`BallFinder`, :class:`PossessionTracker`).
            relink: join tracks broken by occlusions (:class:`IdRelinker`). Without it a player
                hidden for longer than ``tracker.max_age`` comes back under a new player ID.
            relink_gap_frames: the re-linker's ``max_gap_frames`` (default twice the tracker's
                ``max_age``). Raising it re-joins players hidden for longer, with more chances of
                joining two different players; lowering it re-links only brief losses.
            ball_tiles: a detector with the ball class (``Detector(..., ball=True)``) to run again on
                upper-body tiles every frame (:class:`TileBallDetector`, 4 tiles batched): worth it on
                a GPU; on a CPU a tile costs about a frame's detection (None: no tiles).
            detect_every: the detector runs on every N-th frame only; > 1 adds a
                :class:`~tracker.tracking.keyframes.BoxPredictor` for the frames between.
            jerseys: read jersey numbers (:class:`JerseyNumbers`; needs RapidOCR, skipped when it is
                not installed): labels show them, the re-linker merges and splits by them.
            cuts: detect camera cuts (:class:`CutDetector`, at ``fps``) and restart the chain at them.
            ball_flight: add the ball finder's motion-only flight stage (:class:`FlightFinder`: a thrown
                ball followed without its colour; opt-in, see its docs for what it costs and finds).
            ball_net: a ball heatmap net, or its file (``python -m tracker.game.ball.net_train``: trained
                on synthetic balls in the user's footage), whose peaks become ball candidates
                (:class:`NetCandidates`); None: off. A missing or foreign file raises ``WeightsError``.
        """
        court = None if all_people else CourtFilter()
        assigner = None
        if teams:
            assigner = TeamAssigner(ColourDescriber(floor_from=(lambda: court.floor) if court is not None else None))
        predictor = BoxPredictor(detect_every) if detect_every > 1 else None
        # the camera motion: the predictor's, else the ball finder's estimate, shared with the re-linker
        # (without a ball finder the re-linker goes without: an estimate costs ~5 ms CPU a frame)
        steps = CameraSteps() if predictor is None and ball else None
        out = cls(tracker=tracker, court=court, teams=assigner,
                  ball=BallFinder(camera=predictor.camera if predictor is not None else steps.camera,
                                  # the estimate of this frame, made once per frame
                                  tiles=TileBallDetector(ball_tiles, every=1, max_tiles=4) if ball_tiles else None,
                                  flight=FlightFinder(tracker=FlightTracker(fps=fps)) if ball_flight else None,
                                  net=NetCandidates(ball_net) if ball_net is not None else None)
                  if ball else None, steps=steps,
                  possession=PossessionTracker() if ball else None, predictor=predictor,
                  jerseys=JerseyNumbers() if jerseys and ocr_available() else None,
                  cuts=CutDetector(fps) if cuts else None)
        numbers = out.jerseys
        if relink:
            gap = 2 * max(tracker.max_age, 1) if relink_gap_frames is None else relink_gap_frames
            out.relinker = IdRelinker(max_gap_frames=gap, team_of=out._team_of_linked,
                                      number_of=numbers.number_of if numbers else None,
                                      number_changed=numbers.changed if numbers else None)
        return out

    def finish(self) -> None:
        """The video is over: apply the jersey reads still in the worker's queue."""
        if self.jerseys is not None:
            self.jerseys.collect(wait=True)

    def close(self) -> None:
        """Stop the jersey reader's thread (pending reads are dropped)."""
        if self.jerseys is not None:
            self.jerseys.close()

    def jersey_of(self, player_id: PlayerId) -> str | None:
        """The jersey number of a player ID, or None."""
        linked = self.ids.linked(player_id)
        return None if self.jerseys is None or linked is None else self.jerseys.number_of(linked)

    def cut_frames(self) -> list[int]:
        """Frames where a new camera shot started."""
        return list(self.cuts.cuts) if self.cuts is not None else []

    def _cut(self, frame_index: int) -> None:
        self.tracker.reset()
        if self.relinker is not None:
            self.relinker.cut(frame_index)
        if self.predictor is not None:  # the camera-motion chain: no motion across a cut
            self.predictor.reset()
        if self.steps is not None:
            self.steps.reset()
        self._prev_boxes = np.zeros((0, 4))
        if self.ball is not None:  # a fresh ball track, no previous frame to difference against
            self.ball = self.ball.fresh()

    @property
    def max_age(self) -> int:
        return self.tracker.max_age

    @property
    def camera_motion(self) -> np.ndarray | None:
        """The ``(2, 3)`` camera motion into the last frame :meth:`update` saw, when it was estimated
        (by the predictor, or by :class:`CameraSteps` for the ball finder and re-linker); recognisers
        reuse it through the frame buffer instead of estimating it again."""
        if self.predictor is not None:
            return self.predictor.last_motion
        return None if self.steps is None else self.steps.last

    def _team_of_linked(self, linked: LinkedId) -> str | None:
        """The re-linker's view of the team decisions (which are keyed by player IDs)."""
        shown = self.ids.get(linked)
        return None if shown is None else self.team_of(shown)

    def team_of(self, player_id: PlayerId) -> str | None:
        """``"A"``, ``"B"``, ``"referee"`` or ``None`` for a player ID."""
        return None if self.teams is None else self.teams.team_of(player_id)

    def update(self, frame_index: int, time: float, image: np.ndarray, detections: sv.Detections | None
               ) -> sv.Detections:
        """One frame's detections (any classes) -> tracked players, ``tracker_id`` = player IDs.

        ``time`` is the frame's timestamp in seconds (its presentation time: the gaps between
        frames need not be equal); possession segments report it. ``detections`` is ``None`` on a
        frame the detector skipped (``detect_every``): the predictor's boxes stand in for them,
        flagged ``data["predicted"]``.
        """
        self.cut_now = self.cuts is not None and self.cuts(frame_index, image)
        if self.cut_now:
            self._cut(frame_index)
        camera = None
        if self.predictor is not None:
            camera = self.predictor.step(frame_index, image)
        elif self.steps is not None:
            camera = self.steps.step(frame_index, image, self._prev_boxes)
        if detections is None:
            if self.predictor is None:
                raise ValueError(f"frame {frame_index}: no detections, and no predictor (detect_every is 1)")
            people = self.predictor.predict(frame_index, (image.shape[1], image.shape[0]))
            detections = sv.Detections.empty()
        else:
            is_person = detections.class_id == PERSON if detections.class_id is not None \
                else np.ones(len(detections), bool)
            people = detections[is_person]
            if self.court is not None:
                people = self.court(image, people)
            if self.predictor is not None:
                people.data[PREDICTED] = np.zeros(len(people), bool)
        if self.predictor is not None:
            people = self.predictor.observe(frame_index, people)
        raw = self.tracker.update(people, image)  # tracker_id: RawId
        described = None  # one frame's colour descriptors, made once for hints, re-linking and teams
        if self.teams is not None and len(raw):
            described = self.teams.describer.describe(image, raw.xyxy)
            hints = self.teams.classify(image, raw, described)
            raw.data[TEAM_HINT_KEY] = np.array([t or "" for t in hints], dtype=object)
            raw.data[APPEARANCE_KEY] = appearance(described)
        tracked = self.relinker.update(frame_index, raw, camera, (image.shape[1], image.shape[0])) \
            if self.relinker is not None else raw  # LinkedId
        if self.jerseys is not None:
            if self.relinker is not None:
                for _, _, old, new in self.relinker.splits[self._splits_seen:]:
                    self.jerseys.split(old, new)
                self._splits_seen = len(self.relinker.splits)
            self.jerseys.submit(frame_index, image, tracked)
        if len(tracked):
            tracked.tracker_id = np.array([self.ids.show(LinkedId(int(t))) for t in tracked.tracker_id],
                                          dtype=np.int64)  # PlayerId from here on
            tracked.data.pop(APPEARANCE_KEY, None)
            tracked.data.pop(TEAM_HINT_KEY, None)
        if self.teams is not None:
            self.teams.update(frame_index, image, tracked, described)  # the relinker keeps rows in order
        self.quality.update(tracked)
        players = self._players_only(tracked)
        self._prev_boxes = np.asarray(players.xyxy, np.float64).reshape(-1, 4)  # masked from the next estimate
        if self.ball is not None:
            holder = self.possession.holder if self.possession is not None else None
            obs = self.ball.update(frame_index, image, players, detections, holder)
            if self.possession is not None:
                self.possession.update(frame_index, None if obs.xy is None else np.array(obs.xy), players, time)
            self.last_ball = obs
            xy = obs.xy if obs.xy is not None else (np.nan, np.nan)
            self.ball_track.append([frame_index, xy[0], xy[1], STATES.index(obs.state)])
        return tracked

    def _players_only(self, tracked: sv.Detections) -> sv.Detections:
        if self.teams is not None and len(tracked):
            return tracked[np.array([self.team_of(t) != REFEREE for t in tracked.tracker_id], bool)]
        return tracked

    def game_frame(self, frame_index: int, tracked: sv.Detections) -> GameFrame:
        """The recogniser's context of this frame (call right after :meth:`update` of the same frame)."""
        players = self._players_only(tracked)
        states = {int(t): PlayerState(tuple(float(v) for v in box), self.team_of(int(t)))
                  for box, t in zip(players.xyxy, players.tracker_id if len(players) else [])}
        obs = self.last_ball if self.ball is not None else None
        if obs is None or obs.frame_index != frame_index:
            return GameFrame(frame_index, states)
        holder = self.possession.holder if self.possession is not None else None
        return GameFrame(frame_index, states, obs.xy, obs.state, holder)

    def ball_rows(self) -> list[list]:
        """``[[frame, x, y, state], ...]`` for the JSON (x/y null when lost), one per frame."""
        rows = []
        for f, x, y, s in self.ball_track.view().tolist():
            lost = not np.isfinite(x)
            rows.append([int(f), None if lost else round(x, 1), None if lost else round(y, 1), STATES[int(s)]])
        return rows

    def label_teams(self, detections: sv.Detections) -> sv.Detections:
        """Set ``data[TEAM_KEY]`` and ``data[JERSEY_KEY]`` of player rows from the current team and
        number decisions (for rendering)."""
        if self.teams is not None and len(detections):
            detections.data[TEAM_KEY] = np.array([self.team_of(t) or "" for t in detections.tracker_id], dtype=object)
        if self.jerseys is not None and len(detections):
            detections.data[JERSEY_KEY] = np.array([self.jersey_of(t) or "" for t in detections.tracker_id],
                                                   dtype=object)
        return detections

    def possession_segments(self) -> list[dict]:
        """``[{"player_id", "start_frame", "end_frame", "team", "start_time", "end_time"}]``: who held
        the ball when, times in seconds from the frames' timestamps given to :meth:`update`."""
        if self.possession is None:
            return []
        return [
            {"player_id": seg["player_id"], "start_frame": seg["start_frame"], "end_frame": seg["end_frame"],
             "team": self.team_of(seg["player_id"]),
             "start_time": _seconds(seg["start_time"]), "end_time": _seconds(seg["end_time"])}
            for seg in self.possession.segments()
        ]

    def summary(self) -> dict:
        """``tracking`` (:meth:`TrackingQuality.report`), ``teams`` (:meth:`TeamAssigner.summary`, each
        team with the ``color`` its boxes are drawn in, :data:`pipeline.render.TEAM_HEX`),
        ``possession_share`` per team, ``relinks``, ``splits`` and ``number_merges`` (counts), ``jerseys``
        (reads, numbers decided) -- for the pieces in use. ``tracking`` also counts ``identities``
        (:meth:`identity`) and ``cuts``."""
        report = self.quality.report(identity=self.identity)
        report["cuts"] = len(self.cut_frames())
        out = {"tracking": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in report.items()}}
        if self.jerseys is not None:
            out["jerseys"] = self.jerseys.summary()
        if self.teams is not None:
            teams = self.teams.summary()
            teams["teams"] = {label: {**entry, "color": TEAM_HEX[label]} for label, entry in teams["teams"].items()}
            out["teams"] = teams
        if self.possession is not None:
            out["possession_share"] = {k: round(v, 3) for k, v in self.possession.share_by_team(self.team_of).items()}
        if self.relinker is not None:
            out["relinks"], out["splits"] = len(self.relinker.links), len(self.relinker.splits)
            out["number_merges"] = len(self.relinker.number_links)
        return out

    def identity(self, player_id: PlayerId) -> tuple:
        """Who a player ID is: ``(team, number)`` when the number is known (and the team, when teams
        are on), else the ID itself."""
        team, number = self.team_of(player_id), self.jersey_of(player_id)
        known = number is not None and (team is not None or self.teams is None)
        return (team, number) if known else ("id", int(player_id))


def _seconds(t: float | None) -> float | None:
    return None if t is None else round(float(t), 4)
