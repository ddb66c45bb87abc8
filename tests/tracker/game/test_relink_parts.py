"""The re-linker's pieces one by one (tracker/game/relink/); the stage as a whole is in test_relink.py."""

from __future__ import annotations

import numpy as np
import supervision as sv

from tracker.game.identity import APPEARANCE_KEY, TEAM_HINT_KEY
from tracker.game.relink.appearance import Looks
from tracker.game.relink.assignment import confident_pairs
from tracker.game.relink.checks import TeamSwapWatch, revived_elsewhere
from tracker.game.relink.cost import LinkCost
from tracker.game.relink.explain import weigh_newcomers
from tracker.game.relink.ids import IdMap, SeenSpans
from tracker.game.relink.memory import LastSeen, TrackMemory, touches_edge
from tracker.game.relink.merges import NumberMerges
from tracker.game.relink.sighting import Sighting, sightings

INF = np.inf


def seen_at(feet_x: float, frame: int = 0, height: float = 100.0, hint=None, looks: Looks | None = None,
            raw_id: int = 1, velocity=(0.0, 0.0)) -> LastSeen:
    return LastSeen(frame, np.array([feet_x, 200.0]), height, np.array(velocity), raw_id, hint, looks or Looks.empty(5))


def newcomer(feet_x: float, height: float = 100.0, hint=None, look=None, raw_id: int = 9) -> Sighting:
    return Sighting(raw_id, np.array([feet_x, 200.0]), height, hint, None if look is None else np.array(look))


def test_sightings_read_feet_height_hints_and_looks():
    dets = sv.Detections(xyxy=np.array([[10, 20, 30, 120], [50, 60, 70, 60.5]], np.float32),
                         tracker_id=np.array([4, -1]))
    dets.data[TEAM_HINT_KEY] = np.array(["A", ""], dtype=object)
    dets.data[APPEARANCE_KEY] = np.array([[0.5, 0.5], [np.nan, 1.0]])
    a, b = sightings(dets)
    assert a.raw_id == 4 and np.allclose(a.feet, (20, 120)) and a.height == 100.0 and a.hint == "A"
    assert np.allclose(a.look, (0.5, 0.5))
    assert b.raw_id == -1 and b.height == 1.0 and b.hint is None and b.look is None  # a flat box, unknown look
    plain = sightings(sv.Detections(xyxy=dets.xyxy, tracker_id=dets.tracker_id))
    assert [s.hint for s in plain] == [None, None] and [s.look for s in plain] == [None, None]


def test_looks_keep_a_running_mean_and_compare_with_the_nearest_gallery_samples():
    looks = Looks.empty(3)
    for v in ([1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]):
        looks = looks.with_sample(np.array(v))
    assert looks.samples == 4 and np.allclose(looks.mean, (0.729, 0.271))  # 0.9**3 of the first one left
    assert len(looks.gallery) == 3  # the first sample is out of the gallery
    assert looks.distance(np.array([0.0, 1.0]), nearest=2) == 0.0  # the mean is 1.03 away
    no_gallery = Looks.empty(0).with_sample(np.array([3.0, 4.0]))
    assert not no_gallery.gallery and np.isclose(no_gallery.distance(np.zeros(2)), 5.0)  # the mean decides
    one_odd = Looks.empty(10)
    for v in ([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]):
        one_odd = one_odd.with_sample(np.array(v))
    assert np.isclose(one_odd.distance(np.array([1.0, 0.0]), nearest=3), 2 / 3)  # one close sample is not enough
    assert np.isclose(one_odd.distance(np.array([1.0, 0.0]), nearest=1), 0.0)
    assert one_odd.comparable(np.zeros(2)) and not one_odd.comparable(np.zeros(3)) and not one_odd.comparable(None)
    assert not Looks.empty(3).comparable(np.zeros(2))


def test_memory_moves_with_the_camera_and_forgets_after_the_gap():
    memory = TrackMemory(max_gap_frames=5, max_gap_frames_edge=20, gallery_size=4)
    memory.see(0, 1, newcomer(100.0, raw_id=1), None, edge=False, since=-1)
    memory.see(2, 1, newcomer(110.0, raw_id=1), None, edge=False, since=-1)
    assert np.allclose(memory.last[1].velocity, (2.5, 0))  # half the 5 px/frame step
    memory.see(0, 2, newcomer(600.0, raw_id=2, hint="B"), None, edge=True, since=-1)
    memory.see(3, 2, newcomer(600.0, raw_id=3), None, edge=True, since=-1)  # another raw ID: no velocity, hint kept
    assert np.allclose(memory.last[2].velocity, 0) and memory.last[2].team_hint == "B"
    memory.move_with_camera(np.array([[2.0, 0.0, 10.0], [0.0, 2.0, -5.0]]))  # zoom in x2, then shift
    assert np.allclose(memory.last[1].feet, (230, 395)) and np.allclose(memory.last[1].velocity, (5, 0))
    assert memory.last[1].height == 200.0
    assert memory.lost(6, set(), since=-1) == [1, 2] and memory.lost(6, {2}, since=-1) == [1]
    assert memory.lost(8, set(), since=-1) == [2]  # 6 frames: only the one that left by the edge waits
    assert memory.lost(8, set(), since=3) == [2] and memory.lost(8, set(), since=4) == []  # the old shot's
    memory.expire(8)
    assert list(memory.last) == [2]
    memory.stop()
    assert np.allclose(memory.last[2].velocity, 0)


