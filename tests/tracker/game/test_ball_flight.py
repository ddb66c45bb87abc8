"""The motion-only flight stage on a synthetic encoded video: a ball thrown in an arc over a textured,
panning court full of ball-coloured specks (still ones, flickering ones) next to a player whose arm
swings: the arc is followed; the specks and the arm are never reported as a flight."""

from __future__ import annotations

import numpy as np
import supervision as sv

from tests.synth import SynthBall, make_video, player, read_frames, standing_path
from tracker.game.ball.candidates import ColourCandidates
from tracker.game.ball.finder import BallFinder
from tracker.game.ball.flight import FlightFinder, FlightTracker
from tracker.tracking.camera_motion import CameraMotionEstimator

N, FPS, SIZE, PAN = 40, 30.0, (224, 128), (1.5, 0.0)
BODY = (24, 64)  # a ball is ~0.12 of a body height: 8 px
ARM = np.array([40.0, 80.0])  # the swinging hand's centre (world), inside the first player's box


def _arc() -> np.ndarray:
    """World centres: thrown at frame 4 from the first player, up and right, falling (gravity ~1.4 g
    for 64 px players at 30 fps), out of the picture on the right."""
    c = np.full((N, 2), np.nan)
    t = np.arange(N - 4, dtype=float)
    c[4:, 0] = 52 + 5.0 * t
    c[4:, 1] = 70 - 6.0 * t + 0.25 * t**2
    return c


def _video(path, ball: bool = True):
    rng = np.random.default_rng(3)
    specks = [SynthBall(np.repeat(rng.uniform([10, 8], [260, 120], (1, 2)), N, axis=0), diameter=8)
              for _ in range(20)]  # still on the court: they pan with it
    for k in range(6):  # flickering (compression, lights): on every other frame
        c = np.repeat(rng.uniform([10, 8], [260, 120], (1, 2)), N, axis=0)
        c[(np.arange(N) + k) % 2 == 1] = np.nan
        specks.append(SynthBall(c, diameter=8))
    t = np.arange(N)
    arm = ARM + np.stack([10 * np.sin(2 * np.pi * t / 10), 8 * np.cos(2 * np.pi * t / 10)], axis=1)  # ~2 body heights/s
    balls = specks + [SynthBall(arm, diameter=8, color=(90, 125, 175))]  # a bare forearm / hand
    if ball:
        balls.append(SynthBall(_arc(), diameter=8))
    objects = [player(0, standing_path(N, (40, 80)), size=BODY), player(1, standing_path(N, (200, 90)), size=BODY)]
    return make_video(path, SIZE, N, FPS, objects=objects, balls=balls, pan_px_per_frame=PAN, background="court")


def _flights(truth) -> list:
    """The flight stage alone, fed as :class:`BallFinder` feeds it; per frame the flight or None."""
    colour, camera, flight = ColourCandidates(), CameraMotionEstimator(), FlightFinder(tracker=FlightTracker(fps=FPS))
    out, prev, prev_boxes = [], None, np.zeros((0, 4))
    for t, im in enumerate(read_frames(truth.path)):
        players = sv.Detections(xyxy=truth.boxes[t].astype(np.float32), tracker_id=truth.ids[t] + 1)
        a = camera.estimate(prev, im, prev_boxes) if prev is not None else None
        _, grey, s, _ = colour.prepare(im)
        flight(grey, s, a, players)
        out.append(flight.last)
        prev, prev_boxes = im, players.xyxy
    return out


def _on_screen(world: np.ndarray, t: int) -> np.ndarray:
    return world + np.array(PAN) * t


def test_a_thrown_arc_is_followed_and_nothing_else_is_a_flight(tmp_path):
    ball = _arc()
    truth = _video(tmp_path / "arc.mp4")
    flights = _flights(truth)
    inside = [t for t in range(N) if np.isfinite(ball[t]).all() and 6 <= _on_screen(ball[t], t)[0] <= SIZE[0] - 6
              and _on_screen(ball[t], t)[1] >= 6]
    reported = [t for t in range(N) if flights[t] is not None]
    near = [t for t in reported if t in inside and np.hypot(*(np.array(flights[t].xy) - _on_screen(ball[t], t))) <= 4]
    # confirmed after 6 frames of the throw, then followed while the ball is in the picture
    assert len(near) >= len(inside) - 8, (near, inside)
    # every report is the ball (within a diameter: half cut at the picture's edge): never a speck,
    # never the swinging hand
    on_ball = [t for t in reported if np.isfinite(ball[t]).all()
               and np.hypot(*(np.array(flights[t].xy) - _on_screen(ball[t], t))) <= 8]
    assert on_ball == reported, [(t, flights[t].xy) for t in reported if t not in on_ball]


def test_without_a_ball_specks_and_a_swinging_arm_are_no_flight(tmp_path):
    truth = _video(tmp_path / "noball.mp4", ball=False)
    assert all(f is None for f in _flights(truth))


def test_the_finder_reports_the_flight_only_when_asked(tmp_path):
    """``BallFinder(flight=...)`` follows the arc on the frames the flight stage confirms; off by default."""
    ball = _arc()
    truth = _video(tmp_path / "arc.mp4")
    frames = read_frames(truth.path)
    players = [sv.Detections(xyxy=truth.boxes[t].astype(np.float32), tracker_id=truth.ids[t] + 1) for t in range(N)]

    def run(**kw):
        finder = BallFinder(camera=CameraMotionEstimator().estimate, **kw)
        return [finder.update(t, im, players[t]) for t, im in enumerate(frames)]

    def hits(obs):
        return [t for t in range(N) if obs[t].xy is not None and np.isfinite(ball[t]).all()
                and np.hypot(*(np.array(obs[t].xy) - _on_screen(ball[t], t))) <= 4]

    assert BallFinder().flight is None
    on = hits(run(flight=FlightFinder(tracker=FlightTracker(fps=FPS))))
    assert len(on) >= 10 and len(on) > len(hits(run())), on


def test_a_camera_cut_keeps_the_flight_stage_and_forgets_its_frames(tmp_path):
    """``BallFinder.fresh`` (what the pipeline does at a cut): same stages and threshold, no history:
    the first two frames after it have no frame difference, so no flight."""
    truth = _video(tmp_path / "arc.mp4")
    frames = read_frames(truth.path)
    players = [sv.Detections(xyxy=truth.boxes[t].astype(np.float32), tracker_id=truth.ids[t] + 1) for t in range(N)]
    finder = BallFinder(camera=CameraMotionEstimator().estimate, min_confidence=0.5,
                        flight=FlightFinder(tracker=FlightTracker(fps=FPS)))
    for t in range(20):
        finder.update(t, frames[t], players[t])
    assert finder.flight.last is not None  # the arc is in flight by frame 19
    fresh = finder.fresh()
    assert fresh.flight is finder.flight and fresh.min_confidence == 0.5
    for t in range(20, 22):
        fresh.update(t, frames[t], players[t])
        assert fresh.flight.last is None
