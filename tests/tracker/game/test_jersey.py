"""Jersey numbers: rendered on coloured jerseys, read with the real RapidOCR models, voted per track."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv

from tests.synth import encode_decode
from tracker.game.jersey import (NUMBER_WINDOWS, JerseyNumbers, NumberReader, NumberVote, clean_number, crop,
                                  ocr_available, torso_boxes)

needs_ocr = pytest.mark.skipif(not ocr_available(), reason="rapidocr-onnxruntime not installed")


def draw_player(img: np.ndarray, box, jersey, number: str | None, ink=(255, 255, 255)) -> None:
    """A person-ish figure filling ``box`` with ``number`` printed on the torso."""
    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) // 2
    img[y1 : y1 + h * 12 // 100, cx - w // 5 : cx + w // 5] = (90, 125, 175)
    img[y1 + h * 12 // 100 : y1 + h * 55 // 100, x1 + w // 10 : x2 - w // 10] = jersey
    img[y1 + h * 55 // 100 : y2, x1 + w // 6 : x2 - w // 6] = tuple(int(c * 0.5) for c in jersey)
    if number:
        scale = h / 150
        (tw, th), _ = cv2.getTextSize(number, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, h // 45))
        org = (cx - tw // 2, y1 + h * 34 // 100 + th // 2)
        cv2.putText(img, number, org, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, max(1, h // 45), cv2.LINE_AA)


def court(h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(np.array([70, 135, 195]) + rng.normal(0, 5, (h, w, 3)), 0, 255).astype(np.uint8)


PLAYERS = [  # (box, jersey BGR, number, ink)
    ([30, 60, 80, 190], (40, 40, 200), "23", (255, 255, 255)),
    ([120, 50, 170, 180], (200, 90, 30), "7", (255, 255, 255)),
    ([210, 70, 260, 200], (235, 235, 235), "41", (30, 30, 30)),
]


def frame_with(players=PLAYERS, dx: int = 0) -> tuple[np.ndarray, sv.Detections]:
    img = court()
    boxes = []
    for box, jersey, number, ink in players:
        b = [box[0] + dx, box[1], box[2] + dx, box[3]]
        draw_player(img, b, jersey, number, ink)
        boxes.append(b)
    dets = sv.Detections(xyxy=np.array(boxes, np.float32), confidence=np.full(len(boxes), 0.9, np.float32),
                         class_id=np.zeros(len(boxes), int), tracker_id=np.arange(1, len(boxes) + 1))
    return img, dets


def test_clean_number():
    assert [clean_number(t) for t in ["23", " 7", "0", "00", "4 5"]] == ["23", "7", "0", "00", "45"]
    assert [clean_number(t) for t in ["07", "123", "A3", "", "3.", "十"]] == [None] * 6


def test_torso_is_the_upper_middle_of_the_box():
    t = torso_boxes(np.array([[0, 0, 100, 200]]))[0]
    assert t[0] > 0 and t[2] < 100 and 0 < t[1] < 40 and 90 < t[3] < 120


def test_vote_needs_several_consistent_reads():
    vote = NumberVote()
    vote.add("23", 0.9, 3, 0.6)
    vote.add("28", 0.5, 3, 0.6)
    vote.add("23", 0.9, 3, 0.6)
    assert vote.decided is None  # two reads only
    vote.add("23", 0.8, 3, 0.6)
    assert vote.decided == "23"
    for _ in range(2):
        vote.add("8", 0.9, 3, 0.6)
    assert vote.changed_to is None
    vote.add("8", 0.9, 3, 0.6)
    assert vote.changed_to == "8"


@needs_ocr
def test_reader_reads_numbers_on_coloured_jerseys():
    img, dets = frame_with()
    crops = [img[int(b[1]):int(b[3]), int(b[0]):int(b[2])] for b in torso_boxes(dets.xyxy)]
    reads = NumberReader()(crops)
    assert [n for n, _ in reads] == [p[2] for p in PLAYERS]
    assert all(0.5 <= c <= 1.0 for _, c in reads)


@needs_ocr
def test_reader_finds_no_number_on_a_plain_jersey():
    img, dets = frame_with([(PLAYERS[0][0], (40, 40, 200), None, None)])
    t = torso_boxes(dets.xyxy)[0].astype(int)
    assert NumberReader()([img[t[1]:t[3], t[0]:t[2]]]) == [(None, 0.0)]


@needs_ocr
def test_tracks_get_their_numbers_in_a_worker_thread_and_reading_stops():
    numbers = JerseyNumbers(every=2, recheck_every=None)
    try:
        for f in range(30):
            img, dets = frame_with(dx=f % 3)
            numbers.submit(f, img, dets)
            numbers.collect(wait=True)  # the worker's pace decides nothing in the test
        reads = numbers.reads
        assert [numbers.number_of(t) for t in (1, 2, 3)] == ["23", "7", "41"]
        assert not any(numbers.needs(t) for t in (1, 2, 3))
        for f in range(30, 60):
            numbers.submit(f, *frame_with())
        numbers.collect(wait=True)
        assert numbers.reads == reads  # settled tracks are not read again
    finally:
        numbers.close()


@needs_ocr
def test_small_players_are_not_read():
    small = [([30, 60, 50, 110], (40, 40, 200), "23", (255, 255, 255))]
    numbers = JerseyNumbers(threaded=False)
    for f in range(20):
        numbers.submit(f, *frame_with(small))
    assert numbers.reads == 0 and numbers.number_of(1) is None


@needs_ocr
def test_a_track_swapped_onto_another_player_reports_the_change():
    numbers = JerseyNumbers(threaded=False, every=1, recheck_every=1)
    for f in range(20):
        players = PLAYERS[:1] if f < 10 else [(PLAYERS[0][0], (40, 40, 200), "8", (255, 255, 255))]
        numbers.submit(f, *frame_with(players))
    assert numbers.votes[1].decided == "23" and numbers.changed(1) == "8"


@needs_ocr
def test_a_track_without_a_legible_number_is_given_up():
    plain = [(PLAYERS[0][0], (40, 40, 200), None, None)]
    numbers = JerseyNumbers(threaded=False, every=1, max_tries=4)
    for f in range(12):
        numbers.submit(f, *frame_with(plain))
    assert numbers.reads == 4 and numbers.number_of(1) is None and not numbers.needs(1)


def thin_player_frames(number: str | None, path, n: int = 8) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` 160x96 frames of one 40x90 player in a blue shirt whose back number (dull gold, 1-px
    strokes, 8 px tall, mid-torso: a broadcast number at 480p) is ``number`` (None: a plain shirt with two thin side
    stripes), through an H.264 round trip: the decoded frames and the player's boxes."""
    frames, boxes = [], []
    for k in range(n):
        img = court(96, 160)
        box = (50 + k, 4, 90 + k, 94)
        draw_player(img, box, (150, 60, 40), None)
        x1, y1, x2, y2 = box
        if number is None:  # side stripes: vertical lines that a recogniser could take for ones
            for x in (x1 + 6, x2 - 7):
                img[y1 + 12 : y1 + 48, x] = (60, 200, 230)
        else:
            font = cv2.FONT_HERSHEY_SIMPLEX
            scale = cv2.getFontScaleFromHeight(font, 8, 1)
            (tw, th), _ = cv2.getTextSize(number, font, scale, 1)
            cv2.putText(img, number, ((x1 + x2) // 2 - tw // 2, y1 + 34 + th // 2), font, scale, (90, 170, 200), 1,
                        cv2.LINE_AA)
        frames.append(img)
        boxes.append(box)
    return encode_decode(frames, path / "thin.mp4"), boxes


def one_track(box) -> sv.Detections:
    return sv.Detections(xyxy=np.array([box], np.float32), confidence=np.array([0.9], np.float32),
                         class_id=np.zeros(1, int), tracker_id=np.array([1]))


@needs_ocr
def test_a_thin_small_number_is_read_by_the_recogniser_windows_and_needs_more_reads(tmp_path):
    frames, boxes = thin_player_frames("11", tmp_path)
    crops = [crop(f, torso_boxes(np.array([b], np.float32))[0]) for f, b in zip(frames, boxes)]
    reads = NumberReader(windows=NUMBER_WINDOWS)(crops)
    numbers = [n for n, _ in reads]
    assert set(numbers) <= {"11", None} and numbers.count("11") >= len(crops) // 2
    assert all(0 < c < 0.5 for n, c in reads if n)  # weak reads

    old = JerseyNumbers(NumberReader(), threaded=False, every=1)  # the default: the text detector only
    new = JerseyNumbers(NumberReader(windows=NUMBER_WINDOWS), threaded=False, every=1)
    for f, (image, box) in enumerate(zip(frames, boxes)):
        old.submit(f, image, one_track(box))
        new.submit(f, image, one_track(box))
        if f == new.min_reads - 1:
            assert new.number_of(1) is None  # three weak reads are not enough
    assert old.reads == len(frames)
    assert old.number_of(1) is None and new.number_of(1) == "11"


@needs_ocr
def test_a_shirt_without_a_number_decides_nothing(tmp_path):
    frames, boxes = thin_player_frames(None, tmp_path, n=12)
    numbers = JerseyNumbers(NumberReader(windows=NUMBER_WINDOWS), threaded=False, every=1)
    for f, (image, box) in enumerate(zip(frames, boxes)):
        numbers.submit(f, image, one_track(box))
    assert numbers.reads == 12 and numbers.number_of(1) is None and 1 not in numbers.votes


def test_weak_reads_need_more_weight_and_never_report_a_change():
    vote = NumberVote()
    for _ in range(3):
        vote.add("11", 0.43, 3, 0.6, min_weight=1.5, strong=0.5)
    assert vote.decided is None  # 3 weak reads weigh 1.29
    vote.add("11", 0.43, 3, 0.6, min_weight=1.5, strong=0.5)
    assert vote.decided == "11"
    for _ in range(6):
        vote.add("17", 0.44, 3, 0.6, min_weight=1.5, strong=0.5)
    assert vote.changed_to is None  # weak misreads do not split a track
    for _ in range(3):
        vote.add("17", 0.95, 3, 0.6, min_weight=1.5, strong=0.5)
    assert vote.changed_to == "17"


@needs_ocr
def test_close_leaves_no_reader_thread_and_a_given_reader_open():
    import threading

    def ocr_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith(("jersey-onnx", "jersey-ocr"))}

    before = ocr_threads()
    numbers = JerseyNumbers(every=1, recheck_every=None)
    numbers.submit(0, *frame_with())  # starts the worker; its read is under way or queued
    numbers.close()
    assert ocr_threads() == before  # the worker and the reader's own thread have stopped
    shared = NumberReader()
    numbers = JerseyNumbers(reader=shared, every=1, recheck_every=None)
    numbers.submit(0, *frame_with())
    numbers.close()
    assert shared([frame_with()[0][10:60, 10:60]])  # the caller's reader still reads
    shared.close()