def test_only_clean_samples_enter_the_looks():
    memory = TrackMemory(5, 5, gallery_size=4)
    memory.see(0, 1, newcomer(100.0, hint="B", look=[1.0, 0.0], raw_id=1), "A", edge=False, since=-1)
    assert memory.last[1].looks.samples == 0  # an opponent's colours (the box slid onto him)
    memory.see(1, 1, newcomer(100.0, hint="A", look=[0.0, 1.0], raw_id=1), "A", edge=False, since=-1)
    memory.see(2, 1, newcomer(100.0, look=[0.0, 1.0], raw_id=1), "A", edge=False, since=-1)  # no hint: clean
    assert memory.last[1].looks.samples == 2 and len(memory.last[1].looks.gallery) == 2


def test_touching_the_edge():
    assert touches_edge(np.array([1.0, 10, 50, 100]), (640, 360))
    assert touches_edge(np.array([600.0, 10, 639, 100]), (640, 360))
    assert touches_edge(np.array([100.0, 10, 150, 359]), (640, 360))
    assert not touches_edge(np.array([100.0, 0, 150, 300]), (640, 360))  # the top edge is the stands
    assert not touches_edge(np.array([1.0, 10, 50, 100]), None)


def test_link_cost_gates_and_distance():
    cost = LinkCost(max_dist_rel=0.75, reach_per_frame=0.025, max_appearance_dist=0.5)
    last = seen_at(100.0, frame=0, hint="A")
    # gap 10: allowed 1.0 box heights (100 px) from the last position
    assert cost.weigh(10, newcomer(150.0), last, "A", cut_frame=-1) == (0.5, "")
    assert cost.weigh(10, newcomer(250.0), last, "A", cut_frame=-1) == (1.5, "distance")
    assert cost.weigh(10, newcomer(150.0, height=160.0), last, "A", -1) == (INF, "size")
    assert cost.weigh(10, newcomer(150.0, hint="B"), last, "A", -1) == (INF, "team")
    assert cost.weigh(10, newcomer(150.0, hint="B"), last, None, -1) == (0.5, "")  # the lost team unknown
    assert cost.weigh(10, newcomer(150.0), last, "A", cut_frame=5) == (INF, "cut")
    heading = seen_at(100.0, velocity=(5.0, 0.0))  # heading right: expected at 150 after 10 frames
    assert cost.weigh(10, newcomer(150.0), heading, None, -1) == (0.0, "")
    assert cost.weigh(40, newcomer(150.0), heading, None, -1)[0] == 0.0  # extrapolated 10 frames at most
    looked = seen_at(100.0, looks=Looks.empty(5).with_sample(np.array([1.0, 0.0])))
    assert cost.weigh(10, newcomer(150.0, look=[0.0, 1.0]), looked, None, -1) == (INF, "appearance")  # 1.41 away
    value, gate = cost.weigh(10, newcomer(150.0, look=[0.8, 0.0]), looked, None, -1)
    assert np.isclose(value, 0.5 * (0.5 + 0.4)) and gate == ""  # averaged with the appearance distance / 0.5
    assert cost.cost(10, newcomer(150.0, look=[0.8, 0.0, 0.0]), looked, None, -1) == 0.5  # another kind of look


def test_a_clear_pair_is_linked_a_near_tie_is_not():
    assert confident_pairs(np.array([[0.2, 0.9], [0.8, 0.3]]), 0.1) == [(0, 0), (1, 1)]
    assert confident_pairs(np.array([[0.2, 0.25], [INF, INF]]), 0.1) == []  # two lost tracks nearly as good
    assert confident_pairs(np.array([[0.2, 0.25], [INF, INF]]), 0.0) == [(0, 0)]
    assert confident_pairs(np.array([[0.2], [0.28]]), 0.1) == []  # two newcomers for one lost track
    assert confident_pairs(np.array([[1.2]]), 0.1) == []  # too far
    assert confident_pairs(np.array([[INF, 0.4]]), 0.1) == [(0, 1)]


def test_a_team_swap_splits_after_frames_in_a_row():
    watch = TeamSwapWatch(split_after=3)
    calls = [("B", False), ("B", False), ("A", False), ("B", False), (None, False), ("B", False), ("B", False),
             ("B", True), ("B", False)]  # an agreeing hint, or none, starts the count again; so does a split
    assert [watch.contradicted(7, "A", hint) for hint, _ in calls] == [want for _, want in calls]
    assert not TeamSwapWatch(None).contradicted(7, "A", "B")
    unknown = TeamSwapWatch(1)
    assert not unknown.contradicted(7, None, "B")
    assert unknown.contradicted(7, "A", "B")
    watch.contradicted(8, "A", "B")
    watch.clear()
    assert [watch.contradicted(8, "A", "B") for _ in range(3)] == [False, False, True]


