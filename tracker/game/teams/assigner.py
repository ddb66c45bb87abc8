"""Teams and referees from the colour descriptors of tracked people.

Per video, while it streams, the tracks' mean descriptors
(:class:`~tracker.game.teams.colours.ColourDescriber`) are clustered with
scikit-learn's KMeans into two teams plus, when there is one, a referee group:
the smallest of three clusters, its torsos mostly achromatic (grey, black, white
or striped), well apart from both teams, and only when the others do split into
two teams. When the two team clusters are not apart (everyone wears the same
colour) all players are team "A" and nobody is a referee.

Each track's team is the majority vote of its frames (each frame's descriptor
goes to the nearest cluster centre), with hysteresis: once given, a label only
changes when another gets ``switch_ratio`` times its votes. Cluster names are
kept across re-clusterings by matching new centres to the previous ones
(Hungarian assignment), so "A" and "B" never swap mid-video.

Labels: ``"A"``, ``"B"``, ``"referee"``, or ``None`` while undecided. They are words only:
colours are the renderer's (:mod:`pipeline.render`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from tracker.common.coco import PERSON
from tracker.game.court import person_rows
from tracker.game.teams.colours import DESCRIPTOR_SIZE, ColourDescriber, Described, achromatic_share

TEAM_A = "A"
TEAM_B = "B"
REFEREE = "referee"
#: Every label a track can get (None aside), in a fixed order.
LABELS = (TEAM_A, TEAM_B, REFEREE)


def _nearest(descriptors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(N,)`` index of the nearest of ``(K, 32)`` centres for ``(N, 32)`` descriptors."""
    return np.linalg.norm(descriptors[:, None] - centres[None], axis=2).argmin(axis=1)


@dataclass
class _Track:
    """One track's torso samples: running sums for the mean, the recent samples for votes.

    ``nearest`` holds each recent sample's nearest cluster centre and ``votes`` their
    counts, kept up to date as samples come and go, so a vote costs the same at the
    end of a long game as at its start; both are recounted when the centres move.
    """

    first_frame: int
    last_frame: int = -1
    count: int = 0
    sum_descriptor: np.ndarray = field(default_factory=lambda: np.zeros(DESCRIPTOR_SIZE, np.float64))
    samples: deque = field(default_factory=lambda: deque(maxlen=600))
    nearest: deque = field(default_factory=lambda: deque(maxlen=600))
    votes: np.ndarray | None = None
    label: str | None = None

    def add(self, descriptor: np.ndarray, nearest: int) -> None:
        """Add a sample and the index of its nearest centre (-1 while there are none)."""
        if self.votes is not None and len(self.nearest) == self.nearest.maxlen and self.nearest[0] >= 0:
            self.votes[self.nearest[0]] -= 1  # the oldest sample leaves with its vote
        self.count += 1
        self.sum_descriptor += descriptor
        self.samples.append(descriptor)
        self.nearest.append(nearest)
        if self.votes is not None and nearest >= 0:
            self.votes[nearest] += 1

    def recount(self, centres: np.ndarray) -> None:
        """Re-assign every recent sample to the nearest of ``(K, 32)`` centres."""
        if not self.samples:
            self.nearest.clear()
            self.votes = np.zeros(len(centres), np.int64)
            return
        nearest = _nearest(np.stack(self.samples), centres)
        self.nearest = deque(nearest.tolist(), maxlen=self.nearest.maxlen)
        self.votes = np.bincount(nearest, minlength=len(centres))

    def forget_samples(self) -> None:
        self.samples.clear()
        self.nearest.clear()
        self.votes = None

    @property
    def mean(self) -> np.ndarray:
        """``(32,)`` float32 mean descriptor over the track's life."""
        return (self.sum_descriptor / max(1, self.count)).astype(np.float32)


