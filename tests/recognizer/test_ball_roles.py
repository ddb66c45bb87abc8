"""The ball rules one by one (recognizer.ball_roles, recognizer.ball_stretch), on small hand-made
stretches; the chained rules on a scripted game are in tests/recognizer/test_context.py."""

from __future__ import annotations

import numpy as np
import pytest

from recognizer.ball_roles import (BallRules, Run, Spans, bridge_holds, defender, dribble_frames, followed_away,
                                   is_shot, nearest_and_held, pass_frames, possessions, release, shot_frames)
from recognizer.ball_stretch import Stretch, ball_jumps, relative_speed
from recognizer.context import GameFrame, PlayerState

HOLDER = (40.0, 40.0, 60.0, 100.0)  # 60 px tall, hands region around y 52..82
NAN = np.nan


def stretch(balls, players=None, first=0, longest_gap=30) -> Stretch:
    """One frame per ball position (None: unseen); ``players``: {pid: (box, team)} on every frame."""
    players = players or {1: (HOLDER, "A")}
    return Stretch.of([GameFrame(first + i, {p: PlayerState(b, t) for p, (b, t) in players.items()}, xy)
                       for i, xy in enumerate(balls)], longest_gap)


def test_stretch_fills_short_gaps_and_missing_frames_have_no_ball():
    a, b = (0.0, 0.0, 10.0, 50.0), (20.0, 0.0, 30.0, 50.0)
    frames = [GameFrame(10, {1: PlayerState(a, "A")}, (5.0, 5.0)), GameFrame(11, {}, (6.0, 6.0)),
              GameFrame(13, {1: PlayerState(b, None), 2: PlayerState(b, "B")})]  # frame 12 missing
    s = Stretch.of(frames, longest_gap=2)
    assert s.first == 10 and s.n == 4 and s.pids == [1, 2]
    assert s.seen(0) and s.seen(1) and not s.seen(2) and not s.seen(3)
    assert np.allclose(s.boxes[0, 1], (20 / 3, 0, 50 / 3, 50)) and np.allclose(s.boxes[0, 2], (40 / 3, 0, 70 / 3, 50))
    assert s.team(0) == "A" and s.team(1) == "B"  # a frame without a team keeps the last one told
    assert not s.present(1, 0) and s.present(1, 3)
    assert np.isclose(s.y_rel[0, 0], 0.1) and np.isnan(s.y_rel[1, 0])
    short = Stretch.of(frames, longest_gap=1)
    assert np.isnan(short.boxes[0, 1:3]).all()  # a gap of two frames is not filled


def test_a_ball_leaping_further_than_it_flies_is_a_jump():
    # 60 px tall player; at 30 fps and 12 heights per second a ball flies at most 24 px a frame
    balls = [(50.0, 60.0), (70.0, 60.0), (200.0, 60.0), None, (240.0, 60.0)]
    s = stretch(balls)
    assert ball_jumps(s, 12.0, 30.0).tolist() == [False, False, True, False, False]  # 40 px over 2 frames: no jump
    assert not ball_jumps(s, 12.0, 5.0).any()  # at 5 fps a frame is long enough for 144 px


def test_relative_speed_is_the_ball_against_the_box():
    carried = [(50.0 + 6 * i, 60.0) for i in range(5)]
    s = Stretch.of([GameFrame(i, {1: PlayerState((40 + 6 * i, 40, 60 + 6 * i, 100), "A")}, xy)
                    for i, xy in enumerate(carried)], 30)
    assert np.allclose(relative_speed(s, np.zeros(5, bool), 30.0), 0.0)  # moves with him
    still = stretch(carried)  # the same ball, his box still
    assert np.allclose(relative_speed(still, np.zeros(5, bool), 30.0), 3.0)  # 6 px/frame, 60 px, 30 fps
    jump = np.array([False, False, True, False, False])
    speed = relative_speed(still, jump, 30.0)
    assert np.allclose(speed, 3.0)  # the steps around a jump are left out; one step on either side is enough
    lone = stretch([None, (50.0, 60.0), None])
    assert np.isnan(relative_speed(lone, np.zeros(3, bool), 30.0)).all()  # no step: unknown


