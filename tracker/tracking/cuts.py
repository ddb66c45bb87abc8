"""Camera cuts: where a broadcast switches camera, goes to a close-up or a replay.

:class:`CutDetector` feeds PySceneDetect's :class:`~scenedetect.ContentDetector` (mean change of
hue, saturation, lightness and edges between consecutive frames, threshold 27 on its 0..255
scale; the edges term, off in PySceneDetect's default, catches a cut between two shots of the
same court, whose colours barely differ) the
frames the pipeline already decodes, one by one, shrunk to ``work_width`` pixels first: the
score is a frame-wide mean, so a 64-pixel-wide frame gives nearly the same score as 1080p at a
fraction of the cost (``bench/cpu_stages.py`` measures both: at 1080p on a 2-core VM, 72 ms a
frame at full size, well under 1 ms at 64 pixels). PySceneDetect's flash filter in
*suppress* mode reports a cut on the frame it happens, and none within ``min_scene_s`` of the
last one (camera flashes, fast pans).

What a cut means for the rest of the pipeline (``pipeline/players.py`` and ``core.py`` do it):
tracks end (their motion state is meaningless in the new picture), tubes close so that no clip
window spans the cut, the ball track restarts, and identities come back only from team, number
and appearance, never from positions.
"""

from __future__ import annotations

import cv2
import numpy as np
from scenedetect import ContentDetector
from scenedetect.common import FrameTimecode
from scenedetect.detector import FlashFilter


class CutDetector:
    """Says, frame by frame, whether a new camera shot starts.

    Args:
        fps: the video's frame rate (PySceneDetect's timecodes need it).
        threshold: ContentDetector's threshold (its default, 27).
        min_scene_s: no second cut within this many seconds of one.
        work_width: frames are shrunk to this width first (None: full size, as PySceneDetect
            does by default; only for measuring the difference).

    Attributes:
        cuts: frame indices where a new shot started, in order.
    """

    def __init__(self, fps: float, threshold: float = 27.0, min_scene_s: float = 0.5,
                 work_width: int | None = 64) -> None:
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.threshold = threshold
        self.min_frames = max(1, int(round(min_scene_s * self.fps)))
        self.work_width = work_width
        self.cuts: list[int] = []
        self._detector = self._new()

    def _new(self) -> ContentDetector:
        return ContentDetector(threshold=self.threshold, min_scene_len=self.min_frames,
                               weights=ContentDetector.Components(1.0, 1.0, 1.0, 1.0),
                               filter_mode=FlashFilter.Mode.SUPPRESS)

    def reset(self) -> None:
        """Forget the previous frame and the cuts found (a new video)."""
        self.cuts = []
        self._detector = self._new()

    def shrink(self, image: np.ndarray) -> np.ndarray:
        """``image`` at ``work_width`` (unchanged when already narrower, or ``work_width`` is None)."""
        height, width = image.shape[:2]
        if self.work_width is None or width <= self.work_width:
            return image
        size = (self.work_width, max(1, round(height * self.work_width / width)))
        step = max(1, width // (4 * self.work_width))  # every step-th pixel first: INTER_AREA on a
        image = np.ascontiguousarray(image[::step, ::step])  # whole 1080p frame costs ~4 ms
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def __call__(self, frame_index: int, image: np.ndarray) -> bool:
        """True when ``image`` (BGR, frame ``frame_index``; frames in order) starts a new shot."""
        found = self._detector.process_frame(FrameTimecode(int(frame_index), fps=self.fps), self.shrink(image))
        if found and frame_index > 0:
            self.cuts.append(int(frame_index))
            return True
        return False
