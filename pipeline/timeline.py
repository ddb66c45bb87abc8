"""From window predictions to each player's final per-frame labels and action segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from recognizer.base import WindowPrediction
from tracker.common.arrays import GrowingArray


@dataclass(frozen=True)
class FrameLabel:
    """A player's final label on one frame: ``label`` is ``labels[index]``, ``confidence`` its mean probability."""

    index: int
    label: str
    confidence: float


@dataclass
class Segment:
    """A run of frames where a player's label stays the same."""

    action: str
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    confidence_sum: float = 0.0
    frames: int = 0

    @property
    def confidence(self) -> float:
        return self.confidence_sum / max(self.frames, 1)

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_time": round(self.start_time, 4),
            "end_time": round(self.end_time, 4),
            "confidence": round(self.confidence, 4),
        }


@dataclass
class PlayerTimeline:
    """Everything exported about one player (track ID).

    ``frames`` ``(N, 1)`` int64 and ``boxes`` ``(N, 4)`` float32 xyxy hold the player's box on
    every labelled frame, compactly (a 2-hour game stays in tens of MB); ``predicted`` ``(P, 1)``
    int64 the frames among them whose box was predicted, not detected (``--detect-every``).
    """

    track_id: int
    segments: list[Segment] = field(default_factory=list)
    frames: GrowingArray = field(default_factory=lambda: GrowingArray(1, np.int64))
    boxes: GrowingArray = field(default_factory=lambda: GrowingArray(4, np.float32))
    predicted: GrowingArray = field(default_factory=lambda: GrowingArray(1, np.int64))
    team: str | None = None
    jersey: str | None = None

    def box_rows(self) -> list[list[float]]:
        """``[[frame, x1, y1, x2, y2], ...]`` rounded to 0.1 px, as exported."""
        boxes = np.round(self.boxes.view().astype(np.float64), 1).tolist()
        return [[int(f), *b] for f, b in zip(self.frames.view()[:, 0].tolist(), boxes)]

    def predicted_frames(self) -> list[int]:
        """The frames whose exported box was predicted between detections, in order."""
        return self.predicted.view()[:, 0].tolist()

    @property
    def first_frame(self) -> int:
        return self.segments[0].start_frame

    @property
    def last_frame(self) -> int:
        return self.segments[-1].end_frame


class LabelTimeline:
    """Averages overlapping window predictions and finalises frames in order.

    A player's label on a frame is the argmax of the mean probabilities of all the
    windows covering that frame (weighted by each prediction's ``weight``). :meth:`add` accumulates; :meth:`finalize` is called
    once per frame, in order, once no future window can cover it (the tube builder's
    ``safe_frame``), and frees that frame's accumulators, so memory stays bounded.

    Args:
        labels: class names of the recogniser.
        max_gap: frames a player may be unseen inside one segment.
    """

    def __init__(self, labels: Sequence[str], max_gap: int = 15) -> None:
        self.labels = list(labels)
        self.max_gap = max_gap
        self._sums: dict[int, dict[int, np.ndarray]] = {}  # frame -> track -> (C+1,) prob sum + count
        self.players: dict[int, PlayerTimeline] = {}
        self.cuts: list[int] = []

    def cut(self, frame_index: int) -> None:
        """A camera cut before ``frame_index``: no segment spans it (call before finalising that frame)."""
        self.cuts.append(int(frame_index))

    def add(self, predictions: Sequence[WindowPrediction]) -> None:
        for p in predictions:
            if p.probs.shape != (len(self.labels),):
                raise ValueError(f"prediction has {p.probs.shape} probabilities for {len(self.labels)} labels")
            row = np.append(p.probs.astype(np.float64), 1.0) * float(p.weight)
            for f in np.unique(p.frame_indices).tolist():
                per_track = self._sums.setdefault(f, {})
                acc = per_track.get(p.track_id)
                per_track[p.track_id] = row.copy() if acc is None else acc + row

    def finalize(self, frame_index: int, time: float, detections: sv.Detections) -> list[FrameLabel | None]:
        """Final labels for one frame's tracked detections (``None`` for a row no window covered)."""
        sums = self._sums.pop(frame_index, {})
        out: list[FrameLabel | None] = []
        ids = detections.tracker_id if detections.tracker_id is not None else [-1] * len(detections)
        predicted = detections.data.get("predicted", np.zeros(len(detections), bool))
        for box, tid, guessed in zip(detections.xyxy, ids, predicted):
            acc = sums.get(int(tid))
            if acc is None:
                out.append(None)
                continue
            mean = acc[:-1] / acc[-1]
            k = int(np.argmax(mean))
            label = FrameLabel(k, self.labels[k], float(mean[k]))
            out.append(label)
            self._record(int(tid), frame_index, time, box, label, bool(guessed))
        return out

    def _record(self, tid: int, frame: int, time: float, box: np.ndarray, label: FrameLabel,
                predicted: bool = False) -> None:
        player = self.players.get(tid)
        if player is None:
            player = self.players[tid] = PlayerTimeline(tid)
        player.frames.append(frame)
        player.boxes.append(box)
        if predicted:
            player.predicted.append(frame)
        seg = player.segments[-1] if player.segments else None
        if seg is None or seg.action != label.label or frame - seg.end_frame > self.max_gap \
                or any(seg.end_frame < c <= frame for c in self.cuts[-4:]):
            seg = Segment(label.label, frame, frame, time, time)
            player.segments.append(seg)
        seg.end_frame, seg.end_time = frame, time
        seg.confidence_sum += label.confidence
        seg.frames += 1