def test_an_opponent_must_be_clearly_nearer_to_take_the_ball_a_teammate_just_nearer():
    guard = (56.0, 40.0, 76.0, 100.0)
    rules = BallRules()
    for team, want in (("B", [0, 0, 0]), ("A", [0, 1, 1])):
        s = stretch([(55.0, 65.0), (61.0, 65.0), (61.0, 65.0)], {1: (HOLDER, "A"), 2: (guard, team)})
        near_d = s.hands_distance((rules.band[0] - rules.lift, rules.band[1]), rules.widen)
        hold_d = s.hands_distance(rules.band, rules.widen)
        near, held = nearest_and_held(s, near_d, hold_d, np.zeros((2, 3)), rules)
        assert held.tolist() == want and near.tolist() == want, team
    fast = np.full((2, 3), 5.0)  # flying by faster than ``slow``: near him, held by nobody
    near, held = nearest_and_held(s, near_d, hold_d, fast, rules)
    assert near.tolist() == [0, 1, 1] and held.tolist() == [-1, -1, -1]


def test_holds_are_bridged_over_an_unseen_or_nearby_ball_only():
    ball = np.array([[0, 0], [NAN, NAN], [0, 0], [0, 0], [0, 0], [0, 0]], float)
    held = np.array([0, -1, 0, -1, -1, 0])
    near = np.array([0, -1, 0, 0, -1, 0])
    # frame 1: unseen, bridged; frames 3-4: frame 4 is seen away from him (near nobody), not bridged
    assert bridge_holds(held, near, ball, bridge=5).tolist() == [0, 0, 0, -1, -1, 0]
    near[4] = 0
    assert bridge_holds(held, near, ball, bridge=5).tolist() == [0] * 6
    assert bridge_holds(held, near, ball, bridge=1).tolist() == [0, 0, 0, -1, -1, 0]  # a 2-frame gap is too long
    other = np.array([0, -1, 1, 1, -1, 0])  # another holder in between: never bridged across
    assert bridge_holds(other, near, ball, bridge=5).tolist() == [0, -1, 1, 1, -1, 0]


def test_possessions_are_runs_of_one_holder():
    assert possessions(np.array([-1, 0, 0, 1, 1, -1, 0, 2])) == [Run(0, 1, 2), Run(1, 3, 4), Run(0, 6, 6),
                                                                  Run(2, 7, 7)]
    assert possessions(np.array([-1, -1])) == []


def test_the_release_is_the_last_frame_about_him_before_the_ball_is_seen_away():
    ball = np.zeros((10, 2))
    ball[5] = NAN
    near = np.array([0, 0, 0, 0, 0, -1, 0, -1, -1, -1])
    run = Run(0, 0, 3)
    assert release(run, None, near, ball, leave=5) == (6, 7)  # frame 4 and 6 near him, 5 unseen
    assert release(run, None, near, ball, leave=2) is None  # not seen away within two frames
    assert release(run, Run(0, 8, 9), near, ball, leave=5) is None  # he gets it back himself
    assert release(run, Run(1, 6, 9), near, ball, leave=5) is None  # the next holder has it before it is seen away
    assert release(run, Run(1, 8, 9), near, ball, leave=5) == (6, 7)


def test_a_release_needs_the_ball_followed_without_a_jump():
    ball = np.zeros((8, 2))
    ball[3] = NAN
    jump = np.zeros(8, bool)
    assert followed_away(2, ball, jump, leave=4, follow=2)  # frames 2 and 4
    assert not followed_away(2, ball, jump, leave=2, follow=2)  # only frame 2 within two frames
    jump[4] = True
    assert not followed_away(2, ball, jump, leave=4, follow=2)


def lob_stretch(teams, catch_at=None):
    """Player 1 holds the ball to frame 5, it then rises 1 body height above his head; unseen from frame 12 to 44."""
    box2 = (160.0, 40.0, 180.0, 100.0)
    balls = [(58.0, 65.0)] * 6 + [(70.0 + 10 * k, 40.0 - 12 * k) for k in range(1, 7)] + [None] * 33
    return stretch(balls, {1: (HOLDER, teams[0]), 2: (box2, teams[1])})


