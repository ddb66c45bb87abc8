"""The renderer draws team colours, referee marks and labels where the players are."""

from __future__ import annotations

import numpy as np
import supervision as sv

from pipeline.render import TEAM_HEX, Renderer
from pipeline.timeline import FrameLabel
from tracker.game.identity import TEAM_KEY


def test_team_colours_and_referee_mark():
    image = np.full((240, 320, 3), 128, np.uint8)
    dets = sv.Detections(xyxy=np.array([[20, 60, 60, 200], [120, 60, 160, 200], [220, 60, 260, 200]], np.float32),
                         tracker_id=np.array([1, 2, 3]))
    dets.data[TEAM_KEY] = np.array(["A", "B", "referee"], dtype=object)
    renderer = Renderer("kinematic", frame_height=240)
    labels = [FrameLabel(0, "run", 0.9), FrameLabel(1, "walk", 0.8), None]
    out = renderer.render(image, dets, labels)
    assert out.shape == image.shape
    for (x1, y1, x2, y2), team in zip(dets.xyxy.astype(int), dets.data[TEAM_KEY]):
        hex_colour = TEAM_HEX[team]
        bgr = sv.Color.from_hex(hex_colour).as_bgr()
        assert np.abs(out[(y1 + y2) // 2, x1].astype(int) - bgr).max() <= 2  # left edge drawn in the team colour
    assert (out == image).all(axis=2).mean() > 0.8  # the rest of the frame is untouched
    assert Renderer.label_texts(dets, labels) == ["#1 run 0.90", "#2 walk 0.80", "#3 REF"]


def test_in_place_draws_on_the_frame_itself_and_the_default_leaves_it_alone():
    image = np.full((120, 160, 3), 128, np.uint8)
    dets = sv.Detections(xyxy=np.array([[20, 30, 60, 100]], np.float32), tracker_id=np.array([1]))
    renderer = Renderer("kinematic", frame_height=120)
    copy = renderer.render(image, dets, [None])
    assert copy is not image and (image == 128).all()
    same = renderer.render(image, dets, [None], in_place=True)
    assert same is image and (image == copy).all()
    view = image[:, ::2]  # not contiguous: drawn on a copy even when asked in place
    assert renderer.render(view, dets, [None], in_place=True) is not view


def test_a_cut_starts_the_trails_afresh():
    """The same ID on both sides of a camera cut: no trail line joins the old shot's spot to the new."""
    def frames(cut: bool) -> np.ndarray:
        renderer = Renderer("test", frame_height=240)
        image = np.zeros((240, 320, 3), np.uint8)
        for f, x in enumerate([20, 22, 24, 260, 262]):
            if cut and f == 3:
                renderer.cut()
            dets = sv.Detections(xyxy=np.array([[x, 100, x + 20, 200]], np.float32), tracker_id=np.array([7]))
            out = renderer.render(image, dets, [None])
        return out

    between = (slice(195, 205), slice(80, 240))  # the feet row, between the two spots
    assert frames(cut=False)[between].any()
    assert not frames(cut=True)[between].any()
