"""Who is playing, frame by frame: on-court people -> tracked IDs -> re-linked IDs -> teams; the ball and who has it.

Each step is one of ``tracker/``'s small pieces; this module only wires them in order
for one video (a fresh :class:`PlayerTracking` per video).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from tracker.game.ball import BallTracker, PossessionTracker
from tracker.tracking.base import Tracker
from tracker.game.court import CourtFilter
from tracker.common.coco import PERSON, SPORTS_BALL
from tracker.game.quality import TrackingQuality
from tracker.game.relink import IdRelinker
from tracker.game.teams import TeamAssigner


@dataclass
class PlayerTracking:
    """Per frame: detections of people and ball in, tracked players (with ``data["team"]``) out.

    Attributes:
        tracker: the multi-object tracker (IDs).
        court: on-court filter, or ``None`` to keep everyone (``--all-people``).
        teams: team/referee assignment, or ``None``.
        relinker: joins tracks broken by occlusions (uses teams when present), or ``None``.
        ball, possession: ball track and possession, or ``None``.

    Player IDs shown to users are dense (1, 2, 3 ... in order of first appearance),
    whatever IDs the tracker and re-linker use inside.
    """

    tracker: Tracker
    court: CourtFilter | None = None
    teams: TeamAssigner | None = None
    relinker: IdRelinker | None = None
    ball: BallTracker | None = None
    possession: PossessionTracker | None = None
    quality: TrackingQuality = field(default_factory=TrackingQuality)
    _display: dict[int, int] = field(default_factory=dict)

    @classmethod
    def build(cls, tracker: Tracker, all_people: bool = False, teams: bool = True, ball: bool = True
              ) -> PlayerTracking:
        court = None if all_people else CourtFilter()
        assigner = TeamAssigner(floor_from=(lambda: court.floor) if court is not None else None) if teams else None
        out = cls(tracker=tracker, court=court, teams=assigner,
                  ball=BallTracker() if ball else None, possession=PossessionTracker() if ball else None)
        out.relinker = IdRelinker(max_gap_frames=2 * max(tracker.max_age, 1), team_of=out._team_of_internal)
        return out

    @property
    def max_age(self) -> int:
        return self.tracker.max_age

    def _team_of_internal(self, internal_id: int) -> str | None:
        shown = self._display.get(int(internal_id))
        return None if shown is None or self.teams is None else self.teams.team_of(shown)

    def team_of(self, player_id: int) -> str | None:
        """``"A"``, ``"B"``, ``"referee"`` or ``None`` for a shown player ID."""
        return None if self.teams is None else self.teams.team_of(player_id)

    def update(self, frame_index: int, image: np.ndarray, detections: sv.Detections) -> sv.Detections:
        """One frame's detections (any classes) -> tracked players, ``tracker_id`` = shown player ID."""
        is_person = detections.class_id == PERSON if detections.class_id is not None else np.ones(len(detections), bool)
        people = detections[is_person]
        if self.court is not None:
            people = self.court(image, people)
        tracked = self.tracker.update(people, image)
        described = None  # one frame's colour descriptors, made once for hints, re-linking and teams
        if self.teams is not None and len(tracked):
            described = self.teams.descriptors(image, tracked.xyxy)
            hints = self.teams.classify(image, tracked, described)
            tracked.data["team"] = np.array([t or "" for t in hints], dtype=object)
            tracked.data["appearance"] = self.teams.appearance(image, tracked, described)
        if self.relinker is not None:
            tracked = self.relinker.update(frame_index, tracked)
        if len(tracked):
            tracked.tracker_id = np.array([self._display.setdefault(int(t), len(self._display) + 1)
                                           for t in tracked.tracker_id], dtype=np.int64)
            tracked.data.pop("appearance", None)
            tracked.data.pop("team", None)
        if self.teams is not None:
            self.teams.update(frame_index, image, tracked, described)  # the relinker keeps rows in order
        self.quality.update(tracked)
        if self.ball is not None:
            balls = detections[detections.class_id == SPORTS_BALL] if detections.class_id is not None \
                else sv.Detections.empty()
            xy = self.ball.update(frame_index, balls)
            players = tracked
            if self.teams is not None and len(tracked):
                players = tracked[np.array([self.team_of(t) != "referee" for t in tracked.tracker_id])]
            self.possession.update(frame_index, xy, players)
        return tracked

    def label_teams(self, detections: sv.Detections) -> sv.Detections:
        """Set ``data["team"]`` from the current team decisions (for rendering)."""
        if self.teams is not None and len(detections):
            detections.data["team"] = np.array([self.team_of(t) or "" for t in detections.tracker_id], dtype=object)
        return detections

    def possession_segments(self, times: dict[int, float] | None = None, fps: float = 30.0) -> list[dict]:
        if self.possession is None:
            return []
        out = []
        for seg in self.possession.segments():
            seg = dict(seg, team=self.team_of(seg["player_id"]))
            seg["start_time"] = round(seg["start_frame"] / fps, 4)
            seg["end_time"] = round(seg["end_frame"] / fps, 4)
            out.append(seg)
        return out

    def summary(self) -> dict:
        report = self.quality.report()
        out = {"tracking": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in report.items()}}
        if self.teams is not None:
            out["teams"] = self.teams.summary()
        if self.possession is not None:
            out["possession_share"] = {k: round(v, 3) for k, v in self.possession.share_by_team(self.team_of).items()}
        if self.relinker is not None:
            out["relinks"], out["splits"] = len(self.relinker.links), len(self.relinker.splits)
        return out
