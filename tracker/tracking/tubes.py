"""Per-player tubes and the 16-frame clip windows cut from them.

A *tube* is one track's life: the frames it was seen on and its box on each.
A *window* is ``window`` consecutive samples of a tube (default 16), the unit an
action recogniser labels. Windows are cut while the video streams:

* every ``stride`` samples (default 8) once ``window`` samples exist;
* when a track ends (unseen for ``max_age`` frames) or the video ends, one last
  window aligned to the track's final sample, unless the regular windows already
  reach it;
* a track shorter than ``window`` samples gets exactly one window whose samples
  are the tube stretched to ``window`` entries (``floor(arange(window) * n / window)``):
  each sample is repeated ``window // n`` or ``window // n + 1`` times, in order.

Every sample of a tube is therefore covered by at least one window, and the
builder can say which frames no future window can reach (:meth:`TubeBuilder.safe_frame`),
which is what lets the pipeline render with a latency of about one window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from tracker.common.arrays import GrowingArray


@dataclass(frozen=True)
class ClipWindow:
    """One clip of one track.

    Attributes:
        track_id: the tracker's ID of the player.
        frame_indices: ``(T,)`` int64, the video frame index of each clip frame
            (non-decreasing; repeated for short tubes).
        boxes: ``(T, 4)`` float32 ``xyxy`` boxes in source-frame pixels.
    """

    track_id: int
    frame_indices: np.ndarray
    boxes: np.ndarray

    def __post_init__(self) -> None:
        if self.frame_indices.ndim != 1 or self.boxes.shape != (len(self.frame_indices), 4):
            raise ValueError(
                f"ClipWindow wants frame_indices (T,) and boxes (T, 4); got "
                f"{self.frame_indices.shape} and {self.boxes.shape}"
            )

    @property
    def first_frame(self) -> int:
        return int(self.frame_indices[0])

    @property
    def last_frame(self) -> int:
        return int(self.frame_indices[-1])


@dataclass
class Tube:
    """A whole track: ``frames`` ``(N,)`` int64, ``boxes`` ``(N, 4)`` float32, ``scores`` ``(N,)``."""

    track_id: int
    frames: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class _TrackState:
    """One open track. Sample positions count from the tube's start; only samples from
    ``offset`` on are stored (all of them when the builder keeps whole tubes)."""

    track_id: int
    last_seen: int
    frames: GrowingArray = field(default_factory=lambda: GrowingArray(1, np.int64))
    boxes: GrowingArray = field(default_factory=lambda: GrowingArray(4, np.float32))
    scores: GrowingArray = field(default_factory=lambda: GrowingArray(1, np.float32))
    offset: int = 0  # sample position of the first stored row
    next_start: int = 0  # sample position of the next regular window
    covered_until: int = -1  # last sample position covered by an emitted window

    @property
    def n(self) -> int:
        return self.offset + len(self.frames)

    def frame_at(self, position: int) -> int:
        return int(self.frames.view()[position - self.offset, 0])

    def window(self, positions: np.ndarray) -> ClipWindow:
        rows = positions - self.offset
        return ClipWindow(
            track_id=self.track_id,
            frame_indices=self.frames.view()[rows, 0].copy(),
            boxes=self.boxes.view()[rows].copy(),
        )

    def keep_last(self, n: int) -> None:
        """Forget all but the last ``n`` samples (called when twice that many are stored)."""
        if len(self.frames) >= 2 * n:
            drop = len(self.frames) - n
            for a in (self.frames, self.boxes, self.scores):
                a.drop_front(drop)
            self.offset += drop

    def tube(self) -> Tube:
        return Tube(
            track_id=self.track_id,
            frames=self.frames.view()[:, 0].copy(),
            boxes=self.boxes.view().copy(),
            scores=self.scores.view()[:, 0].copy(),
        )


class TubeBuilder:
    """Turns tracked detections, frame by frame, into tubes and clip windows.

    Args:
        window: samples per clip (16 for R(2+1)D).
        stride: samples between the starts of consecutive regular windows.
        max_age: frames a track may go unseen before its tube is closed; match
            the tracker's own lost-track buffer so a re-found player keeps one tube.
        keep_tubes: keep every sample of every track and hand closed tubes out with
            :meth:`pop_closed_tubes`. Off (the pipeline's setting), only the last
            ``window`` samples of each open track are kept: memory does not grow with
            the length of the game.
    """

    def __init__(self, window: int = 16, stride: int = 8, max_age: int = 30, keep_tubes: bool = False) -> None:
        if window < 1 or not 1 <= stride <= window or max_age < 0:
            raise ValueError("need window >= 1, 1 <= stride <= window (else samples go uncovered), max_age >= 0")
        self.window = window
        self.stride = stride
        self.max_age = max_age
        self.keep_tubes = keep_tubes
        self._active: dict[int, _TrackState] = {}
        self._closed: list[Tube] = []
        self._last_frame = -1

    def update(self, frame_index: int, detections: sv.Detections) -> list[ClipWindow]:
        """Add one frame's tracked detections; return the windows that became ready.

        ``detections.tracker_id`` must be set; rows with a negative ID are ignored.
        """
        if frame_index <= self._last_frame:
            raise ValueError(f"frames must arrive in order: {frame_index} after {self._last_frame}")
        self._last_frame = frame_index
        ready: list[ClipWindow] = []
        if len(detections) and detections.tracker_id is None:
            raise ValueError("TubeBuilder.update needs detections with tracker_id set")
        scores = detections.confidence if detections.confidence is not None else np.ones(len(detections))
        for box, tid, score in zip(detections.xyxy, detections.tracker_id if len(detections) else [], scores):
            tid = int(tid)
            if tid < 0:
                continue
            state = self._active.get(tid)
            if state is None:
                state = self._active[tid] = _TrackState(tid, frame_index)
            state.last_seen = frame_index
            state.frames.append(frame_index)
            state.boxes.append(box)
            state.scores.append(score)
            while state.next_start + self.window <= state.n:
                positions = np.arange(state.next_start, state.next_start + self.window)
                ready.append(state.window(positions))
                state.covered_until = state.next_start + self.window - 1
                state.next_start += self.stride
            if not self.keep_tubes:
                state.keep_last(self.window)
        for tid in [t for t, s in self._active.items() if frame_index - s.last_seen > self.max_age]:
            ready.extend(self._close(tid))
        return ready

    def flush(self) -> list[ClipWindow]:
        """Close every open tube (end of video); return their last windows."""
        ready: list[ClipWindow] = []
        for tid in list(self._active):
            ready.extend(self._close(tid))
        return ready

    def safe_frame(self) -> int:
        """The last frame index that no future window can cover.

        Frames up to this index have all their windows emitted, so their labels
        are final. ``-1`` before the first frame.
        """
        safe = self._last_frame
        for state in self._active.values():
            earliest = 0 if state.n < self.window else state.n - self.window
            safe = min(safe, state.frame_at(earliest) - 1)
        return safe

    @property
    def active_ids(self) -> list[int]:
        return list(self._active)

    def pop_closed_tubes(self) -> list[Tube]:
        """Tubes closed since the last call (each returned once); only with ``keep_tubes``."""
        closed, self._closed = self._closed, []
        return closed

    def _close(self, tid: int) -> list[ClipWindow]:
        state = self._active.pop(tid)
        if self.keep_tubes:
            self._closed.append(state.tube())
        n = state.n
        if n < self.window:
            return [state.window(np.arange(self.window) * n // self.window)]
        if state.covered_until < n - 1:
            return [state.window(np.arange(n - self.window, n))]
        return []
