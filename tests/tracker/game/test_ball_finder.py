"""The ball finder on synthetic encoded videos: a ball moved by a player and thrown is followed;
ball-coloured things that do not move like a ball (a floor logo, a sneaker) are not."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from tests.synth import SynthBall, linear_path, make_video, player, read_frames, standing_path
from tracker.common.coco import SPORTS_BALL
from tracker.game.ball.candidates import BallCandidates, ColourCandidates, expected_diameter
from tracker.game.ball.finder import BallFinder
from tracker.game.ball.state import BallStateTracker
from tracker.game.ball.tiles import TileBallDetector, upper_body_tiles
from tracker.tracking.camera_motion import CameraMotionEstimator

N, FPS, SIZE = 48, 30.0, (192, 128)


def _players(truth, t: int) -> sv.Detections:
    return sv.Detections(xyxy=truth.boxes[t].astype(np.float32), tracker_id=truth.ids[t] + 1)


def _run(truth, **kw) -> list:
    finder = BallFinder(camera=CameraMotionEstimator().estimate, **kw)
    return [finder.update(t, im, _players(truth, t)) for t, im in enumerate(read_frames(truth.path))]


def _throw_video(path, ball: np.ndarray):
    return make_video(path, SIZE, N, FPS, objects=[player(0, standing_path(N, (40, 70)), size=(20, 48)),
                                                   player(1, standing_path(N, (100, 100)), size=(20, 48))],
                      balls=[SynthBall(ball, diameter=9)], background="plain")


def _thrown_ball() -> np.ndarray:
    """Held at the first player's hands for 12 frames, then flying right and up, then falling."""
    c = np.full((N, 2), np.nan)
    c[:12] = [52, 60]
    t = np.arange(N - 12)
    c[12:, 0] = 52 + 3.0 * t
    c[12:, 1] = 60 - 3.0 * t + 0.1 * t**2
    c[c[:, 0] > SIZE[0] + 10] = np.nan
    return c


def test_expected_diameter_follows_the_nearest_player():
    boxes = np.array([[0, 0, 10, 100], [200, 0, 210, 50]], float)
    d = expected_diameter(np.array([[5, 50], [205, 20]]), boxes)
    np.testing.assert_allclose(d, [12.0, 6.0])


def test_thrown_ball_is_followed_in_flight(tmp_path):
    ball = _thrown_ball()
    truth = _throw_video(tmp_path / "throw.mp4", ball)
    obs = _run(truth)
    flying = [t for t in range(16, N) if np.isfinite(ball[t]).all() and ball[t, 0] < SIZE[0] - 4]
    hits = [t for t in flying if obs[t].xy is not None
            and np.hypot(*(np.array(obs[t].xy) - ball[t])) <= 4]
    # the track is confirmed by 3 moving candidates in a row, moving against the nearest player
    assert len(hits) >= 0.75 * len(flying), (len(hits), len(flying))
    assert {obs[t].state for t in hits} == {"flight"}
    assert all(obs[t].xy is None for t in range(0, 10))  # held still at the start: not yet confirmed
    assert all(obs[t].confidence >= BallFinder().min_confidence for t in hits)


def test_a_report_needs_the_confidence_threshold(tmp_path):
    """The same throw: everything the track holds comes back at min_confidence 0 (each with its
    confidence); above every confidence nothing is reported, the frames say lost."""
    truth = _throw_video(tmp_path / "throw.mp4", _thrown_ball())
    every = _run(truth, min_confidence=0.0)
    shown = _run(truth)
    none = _run(truth, min_confidence=1.01)
    assert all(o.xy is None and o.state == "lost" for o in none)
    assert sum(o.xy is not None for o in every) > sum(o.xy is not None for o in shown) > 0
    for a, b in zip(every, shown):
        assert b.xy is None or (b.xy == a.xy and b.confidence == a.confidence >= BallFinder().min_confidence)
        assert b.xy is not None or a.xy is None or a.confidence < BallFinder().min_confidence


