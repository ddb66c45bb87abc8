"""The action-recogniser contract and the frame store recognisers read from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import supervision as sv
import torch

from tracker.tracking.tubes import ClipWindow

if TYPE_CHECKING:
    from recognizer.context import GameContext


@dataclass(frozen=True)
class WindowPrediction:
    """A recogniser's answer for one :class:`ClipWindow`.

    Attributes:
        track_id: the window's track.
        frame_indices: ``(T,)`` the window's frame indices (as in the window).
        probs: ``(C,)`` float32 class probabilities over the recogniser's ``labels``.
        weight: how much this prediction counts in the mean over the predictions covering a frame
            (e.g. a game-context label on one frame outweighs the motion windows around it).
    """

    track_id: int
    frame_indices: np.ndarray
    probs: np.ndarray
    weight: float = 1.0


class FrameBuffer:
    """Decoded frames by index, with each frame's tracked detections.

    This is the pipeline's latency buffer: frames enter as they are decoded and
    leave once their labels are final, so it holds about one window of frames.
    ``tensor(i)`` uploads a frame to ``device`` once and keeps it there, so a GPU
    recogniser crops from frames already on the GPU.

    Images are ``(H, W, 3)`` uint8 BGR (OpenCV order); tensors ``(3, H, W)``
    uint8 RGB. What is derived from a frame and the one before it (the camera motion,
    :meth:`derived`) is cached with the frame and leaves with it: one buffer per video,
    so nothing carries over from one video to the next.
    """

    def __init__(self, fps: float, device: str | torch.device = "cpu") -> None:
        self.fps = float(fps)
        self.device = torch.device(device)
        self._images: dict[int, np.ndarray] = {}
        self._detections: dict[int, sv.Detections] = {}
        self._tensors: dict[int, torch.Tensor] = {}
        self._derived: dict[tuple[str, int], object] = {}

    def add(self, index: int, image: np.ndarray, detections: sv.Detections | None = None,
            tensor: torch.Tensor | None = None) -> None:
        """Store a frame; ``tensor`` is its :meth:`upload` when already made (e.g. by the detect thread)."""
        self._images[index] = image
        self._detections[index] = detections if detections is not None else sv.Detections.empty()
        if tensor is not None:
            self._tensors[index] = tensor

    def set_detections(self, index: int, detections: sv.Detections) -> None:
        self._detections[index] = detections

    def image(self, index: int) -> np.ndarray:
        return self._images[index]

    def detections(self, index: int) -> sv.Detections:
        return self._detections[index]

    def tensor(self, index: int) -> torch.Tensor:
        """Frame ``index`` as a ``(3, H, W)`` uint8 RGB tensor on ``device``, uploaded on first use."""
        t = self._tensors.get(index)
        if t is None:
            t = self._tensors[index] = self.upload(self._images[index])
        return t

    def upload(self, image: np.ndarray) -> torch.Tensor:
        """``(H, W, 3)`` uint8 BGR -> ``(3, H, W)`` uint8 RGB on ``device`` (keeps no state; any thread).

        The BGR bytes are uploaded as they are and the channels reordered on the device: a
        BGR->RGB copy of a 1080p frame in NumPy costs ~3x more (``bench/cpu_stages.py``).
        """
        bgr = torch.from_numpy(image).to(self.device, non_blocking=True)
        return bgr.permute(2, 0, 1)[[2, 1, 0]]

    def derived(self, key: str, index: int, compute):
        """``compute()``'s value for frame ``index``, computed once and dropped with the frame.

        ``key`` names the quantity (e.g. ``"camera_step"``), so several consumers share one cache."""
        k = (key, index)
        if k not in self._derived:
            self._derived[k] = compute()
        return self._derived[k]

    def pop(self, index: int) -> tuple[np.ndarray, sv.Detections]:
        self._tensors.pop(index, None)
        for k in [k for k in self._derived if k[1] == index]:
            del self._derived[k]
        return self._images.pop(index), self._detections.pop(index)

    def indices(self) -> list[int]:
        return sorted(self._images)

    def __contains__(self, index: int) -> bool:
        return index in self._images

    def __len__(self) -> int:
        return len(self._images)


#: The labels of a player who has the ball (SpaceJam's names).
BALL_HANDLING = ("ball in hand", "dribble", "shoot", "pass")


class ActionRecognizer(ABC):
    """Labels clip windows with action probabilities.

    Attributes:
        name: shown in the video and the JSON (which model produced the labels).
        window, stride: how tubes are cut into clip windows for this model.
        labels: class names, index-aligned with ``WindowPrediction.probs``.
        checkpoint_sha256: sha256 of the weights file, or ``None`` for a model without one.
        decides_possession: its ball-handling labels (:data:`BALL_HANDLING`) say who has the ball,
            one player at a time; the pipeline then reports possession from them, so the labels and
            the possession timeline agree.
    """

    name: str
    labels: list[str]
    checkpoint_sha256: str | None = None
    decides_possession: bool = False
    #: samples per window and between window starts along a tube.
    window: int = 16
    stride: int = 8

    @abstractmethod
    def predict(self, windows: Sequence[ClipWindow], frames: FrameBuffer,
                context: GameContext | None = None) -> list[WindowPrediction]:
        """Predictions for the windows: at least one per window, in order, first (a recogniser may add
        per-frame ones after them). Every frame a window names is in ``frames``; ``context`` holds
        the game state (players, teams, ball, possessor) of the same frames and is None when the
        pipeline tracks no ball (recognisers that do not use it ignore it)."""