class TeamAssigner:
    """Streams tracked people and assigns each track to team A, B, or the referees.

    Tracks are keyed by whatever IDs :meth:`update` is given (the pipeline gives
    :data:`~tracker.game.identity.PlayerId` s); :meth:`team_of` answers in the same space.

    Args:
        describer: makes the colour descriptors and knows the floor colour (its own knobs
            say how); default a :class:`~tracker.game.teams.colours.ColourDescriber` with
            its defaults, estimating the floor itself.
        warmup_frames: frames before the first clustering. Raising it waits for more tracks
            and samples (steadier first clusters, later first labels); lowering it labels
            sooner from fewer players, so the first teams may be wrong until re-clustered.
        recluster_every: frames between re-clusterings. Raising it is cheaper (KMeans runs
            less) but newcomers join the clustering later; lowering it follows new tracks sooner.
        min_track_frames: a track joins the clustering once it has this many usable torso
            samples. Raising it keeps short, noisy tracks out of the centres; lowering it lets
            more (and less reliable) tracks shape them.
        min_label_frames: a track gets a label (by votes) once it has this many samples.
            Raising it leaves new tracks undecided longer; lowering it labels them from one
            or two glimpses.
        team_separation: Hellinger distance between the two team centres below which
            everybody is one team ("A"). Raising it calls more games "one team" (similar
            jerseys merged); lowering it splits even one team's lighting variations in two.
        referee_separation: a referee cluster must be at least this far from both teams.
            Raising it finds referees only when they look very unlike both teams (fewer
            false referees); lowering it may take a team's grey-ish players for referees.
        referee_max_share: ... and hold at most this share of the track-weighted samples.
            Raising it accepts a larger referee group (risk: a white-shirted team); lowering
            it rejects a referee cluster that is not clearly the smallest.
        referee_min_achromatic: ... and have at least this share of grey/black/white torso
            pixels. Raising it asks for plainly black/white/grey referee shirts; lowering it
            lets coloured shirts form a referee group.
        switch_ratio: votes another label needs, relative to the current one, to replace it.
            Raising it makes labels stickier (a swap by the tracker is corrected later);
            lowering it (towards 1) lets a label flip on a short run of doubtful frames.
        person_class_ids: rows of other classes (the ball) are ignored.
        forget_after: frames after a track's last sample when its per-frame samples are
            dropped (its mean descriptor and label stay), so memory does not grow with the
            video's length. Raising it keeps more samples for re-counts (more memory);
            lowering it forgets ended tracks sooner (a track that comes back restarts its votes).
        random_state: KMeans seed (results are deterministic for a given stream).
    """

    def __init__(
        self,
        describer: ColourDescriber | None = None,
        *,
        warmup_frames: int = 30,
        recluster_every: int = 15,
        min_track_frames: int = 5,
        min_label_frames: int = 2,
        team_separation: float = 0.65,
        referee_separation: float = 0.45,
        referee_max_share: float = 0.34,
        referee_min_achromatic: float = 0.6,
        switch_ratio: float = 2.0,
        person_class_ids: tuple[int, ...] = (PERSON,),
        forget_after: int = 300,
        random_state: int = 0,
    ) -> None:
        self.describer = describer if describer is not None else ColourDescriber()
        self.forget_after = forget_after
        self.warmup_frames = warmup_frames
        self.recluster_every = max(1, recluster_every)
        self.min_track_frames = max(1, min_track_frames)
        self.min_label_frames = max(1, min_label_frames)
        self.team_separation = team_separation
        self.referee_separation = referee_separation
        self.referee_max_share = referee_max_share
        self.referee_min_achromatic = referee_min_achromatic
        self.switch_ratio = switch_ratio
        self.person_class_ids = tuple(person_class_ids)
        self.random_state = random_state
        self._tracks: dict[int, _Track] = {}
        self._frames_seen = 0
        self._centres: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- streaming
    def update(self, frame_index: int, frame: np.ndarray, detections: sv.Detections,
               described: Described | None = None) -> None:
        """Add one frame's tracked people (``tracker_id`` set; negative IDs ignored).

        ``described``: the describer's :meth:`~tracker.game.teams.colours.ColourDescriber.describe`
        of all of ``detections``' rows when already made for this frame; else they are made here.
        The frame's floor colour is taken first (it masks the next frame's descriptions).
        """
        self.describer.observe(frame)
        self._frames_seen += 1
        if len(detections) and detections.tracker_id is not None:
            rows = detections.tracker_id >= 0
            if detections.class_id is not None:
                rows &= np.isin(detections.class_id, self.person_class_ids)
            if rows.any():
                desc, valid = described if described is not None else self.describer.describe(frame, detections.xyxy)
                desc, valid = desc[rows], valid[rows]
                centres = np.stack(list(self._centres.values())) if self._centres else None
                nearest = _nearest(desc, centres) if centres is not None else np.full(len(desc), -1)
                for tid, d, ok, k in zip(detections.tracker_id[rows], desc, valid, nearest.tolist()):
                    if not ok:
                        continue
                    track = self._tracks.setdefault(int(tid), _Track(first_frame=frame_index))
                    track.last_frame = frame_index
                    if centres is not None and track.votes is None:
                        track.recount(centres)
                    track.add(d, k)
                    if self._centres:
                        self._vote(track)
        since_warmup = self._frames_seen - self.warmup_frames
        if since_warmup >= 0 and since_warmup % self.recluster_every == 0:
            for track in self._tracks.values():  # memory stays flat: ended tracks keep mean and label only
                if track.samples and frame_index - track.last_frame > self.forget_after:
                    track.forget_samples()
            self._cluster()

    def team_of(self, track_id: int) -> str | None:
        """``"A"``, ``"B"``, ``"referee"``, or None while undecided."""
        track = self._tracks.get(int(track_id))
        return None if track is None else track.label

    def classify(self, frame: np.ndarray, detections: sv.Detections,
                 described: Described | None = None) -> list[str | None]:
        """Each row's label from this frame alone (nearest cluster centre), None when unknown.

        Does not change any state; useful as a per-detection team hint (e.g. for
        :class:`tracker.game.relink.relinker.IdRelinker`, under :data:`~tracker.game.identity.TEAM_HINT_KEY`).
        """
        if not self._centres or len(detections) == 0:
            return [None] * len(detections)
        desc, valid = described if described is not None else self.describer.describe(frame, detections.xyxy)
        names = list(self._centres)
        centres = np.stack([self._centres[k] for k in names])
        nearest = np.linalg.norm(desc[:, None] - centres[None], axis=2).argmin(axis=1)
        people = person_rows(detections, self.person_class_ids)
        return [names[j] if ok and p else None for j, ok, p in zip(nearest, valid, people)]

    def summary(self) -> dict:
        """``{"mode": "two teams" | "one team" | "undecided", "teams": {label: {"tracks", "samples"}},
        "undecided_tracks": n}``."""
        teams: dict[str, dict] = {}
        undecided = 0
        for track in self._tracks.values():
            if track.label is None:
                undecided += 1
                continue
            entry = teams.setdefault(track.label, {"tracks": 0, "samples": 0})
            entry["tracks"] += 1
            entry["samples"] += track.count
        mode = "undecided" if not self._centres else ("two teams" if TEAM_B in self._centres else "one team")
        return {"mode": mode, "teams": dict(sorted(teams.items())), "undecided_tracks": undecided}

    @property
    def labels(self) -> dict[int, str | None]:
        """Every track seen so far and its label."""
        return {tid: t.label for tid, t in self._tracks.items()}

    # ---------------------------------------------------------------- clustering
    def _vote(self, track: _Track) -> None:
        """Re-decide a track's label from its frames' votes (majority, with hysteresis)."""
        if track.count < self.min_label_frames or not track.samples:
            return
        names = list(self._centres)
        if track.votes is None:
            track.recount(np.stack(list(self._centres.values())))
        votes = track.votes
        best = names[int(votes.argmax())]
        current = names.index(track.label) if track.label in names else None
        if current is None or votes.max() >= self.switch_ratio * max(1, votes[current]):
            track.label = best

    def _cluster(self) -> None:
        ids = [tid for tid, t in self._tracks.items() if t.count >= self.min_track_frames]
        if len(ids) < 2:
            return
        x = np.stack([self._tracks[t].mean for t in ids])
        weight = np.array([min(self._tracks[t].count, 150) for t in ids], np.float64)
        centres: dict[str, np.ndarray] = {}
        teams = None
        if len(ids) >= 3:
            km = KMeans(3, n_init=4, random_state=self.random_state).fit(x, sample_weight=weight)
            referee = self._referee_cluster(km.cluster_centers_, km.labels_, weight)
            if referee is not None:
                rest = km.labels_ != referee
                teams = self._split_teams(x[rest], weight[rest])
                if len(teams) == 2:  # referees are looked for only between two teams
                    centres[REFEREE] = km.cluster_centers_[referee].astype(np.float32)
                else:
                    teams = None
        if teams is None:
            teams = self._split_teams(x, weight)
        names = self._name_teams([c for c, _ in teams], [w for _, w in teams])
        for name, (centre, _) in zip(names, teams):
            centres[name] = np.asarray(centre, np.float32)
        self._centres = centres
        stacked = np.stack(list(centres.values()))
        for track in self._tracks.values():
            track.recount(stacked)
            self._vote(track)

    def _split_teams(self, x: np.ndarray, weight: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Two ``(centre, weight)`` teams, or one when the two clusters are not apart."""
        if len(x) >= 2:
            km = KMeans(2, n_init=4, random_state=self.random_state).fit(x, sample_weight=weight)
            c = km.cluster_centers_
            if np.linalg.norm(c[0] - c[1]) >= self.team_separation:
                return [(c[k], float(weight[km.labels_ == k].sum())) for k in (0, 1)]
        return [(np.average(x, axis=0, weights=weight), float(weight.sum()))]

    def _referee_cluster(self, centres: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> int | None:
        share = np.array([weight[labels == k].sum() for k in range(3)]) / weight.sum()
        k = int(share.argmin())
        others = [j for j in range(3) if j != k]
        if share[k] > self.referee_max_share or achromatic_share(centres[k]) < self.referee_min_achromatic:
            return None
        if min(np.linalg.norm(centres[k] - centres[j]) for j in others) < self.referee_separation:
            return None
        return k

    def _name_teams(self, centres: list[np.ndarray], weights: list[float]) -> list[str]:
        """Names for new team centres: matched to the previous A/B when there were any."""
        previous = [(name, self._centres[name]) for name in (TEAM_A, TEAM_B) if name in self._centres]
        if not previous:
            order = np.argsort(-np.asarray(weights), kind="stable")
            names = [""] * len(centres)
            for rank, idx in enumerate(order):
                names[idx] = (TEAM_A, TEAM_B)[rank]
            return names
        cost = np.array([[np.linalg.norm(c - p) for _, p in previous] for c in centres])
        rows, cols = linear_sum_assignment(cost)
        names = [""] * len(centres)
        for r, c in zip(rows, cols):
            names[r] = previous[c][0]
        free = [n for n in (TEAM_A, TEAM_B) if n not in names]
        for i, n in enumerate(names):
            if not n:
                names[i] = free.pop(0)
        return names
