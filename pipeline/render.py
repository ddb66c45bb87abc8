"""Drawing boxes, IDs, action labels and traces on frames (supervision annotators)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from pipeline.timeline import FrameLabel
from tracker.game.identity import TEAM_KEY
from tracker.game.jersey import JERSEY_KEY
from tracker.game.teams.assigner import REFEREE, TEAM_A, TEAM_B

#: The one palette of team boxes, by team label: A blue, B red, referees black. Players
#: without a team take the track palette after these. The run summary quotes these colours.
TEAM_HEX: dict[str, str] = {TEAM_A: "#1f77b4", TEAM_B: "#d62728", REFEREE: "#111111"}
TEAM_ORDER = tuple(TEAM_HEX)


class Renderer:
    """Annotates a frame with each player's box, ``#id action conf`` label and a short trace.

    Boxes are coloured by team when ``detections.data[TEAM_KEY]`` is present (:data:`TEAM_HEX`:
    A blue, B red, referee black and labelled ``REF``), else by track ID. The recogniser's name is written in
    the top-left corner so a viewer knows what produced the labels.
    """

    def __init__(self, recognizer_name: str, frame_height: int, trace_length: int = 30) -> None:
        self.text_scale = max(0.4, frame_height / 1080 * 0.9)
        thickness = max(1, int(round(frame_height / 400)))
        self.text_thickness = max(1, thickness - 1)
        self._n_track_colors = len(sv.ColorPalette.DEFAULT.colors)
        palette = sv.ColorPalette([sv.Color.from_hex(h) for h in TEAM_HEX.values()] + list(sv.ColorPalette.DEFAULT.colors))
        self.box = sv.BoxAnnotator(color=palette, thickness=thickness)
        self.label = sv.LabelAnnotator(
            color=palette, text_scale=self.text_scale, text_thickness=self.text_thickness, text_padding=3,
            text_position=sv.Position.TOP_LEFT, smart_position=True,  # labels of players side by side do not overlap
        )
        self._trace_args = dict(color=palette, thickness=thickness, trace_length=trace_length,
                                position=sv.Position.BOTTOM_CENTER)
        self.trace = sv.TraceAnnotator(**self._trace_args)
        self.header = f"actions: {recognizer_name}"
        self._ball_trail: deque[tuple[int, int] | None] = deque(maxlen=12)  # the ball's last positions
        self._ball_radius = max(4, int(round(frame_height / 120)))

    def cut(self) -> None:
        """A camera cut before the next frame: the players' and the ball's trails start afresh (a
        player who keeps his ID across the cut gets no line from where he stood in the old shot)."""
        self.trace = sv.TraceAnnotator(**self._trace_args)
        self._ball_trail.clear()

    def _colors(self, detections: sv.Detections) -> np.ndarray:
        """Palette index per row: team colour when known, else a colour per track ID."""
        ids = detections.tracker_id.astype(np.int64)
        idx = len(TEAM_ORDER) + ids % self._n_track_colors
        teams = detections.data.get(TEAM_KEY) if detections.data else None
        if teams is not None:
            for i, team in enumerate(teams):
                if team in TEAM_ORDER:
                    idx[i] = TEAM_ORDER.index(team)
        return idx

    @staticmethod
    def label_texts(detections: sv.Detections, labels: Sequence[FrameLabel | None]) -> list[str]:
        """``#id [REF] action confidence`` per row (the action once a window covers the frame); a
        player whose jersey number is known is shown by team and number: ``A #30 dribble 0.81``."""
        teams = detections.data.get(TEAM_KEY) if detections.data else None
        teams = teams if teams is not None else [""] * len(detections)
        numbers = detections.data.get(JERSEY_KEY) if detections.data else None
        numbers = numbers if numbers is not None else [""] * len(detections)
        return [
            (f"{team} #{number}".lstrip() if number and team != REFEREE else f"#{int(tid)}")
            + (" REF" if team == REFEREE else "")
            + (f" {lab.label} {lab.confidence:.2f}" if lab is not None else "")
            for tid, lab, team, number in zip(detections.tracker_id, labels, teams, numbers)
        ]

    def render(self, image: np.ndarray, detections: sv.Detections, labels: Sequence[FrameLabel | None],
               in_place: bool = False, ball: tuple[float, float] | None = None) -> np.ndarray:
        """Return ``image`` (``(H, W, 3)`` uint8 BGR) annotated: a copy, or ``image`` itself drawn on
        when ``in_place`` (the pipeline's frames are not needed afterwards; a 1080p copy is not free)."""
        usable = in_place and image.flags.c_contiguous and image.flags.writeable
        frame = image if usable else image.copy()
        if len(detections):
            texts = self.label_texts(detections, labels)
            colors = self._colors(detections)
            frame = self.box.annotate(frame, detections, custom_color_lookup=colors)
            frame = self.label.annotate(frame, detections, labels=texts, custom_color_lookup=colors)
            frame = self.trace.annotate(frame, detections, custom_color_lookup=colors)
        self._draw_ball(frame, ball)
        (tw, th), _ = cv2.getTextSize(self.header, cv2.FONT_HERSHEY_SIMPLEX, self.text_scale, self.text_thickness)
        sv.draw_text(
            frame, self.header, sv.Point(8 + tw / 2, 8 + th / 2 + 4), text_color=sv.Color.WHITE,
            text_scale=self.text_scale, text_thickness=self.text_thickness, background_color=sv.Color.BLACK,
            text_padding=4,
        )
        return frame

    def _draw_ball(self, frame: np.ndarray, ball: tuple[float, float] | None) -> None:
        """The ball (call once per frame, in order): a ring at ``ball`` and a fading trail of its last
        positions; a lost ball (``None``) breaks the trail."""
        self._ball_trail.append(None if ball is None else (int(round(ball[0])), int(round(ball[1]))))
        pts = list(self._ball_trail)
        for k in range(1, len(pts)):
            if pts[k - 1] is not None and pts[k] is not None:
                cv2.line(frame, pts[k - 1], pts[k], (0, 165, 255), max(1, self._ball_radius * k // (2 * len(pts))),
                         cv2.LINE_AA)
        if ball is not None:
            cv2.circle(frame, pts[-1], self._ball_radius, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.circle(frame, pts[-1], self._ball_radius, (0, 165, 255), 2, cv2.LINE_AA)