def test_repeated_frames_keep_the_ball_moving(tmp_path):
    """Frame-rate conversion: every frame shown twice. A repeat gets the previous answer (nothing
    moved), and the motion test differences against the last new frame, so the flight is still
    followed."""
    ball = _thrown_ball()
    twice = ball[np.arange(N) // 2 + 6]  # the throw at half speed, each position twice (from frame 12 on)
    truth = _throw_video(tmp_path / "twice.mp4", twice)
    obs = _run(truth)
    flying = [t for t in range(24, N) if np.isfinite(twice[t]).all() and twice[t, 0] < SIZE[0] - 4]
    hits = [t for t in flying if obs[t].xy is not None and np.hypot(*(np.array(obs[t].xy) - twice[t])) <= 4]
    assert len(hits) >= 0.75 * len(flying), (len(hits), len(flying))
    repeats = [t for t in range(1, N) if t % 2 and obs[t - 1].xy is not None]
    assert repeats and all(obs[t].xy == obs[t - 1].xy and obs[t].frame_index == t for t in repeats)


def test_the_ball_colour_learned_in_flight_weighs_other_blobs():
    """Candidates as numbers: a blob flies across (its mean CIELAB a, b near 151, 138, like the
    court clip's ball) and is learned; then a blob the colour of bare skin (a, b near 143, 139)
    matches poorly, the ball's colour well -- and a held track fed by the skin-coloured blob is
    believed less than one fed by a ball-coloured one."""
    players = sv.Detections(xyxy=np.array([[0.0, 100, 20, 160]]), tracker_id=np.array([1]))

    def blob(x, y, look):
        return BallCandidates(np.array([[x, y]]), np.array([10.0]), np.array([0.9]), np.array([True]),
                              np.array([False]), np.array([look], float))

    tr = BallStateTracker()
    for t in range(12):
        tr.update(t, blob(100 + 8 * t, 40, (151, 138)), players)
    assert tr.look_match(np.array([[151.0, 138], [143, 139]])).round(2).tolist()[0] >= 0.95
    assert tr.look_match(np.array([[143.0, 139]]))[0] < 0.65
    assert np.isnan(BallCandidates.empty().look).all() and tr.look_match(np.full((1, 2), np.nan))[0] == 1.0

    def held_confidence(look) -> float:
        t2 = BallStateTracker()
        for t in range(12):  # flies in to the player's hands
            t2.update(t, blob(100 - 7 * t, 40 + 8 * t, (151, 138)), players)
        o = None
        for t in range(12, 60):  # held there, bobbing (moving blobs, not travelling)
            o = t2.update(t, blob(22 + 3 * (t % 2), 130, look), players)
        assert o.state == "held" and o.measured and np.hypot(o.xy[0] - 23.5, o.xy[1] - 130) < 4
        return o.confidence

    assert held_confidence((151, 138)) > BallFinder().min_confidence > held_confidence((143, 139))


def test_logo_and_sneaker_are_not_the_ball(tmp_path):
    """No ball on the court: a round orange logo painted on the floor (pans with it) and an
    orange sneaker on a running player's foot. Nothing may be tracked. (The textured court's dark
    speckles share the ball's hue; a red jersey's edges can still start a false track -- a known gap.)"""
    run = linear_path(N, FPS, (30, 70), (60.0, 0.0))
    sneaker = run + [6, 22]
    truth = make_video(tmp_path / "decoys.mp4", SIZE, N, FPS, objects=[player(0, run, size=(20, 48), color=(220, 80, 30))],
                       balls=[SynthBall(standing_path(N, (120, 100)), diameter=8),
                              SynthBall(sneaker, shape="rect", size=(9, 3))], pan_px_per_frame=(1.0, 0.0))
    obs = _run(truth)
    assert all(o.xy is None and o.state == "lost" for o in obs), [(o.frame_index, o.xy) for o in obs if o.xy]


def test_colour_mask_takes_the_ball_not_the_floor():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:] = (90, 150, 205)  # synthetic parquet
    img[10:16, 10:16] = (25, 60, 150)
    m = ColourCandidates().mask(img)
    assert m[12, 12] == 1 and m[30, 30] == 0