def test_a_high_release_is_a_shot_unless_a_teammate_catches_it_soon():
    rules, spans = BallRules(), Spans.of(BallRules(), 30.0)
    s = lob_stretch(("A", "A"))
    run = Run(0, 0, 5)
    assert is_shot(s, run, 5, None, rules, spans)
    assert not is_shot(s, run, 5, Run(1, 11, 11), rules, spans)  # his teammate has it 6 frames later
    assert is_shot(s, run, 5, Run(1, 11 + spans.catch, 11 + spans.catch), rules, spans)  # too late: a rebound
    assert is_shot(lob_stretch(("A", "B")), run, 5, Run(1, 11, 11), rules, spans)  # an opponent's catch
    assert not is_shot(lob_stretch((None, None)), run, 5, Run(1, 11, 11), rules, spans)  # no teams: anyone's
    level = stretch([(58.0, 65.0)] * 6 + [(70.0 + 10 * k, 65.0) for k in range(1, 7)])
    assert not is_shot(level, run, 5, None, rules, spans)


def test_shot_and_pass_frames_are_dated_from_the_release():
    rules, spans = BallRules(), Spans.of(BallRules(), 30.0)  # pad 2, shot lead 15 frames
    # the ball above his shoulders (y < 52) from frame 3 to the release at frame 5
    s = stretch([(58.0, 65.0)] * 3 + [(58.0, 45.0)] * 3 + [(58.0, 20.0)] * 3)
    assert shot_frames(s, Run(0, 0, 5), 5, rules, spans) == range(3, 6)
    assert shot_frames(s, Run(0, 4, 5), 5, rules, spans) == range(3, 6)  # at least the pass padding
    low = stretch([(58.0, 65.0)] * 9)
    assert shot_frames(low, Run(0, 0, 5), 5, rules, spans) == range(3, 6)
    near_dist = np.array([[0.0, 0.0, 0.0, 0.1, 0.3, 0.3]])
    assert pass_frames(near_dist, Run(0, 0, 3), 5, rules.reach, 2) == range(1, 6)  # left his hands on frame 3
    assert pass_frames(near_dist, Run(0, 0, 5), 5, rules.reach, 2) == range(3, 8)  # not before his last hold


def test_dribbles_are_bounces_joined_when_close():
    rules = BallRules()  # below the hips: y_rel > 0.55, a bounce reaches 0.75
    y = np.array([0.4, 0.6, 0.9, 0.6, 0.4, 0.6, 0.9, 0.6, 0.4, 0.4, 0.4, 0.4, 0.6, 0.7, 0.6, 0.4])
    run = Run(0, 0, 15)
    # bounces at 1-3 and 5-7, 2 frames apart (joined), then a low ball at 12-14 that never reaches the floor
    assert dribble_frames(y, run, rules, gap=2) == list(range(0, 6)) + list(range(4, 9))
    assert dribble_frames(y, run, rules, gap=1) == list(range(0, 5)) + list(range(4, 9))
    assert dribble_frames(y, Run(0, 2, 6), rules, gap=1) == list(range(2, 5)) + list(range(4, 7))  # within his run
    assert dribble_frames(np.full(6, 0.4), Run(0, 0, 5), rules, gap=2) == []


def test_the_defender_is_the_nearest_opponent_within_reach():
    near_guard, far_guard, mate = (70.0, 40.0, 90.0, 100.0), (100.0, 40.0, 120.0, 100.0), (62.0, 40.0, 82.0, 100.0)
    s = stretch([(58.0, 65.0)], {1: (HOLDER, "A"), 2: (far_guard, "B"), 3: (near_guard, "B"), 4: (mate, "A")})
    assert defender(s, 0, 0, 1.5) == 2  # row of player 3: 30 px away; player 2 at 60 px; the teammate is nobody's
    assert defender(s, 0, 0, 0.4) is None  # 30 px is more than 0.4 of his 60 px
    alone = stretch([(58.0, 65.0)], {1: (HOLDER, None), 2: (near_guard, "B")})
    assert defender(alone, 0, 0, 1.5) is None  # his team unknown: no assignment


@pytest.mark.parametrize("fps, want", [(30.0, (30, 15, 3, 30, 2, 15, 12)), (10.0, (10, 5, 1, 10, 1, 5, 4))])
def test_the_rules_times_in_frames(fps, want):
    assert tuple(vars(Spans.of(BallRules(), fps)).values()) == want
