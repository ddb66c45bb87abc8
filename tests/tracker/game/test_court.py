"""On-court filter on synthetic scenes: a wooden floor, a textured crowd strip above it,
people drawn on both; spectators must go, players must stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from tests.synth import encode_decode
from tracker.game.court import CourtFilter, estimate_floor

H, W = 240, 320
WOOD = np.array([70, 135, 195], np.float32)  # BGR light wood
KEY = (120, 40, 90)  # BGR purple paint


def wood_floor(rng: np.random.Generator, h: int = H, w: int = W) -> np.ndarray:
    """Planks: 6-px bands of slightly different shade, plus grain noise."""
    shade = np.repeat(rng.uniform(-14, 14, size=(h // 6 + 1, 1, 1)), 6, axis=0)[:h]
    img = WOOD + shade + rng.normal(0, 4, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def crowd(rng: np.random.Generator, h: int, w: int = W) -> np.ndarray:
    """Stands: dark seats covered with small blobs of random colours."""
    img = np.full((h, w, 3), 40, np.uint8)
    for _ in range(h * w // 30):
        y, x = rng.integers(0, h), rng.integers(0, w)
        img[y : y + 5, x : x + 4] = rng.integers(0, 256, 3)
    return img


def draw_person(img: np.ndarray, box, jersey, shorts=(30, 30, 30), skin=(90, 125, 175)) -> None:
    """A figure filling ``box`` (xyxy): head, jersey, arms, shorts, two legs with a gap."""
    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) // 2
    img[y1 : y1 + h * 15 // 100, cx - w // 5 : cx + w // 5] = skin
    img[y1 + h * 15 // 100 : y1 + h * 50 // 100, x1 + w // 6 : x2 - w // 6] = jersey
    img[y1 + h * 15 // 100 : y1 + h * 45 // 100, x1 : x1 + w // 6] = skin
    img[y1 + h * 15 // 100 : y1 + h * 45 // 100, x2 - w // 6 : x2] = skin
    img[y1 + h * 50 // 100 : y1 + h * 65 // 100, x1 + w // 6 : x2 - w // 6] = shorts
    img[y1 + h * 65 // 100 : y2, x1 + w // 6 : cx - 1] = skin
    img[y1 + h * 65 // 100 : y2, cx + 1 : x2 - w // 6] = skin


def person_box(feet_x: float, feet_y: float, height: float) -> list[float]:
    return [feet_x - 0.2 * height, feet_y - height, feet_x + 0.2 * height, feet_y]


def scene(seed: int = 0, top: int = 80):
    """One frame: crowd rows [0, top), floor below with a court line and a painted key.

    Returns the frame, the player boxes (feet on the floor, height growing towards
    the camera) and the spectator boxes (feet in the crowd, same sizes).
    """
    rng = np.random.default_rng(seed)
    img = wood_floor(rng)
    img[:top] = crowd(rng, top)
    img[150:152, :] = 235  # court line
    img[190:, 120:200] = KEY  # the key, touching the bottom edge
    feet = [(40, 130), (110, 110), (170, 200), (230, 150), (285, 225), (160, 235)]
    players = [person_box(x, y, 0.25 * y + 22) for x, y in feet]
    spectators = [person_box(x, y, 40) for x, y in [(30, 60), (95, 45), (160, 70), (220, 55), (290, 66)]]
    for box in spectators:
        draw_person(img, box, jersey=tuple(int(v) for v in rng.integers(0, 256, 3)))
    for i, box in enumerate(players):
        draw_person(img, box, jersey=(40, 40, 200) if i % 2 else (200, 90, 30))
    return img, np.array(players, np.float32), np.array(spectators, np.float32)


def detections(boxes: np.ndarray, class_id: int = 0) -> sv.Detections:
    return sv.Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, np.float32),
        class_id=np.full(len(boxes), class_id),
    )


def kept_rows(kept: sv.Detections, all_boxes: np.ndarray) -> set[int]:
    return {int(np.flatnonzero((all_boxes == box).all(axis=1))[0]) for box in kept.xyxy}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spectators_dropped_players_kept(seed):
    frame, players, spectators = scene(seed)
    boxes = np.concatenate([players, spectators])
    kept = CourtFilter()(frame, detections(boxes))
    assert kept_rows(kept, boxes) == set(range(len(players)))


def test_floor_mask_covers_the_floor_only():
    top = 80
    frame, _, _ = scene(3, top=top)
    mask = CourtFilter().floor_mask(frame)
    assert mask.shape == (H, W) and mask.dtype == bool
    truth = np.zeros((H, W), bool)
    truth[top:] = True
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9
    assert mask[:top - 8].mean() < 0.05  # the stands are not floor
    assert mask[200:, 130:190].all()  # the painted key is inside the hull


def test_plain_frame_keeps_everyone():
    frame = np.full((H, W, 3), 128, np.uint8)
    _, players, spectators = scene(4)
    boxes = np.concatenate([players, spectators])
    for box in boxes:
        draw_person(frame, box, jersey=(0, 200, 0))
    court = CourtFilter()
    kept = court(frame, detections(boxes))
    assert len(kept) == len(boxes)
    assert not court.floor.found and court.floor.mask.all()


def test_size_prior_drops_giants_and_dwarfs_on_the_floor():
    frame, players, _ = scene(5)
    giant = person_box(80, 230, 200)  # feet on the floor, 2.5x a player standing there
    dwarf = person_box(260, 120, 9)
    boxes = np.concatenate([players, [giant, dwarf]]).astype(np.float32)
    kept = CourtFilter()(frame, detections(boxes))
    assert kept_rows(kept, boxes) == set(range(len(players)))


def test_ball_and_other_classes_pass_through():
    frame, players, spectators = scene(6)
    ball_in_stands = detections([[100, 20, 108, 28]], class_id=32)
    dets = sv.Detections.merge([detections(np.concatenate([players, spectators])), ball_in_stands])
    dets.tracker_id = np.arange(len(dets)) + 1
    kept = CourtFilter()(frame, dets)
    assert (kept.class_id == 32).sum() == 1
    assert (kept.class_id == 0).sum() == len(players)
    assert set(kept.tracker_id) == set(range(1, len(players) + 1)) | {len(dets)}


def test_without_class_ids_every_row_is_a_person():
    frame, players, spectators = scene(7)
    boxes = np.concatenate([players, spectators])
    kept = CourtFilter()(frame, sv.Detections(xyxy=boxes))
    assert kept_rows(kept, boxes) == set(range(len(players)))


def test_follows_a_panning_camera():
    """The stands grow downwards as the camera tilts; the floor estimate follows."""
    court = CourtFilter(refresh_every=5)
    standing = np.array([person_box(60, 105, 40)], np.float32)  # feet at row 105
    verdicts = []
    for i, top in enumerate(np.linspace(60, 140, 30).astype(int)):
        frame, _, _ = scene(10 + i, top=int(top))
        draw_person(frame, standing[0], jersey=(200, 90, 30))
        verdicts.append(len(court(frame, detections(standing))) == 1)
    assert verdicts[0] and verdicts[4]  # on the floor while the floor starts above row 105
    assert not any(verdicts[-10:])  # in the stands once the floor starts at ~row 115-140


def test_works_on_encoded_video(tmp_path: Path):
    """The same verdicts after an H.264 round trip (blur, chroma subsampling)."""
    path = tmp_path / "court.mp4"
    frames, truths = [], []
    for i in range(6):
        frame, players, spectators = scene(20 + i)
        frames.append(frame)
        truths.append((players, spectators))
    decoded = encode_decode(frames, path, crf=28)
    assert len(decoded) == len(frames)
    court = CourtFilter(refresh_every=1)
    slips = []
    for k, (frame, (players, spectators)) in enumerate(zip(decoded, truths)):
        boxes = np.concatenate([players, spectators])
        kept = kept_rows(court(frame, detections(boxes)), boxes)
        assert set(range(len(players))) <= kept, f"frame {k}: a player was dropped"
        slips += [(k, row) for row in kept - set(range(len(players)))]
    # Compression noise may tip one spectator standing at the floor's edge over it now and then (seen in
    # about one full-suite run in three, never alone); a filter that lets the stands in fails on many.
    assert len(slips) <= 1, f"spectators kept after the round trip: {slips}"


def test_estimate_floor_reports_its_extent_and_colour():
    frame, _, _ = scene(8, top=100)
    est = estimate_floor(frame)
    assert est.found
    assert 100 - 12 <= est.extent[1] <= 100 + 4  # wood-coloured blobs at the crowd's edge may join
    assert est.extent[3] == pytest.approx(H, abs=2)
    # the dominant colour is the wood's, not the paint's or the crowd's (Lab of WOOD)
    import cv2

    wood_lab = cv2.cvtColor(WOOD.astype(np.uint8)[None, None], cv2.COLOR_BGR2LAB)[0, 0].astype(np.float32)
    assert np.abs(est.colour_lab[1:] - wood_lab[1:]).max() < 8


def test_bad_arguments():
    with pytest.raises(ValueError):
        CourtFilter(refresh_every=0)
    with pytest.raises(ValueError):
        estimate_floor(np.zeros((10, 10), np.uint8))


BLUE_KEY = (150, 70, 20)  # BGR royal blue paint


def painted_corner_scene(seed: int = 0):
    """The camera looks at one basket: the blue key runs into the frame's bottom-left corner, so
    the wood does not surround it (the wood's hull alone cuts it off). Players stand in the key
    and on the wood; spectators in the stands; the bench sits on a blue out-of-bounds strip
    along the top of the floor (bordered by the stands, not surrounded by wood)."""
    rng = np.random.default_rng(seed)
    img = wood_floor(rng)
    img[:top_rows] = crowd(rng, top_rows)
    img[top_rows : top_rows + 14] = BLUE_KEY  # out-of-bounds band under the stands
    img[140:, :110] = BLUE_KEY  # the key, into the corner
    cv2_line = img[140:142, :110]
    cv2_line[:] = 235  # free-throw line
    in_key = [person_box(x, y, 0.25 * y + 22) for x, y in [(30, 200), (70, 225), (45, 170)]]
    on_wood = [person_box(x, y, 0.25 * y + 22) for x, y in [(200, 150), (260, 210), (160, 120)]]
    bench = [person_box(x, top_rows + 12, 40) for x in (60, 150, 240)]
    spectators = [person_box(x, y, 40) for x, y in [(40, 50), (130, 60), (250, 45)]]
    for box in spectators + bench:
        draw_person(img, box, jersey=tuple(int(v) for v in rng.integers(0, 256, 3)))
    for i, box in enumerate(in_key + on_wood):
        draw_person(img, box, jersey=(40, 40, 200) if i % 2 else (240, 240, 240))
    return img, np.array(in_key + on_wood, np.float32), np.array(bench + spectators, np.float32)


top_rows = 70


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_players_in_a_painted_key_are_kept(seed):
    img, players, outsiders = painted_corner_scene(seed)
    dets = detections(np.concatenate([players, outsiders]))
    keep = CourtFilter()(img, dets).xyxy
    kept = {tuple(b) for b in keep.round(1).tolist()}
    assert all(tuple(b) in kept for b in players.round(1).tolist())
    assert not any(tuple(b) in kept for b in outsiders.round(1).tolist())


def test_wood_only_model_drops_the_key_players():
    """The measurement the paint model fixes: without it the key's players are lost (the test
    above would be vacuous if they were kept anyway)."""
    img, players, _ = painted_corner_scene(0)
    kept = CourtFilter(paint=False).on_floor(img, detections(players))
    assert not kept[:3].all() and kept[3:].all()