def test_a_track_revived_after_a_long_gap_is_checked_against_its_memory():
    cost = LinkCost(max_dist_rel=0.75, reach_per_frame=0.025)
    last = seen_at(100.0, frame=0)
    far, close = newcomer(400.0, raw_id=1), newcomer(150.0, raw_id=1)
    assert revived_elsewhere(20, far, last, None, -1, recheck_after=10, cost=cost)
    assert not revived_elsewhere(20, close, last, None, -1, recheck_after=10, cost=cost)
    assert not revived_elsewhere(8, far, last, None, -1, recheck_after=10, cost=cost)  # a short gap: trusted
    assert not revived_elsewhere(20, far, last, None, -1, recheck_after=None, cost=cost)
    assert not revived_elsewhere(20, far, None, None, -1, recheck_after=10, cost=cost)  # nothing remembered


def test_id_map_hands_out_each_output_id_once():
    ids = IdMap(fresh_id_start=100)
    assert ids.give(5) == 5 and ids.give(5) == 5
    ids.link(9, 5, old_raw_id=5)  # raw 9 takes over 5: raw 5 is retired
    assert ids.map == {9: 5} and ids.retired == {5}
    assert ids.give(5) == 100  # back anyway: a fresh ID
    assert ids.give(6) == 6
    ids.map[7] = 6  # raw 7 was moved onto 6; raw 6 is mapped elsewhere since
    ids.link(8, 6, old_raw_id=5)
    assert ids.map[5] == 100 and ids.map[8] == 6
    ids.restart()
    assert ids.map == {} and {5, 6, 7, 8, 9} <= ids.retired
    assert ids.give(6) == 101 and ids.give(50) == 50


def test_a_late_merge_by_number_onto_an_earlier_id_off_screen():
    ids, seen = IdMap(1000), SeenSpans()
    merges = NumberMerges(ids, seen)
    numbers = {3: "23", 5: "23", 6: "23"}
    for f in range(0, 10):
        seen.see(3, f)
    for f in range(20, 25):
        seen.see(5, f)
    seen.see(6, 8)
    out = np.array([3])
    merges.run(9, [3], out, numbers.get, lambda o: "A", teams_told=True)
    assert out.tolist() == [3] and not merges.links  # the first one wearing 23
    out = np.array([5, 6])
    merges.run(25, [15, 16], out, numbers.get, lambda o: "A", teams_told=True)
    # 5 began after 3 was last seen: the same player; 6 was seen while 3 was (frame 8): a misread
    assert out.tolist() == [3, 6] and merges.links == [(25, 15, 5, 3)] and ids.map == {15: 3}
    assert seen.first[3] == 0
    other_team = np.array([7])
    merges.run(26, [17], other_team, {7: "23"}.get, lambda o: "B", teams_told=True)
    assert other_team.tolist() == [7]  # numbers are per team
    unknown = np.array([8])
    merges.run(27, [18], unknown, {8: "23"}.get, lambda o: None, teams_told=True)
    assert unknown.tolist() == [8]
    merges.run(28, [18], unknown, {8: "23"}.get, lambda o: "A", teams_told=True)
    assert unknown.tolist() == [3] and merges.links[-1] == (28, 18, 8, 3)  # it waited for its team


def test_explain_names_the_gate_of_each_option():
    memory = TrackMemory(max_gap_frames=5, max_gap_frames_edge=5, gallery_size=3)
    memory.see(0, 1, newcomer(100.0, raw_id=1), None, False, -1)  # gap 10 at frame 10: too long
    memory.see(8, 2, newcomer(110.0, raw_id=2), None, False, -1)
    memory.see(8, 3, newcomer(500.0, raw_id=3), None, False, -1)
    memory.see(9, 4, newcomer(120.0, raw_id=4), None, False, -1)  # on screen (raw 4 mapped)
    rows = [newcomer(120.0, raw_id=9), newcomer(120.0, raw_id=4)]
    cost = LinkCost(max_dist_rel=0.75, reach_per_frame=0.025)
    answer = weigh_newcomers(10, rows, {4: 4}, memory, cost, lambda o: None, cut_frame=-1)
    assert [a["raw_id"] for a in answer] == [9]
    options = {o["output_id"]: (o["gate"], o["gap"]) for o in answer[0]["options"]}
    assert options == {2: ("", 2), 3: ("distance", 2), 1: ("gap", 10)}
    assert [o["output_id"] for o in answer[0]["options"]] == [2, 1, 3]  # cheapest first (1: 0.2, gated)
    also = weigh_newcomers(10, rows, {4: 4}, memory, cost, lambda o: None, cut_frame=9, also={4})
    assert [a["raw_id"] for a in also] == [9, 4] and {o["gate"] for o in also[1]["options"]} == {"gap", "cut"}