def test_tiles_go_around_the_players_nearest_the_ball_and_map_back_to_the_frame():
    boxes = np.array([[10, 10, 30, 70], [100, 20, 120, 80], [200, 10, 220, 70]], float)
    tiles = upper_body_tiles(boxes, np.array([110.0, 40.0]), (240, 120), max_tiles=2)
    assert len(tiles) == 2 and tiles[0][0] <= 110 <= tiles[0][2]  # the nearest player's first
    seen = []

    def ball_in_the_middle(crops):  # a detector answering one ball at the centre of each crop
        seen.extend(c.shape for c in crops)
        return [sv.Detections(xyxy=np.array([[c.shape[1] / 2 - 3, c.shape[0] / 2 - 3, c.shape[1] / 2 + 3,
                                               c.shape[0] / 2 + 3]], np.float32),
                              confidence=np.array([0.5], np.float32), class_id=np.array([SPORTS_BALL]))
                for c in crops]

    image = np.zeros((120, 240, 3), np.uint8)
    cands = TileBallDetector(ball_in_the_middle, every=2, max_tiles=2, span=1.2)(4, image, boxes, np.array([110.0, 40.0]))
    np.testing.assert_allclose(cands.xy, (tiles[:, :2] + tiles[:, 2:]) / 2)
    assert cands.detected.all() and len(seen) == 2  # one batch of two tiles
    assert not len(TileBallDetector(ball_in_the_middle, every=2)(5, image, boxes, None))  # not this frame


def test_a_detector_ball_wins_over_a_colour_track_not_seen_as_a_ball():
    """A chain of moving blobs starts a (half-believed) track; the detector then reports a ball
    elsewhere: the track moves there at once, with the detector's confidence."""
    players = sv.Detections(xyxy=np.array([[0.0, 100, 20, 160], [200.0, 100, 220, 160]]), tracker_id=np.array([1, 2]))
    tr = BallStateTracker()
    for t in range(4):  # a blob crawling across the floor, away from both players
        o = tr.update(t, BallCandidates(np.array([[100.0 + 3 * t, 170]]), np.array([10.0]), np.array([0.9]),
                                        np.array([True]), np.array([False])), players)
    assert o.xy is not None and o.confidence < BallFinder().min_confidence
    detected = BallCandidates(np.array([[210.0, 130]]), np.array([10.0]), np.array([0.5]), np.array([True]),
                              np.array([True]))
    o = tr.update(4, BallCandidates.concat([detected, BallCandidates(np.array([[112.0, 170]]), np.array([10.0]),
                                                                     np.array([0.9]), np.array([True]),
                                                                     np.array([False]))]), players)
    assert np.allclose(o.xy, (210, 130)) and o.confidence >= BallFinder().min_confidence


def test_a_ball_by_a_player_outranks_crowd_specks_of_its_colour(tmp_path):
    """An encoded broadcast-like frame pair: a crowd band full of moving ball-coloured specks (more
    than the candidates kept) above a floor with one player and a ball at his hands. Weighed by where
    a ball can be (near a player), the ball is among the kept candidates and ranks first; unweighed
    (``reach=0``) the specks crowd it out."""
    from tests.synth import encode_decode
    rng = np.random.default_rng(3)
    frames = []
    specks = rng.uniform([8, 6], [312, 44], (30, 2))
    for t in range(2):
        img = np.empty((160, 320, 3), np.uint8)
        img[:50] = (70, 55, 50)  # the crowd
        img[50:] = (90, 150, 205)  # the wood
        for x, y in specks + [3 * t, 0]:
            cv2.circle(img, (int(x), int(y)), 4, (25, 60, 150), -1)
        cv2.rectangle(img, (150, 80), (170, 140), (160, 60, 40), -1)  # the player
        cv2.circle(img, (176 + 4 * t, 100 - 3 * t), 4, (25, 60, 150), -1)  # the ball at his hands
        frames.append(img)
    frames = encode_decode(frames, tmp_path / "crowd.mp4")
    player = np.array([[148.0, 78, 172, 142]])
    ball = np.array([180.0, 97])

    def kept(**kw):
        cc = ColourCandidates(max_candidates=8, **kw)
        prev = cc.prepare(frames[0])
        return cc(frames[1], player, prev[1], prev[0])

    weighed, unweighed = kept(), kept(reach=0.0)
    assert len(weighed) == len(unweighed) == 8
    assert np.linalg.norm(weighed.xy[0] - ball) < 3 and weighed.moving[0]
    assert np.linalg.norm(unweighed.xy - ball, axis=1).min() > 20
    assert np.all(weighed.score[1:] < weighed.score[0]) and np.all(weighed.xy[1:, 1] < 50)  # the rest: crowd
