"""Re-linking IDs broken by occlusions, alone and behind the project's real ByteTrack."""

from __future__ import annotations

import numpy as np
import supervision as sv

from tracker.tracking.bytetrack import ByteTrackTracker
from tracker.game.quality import TrackingQuality
from tracker.game.identity import APPEARANCE_KEY, TEAM_HINT_KEY
from tracker.game.relink.relinker import IdRelinker

RED = np.array([1.0, 0.0, 0.0])
BLUE = np.array([0.0, 1.0, 0.0])


def box(feet_x: float, feet_y: float = 200.0, height: float = 100.0) -> list[float]:
    return [feet_x - 0.2 * height, feet_y - height, feet_x + 0.2 * height, feet_y]


def frame_dets(rows: list[tuple[int, list[float]]], teams=None, looks=None) -> sv.Detections:
    """rows: (raw tracker id, xyxy)."""
    if not rows:
        return sv.Detections.empty()
    dets = sv.Detections(
        xyxy=np.array([b for _, b in rows], np.float32),
        confidence=np.full(len(rows), 0.9, np.float32),
        class_id=np.zeros(len(rows), int),
        tracker_id=np.array([t for t, _ in rows]),
    )
    if teams is not None:
        dets.data[TEAM_HINT_KEY] = np.array(teams, dtype=object)
    if looks is not None:
        dets.data[APPEARANCE_KEY] = np.array(looks, np.float64)
    return dets


def walk_behind_a_pillar(
    relinker: IdRelinker, new_feet_x: float = 230.0, new_height: float = 100.0, gap: int = 10, **extras
) -> list[int]:
    """Player raw 5 walks right at 4 px/frame for 20 frames, is hidden ``gap`` frames, and
    comes back as raw 9 at ``new_feet_x``; player raw 6 stands still all along.

    Returns the output IDs of the returning player, frame by frame.
    """
    out = []
    for f in range(20):
        relinker.update(f, frame_dets([(5, box(100 + 4 * f)), (6, box(400))], **extras.get("before", {})))
    for f in range(20, 20 + gap):
        relinker.update(f, frame_dets([(6, box(400))]))
    for f in range(20 + gap, 30 + gap):
        x = new_feet_x + 4 * (f - 20 - gap)
        res = relinker.update(f, frame_dets([(9, box(x, height=new_height)), (6, box(400))], **extras.get("after", {})))
        out.append(int(res.tracker_id[0]))
        assert int(res.tracker_id[1]) == 6
    return out


def test_a_track_broken_by_an_occlusion_gets_its_id_back():
    relinker = IdRelinker(max_gap_frames=30)
    # lost at x=176 moving +4/frame; 10 frames later expected near 216 (extrapolated 10 frames)
    assert walk_behind_a_pillar(relinker) == [5] * 10
    assert relinker.links == [(30, 9, 5)]
    assert relinker.mapping[9] == 5


def test_no_link_when_too_far_too_late_or_a_different_size():
    assert walk_behind_a_pillar(IdRelinker(max_gap_frames=30), new_feet_x=600.0) == [9] * 10  # far away
    assert walk_behind_a_pillar(IdRelinker(max_gap_frames=5), gap=10) == [9] * 10  # gap too long
    assert walk_behind_a_pillar(IdRelinker(max_gap_frames=30), new_height=200.0) == [9] * 10  # twice as tall


def test_team_and_appearance_cues_veto_a_link():
    same_place = {"new_feet_x": 216.0}
    teams = {5: "A", 6: "B"}
    other_team = IdRelinker(max_gap_frames=30, team_of=teams.get)
    assert walk_behind_a_pillar(other_team, after={"teams": ["B", "B"]}, **same_place) == [9] * 10
    same_team = IdRelinker(max_gap_frames=30, team_of=teams.get)
    assert walk_behind_a_pillar(same_team, after={"teams": ["A", "B"]}, **same_place) == [5] * 10
    looks_differ = IdRelinker(max_gap_frames=30)
    extras = {"before": {"looks": [RED, BLUE]}, "after": {"looks": [BLUE, BLUE]}}
    assert walk_behind_a_pillar(looks_differ, **extras, **same_place) == [9] * 10
    looks_alike = IdRelinker(max_gap_frames=30)
    extras = {"before": {"looks": [RED, BLUE]}, "after": {"looks": [RED * 0.95, BLUE]}}
    assert walk_behind_a_pillar(looks_alike, **extras, **same_place) == [5] * 10


def test_two_players_lost_together_are_matched_by_position():
    relinker = IdRelinker(max_gap_frames=30)
    for f in range(10):
        relinker.update(f, frame_dets([(1, box(100)), (2, box(300))]))
    for f in range(10, 15):
        relinker.update(f, sv.Detections.empty())
    res = relinker.update(15, frame_dets([(3, box(305)), (4, box(95))]))
    assert res.tracker_id.tolist() == [2, 1]


def test_an_id_is_never_worn_twice_in_a_frame():
    relinker = IdRelinker(max_gap_frames=30)
    for f in range(5):
        relinker.update(f, frame_dets([(1, box(100))]))
    relinker.update(5, sv.Detections.empty())
    assert relinker.update(6, frame_dets([(2, box(102))])).tracker_id.tolist() == [1]  # 2 takes over 1
    both = relinker.update(7, frame_dets([(1, box(60)), (2, box(104))]))  # the old raw 1 comes back
    assert both.tracker_id[1] == 1 and both.tracker_id[0] not in (1, 2)
    again = relinker.update(8, frame_dets([(1, box(60)), (2, box(106))]))
    assert again.tracker_id.tolist() == both.tracker_id.tolist()  # mappings are stable


def test_rows_without_ids_pass_through():
    relinker = IdRelinker()
    assert len(relinker.update(0, sv.Detections.empty())) == 0
    plain = sv.Detections(xyxy=np.array([box(10)], np.float32))
    assert relinker.update(1, plain).tracker_id is None


def test_behind_bytetrack_an_occlusion_longer_than_its_buffer_is_healed():
    """Real ByteTrack forgets a player hidden longer than max_age and gives him a new ID;
    the relinker gives the old one back, and the quality report shows it."""
    tracker = ByteTrackTracker(fps=30, max_age=5)
    relinker = IdRelinker(max_gap_frames=30)
    raw_quality, quality = TrackingQuality(), TrackingQuality()
    raw_ids, out_ids = set(), set()
    for f in range(60):
        rows = [box(400 + 0.5 * f)]  # a second player, always visible
        if not 20 <= f < 32:  # the first one is hidden for 12 frames behind a pillar
            rows.append(box(100 + 3 * f))
        dets = sv.Detections(xyxy=np.array(rows, np.float32), confidence=np.full(len(rows), 0.9, np.float32))
        tracked = tracker.update(dets)
        raw_quality.update(tracked)
        raw_ids |= set(tracked.tracker_id.tolist())
        healed = relinker.update(f, tracked)
        quality.update(healed)
        out_ids |= set(healed.tracker_id.tolist())
    assert len(raw_ids) == 3, "ByteTrack itself should have broken the hidden player's track"
    assert len(out_ids) == 2
    assert raw_quality.report()["unique_ids"] == 3 and quality.report()["unique_ids"] == 2
    assert quality.report()["fragmentation"] < raw_quality.report()["fragmentation"]


def test_a_track_swapped_onto_the_other_team_is_split_off():
    """The tracker slid ID 5 from an "A" player onto a "B" player: after ``split_after``
    frames of "B" hints the rows get a fresh ID; short disagreements do not split."""
    teams = {5: "A"}
    relinker = IdRelinker(team_of=teams.get, split_after=4)
    hints = ["A"] * 5 + ["B", "A", "B", "referee", "A"] + ["B"] * 6  # noise, then a real swap
    out = [int(relinker.update(f, frame_dets([(5, box(100))], teams=[h])).tracker_id[0]) for f, h in enumerate(hints)]
    assert out[:13] == [5] * 13
    assert out[13] == out[14] == out[15] and out[13] not in (5,)
    assert relinker.splits == [(13, 5, 5, out[13])]
    never = IdRelinker(team_of=teams.get, split_after=None)
    kept = {int(never.update(f, frame_dets([(5, box(100))], teams=[h])).tracker_id[0]) for f, h in enumerate(hints)}
    assert kept == {5}


class Numbers:
    """Jersey numbers by output ID, as a test sets them (the real reader is tested in test_jersey)."""

    def __init__(self):
        self.decided: dict[int, str] = {}
        self.changes: dict[int, str] = {}

    def number_of(self, out_id: int) -> str | None:
        return self.changes.get(out_id) or self.decided.get(out_id)

    def changed(self, out_id: int) -> str | None:
        return self.changes.get(out_id)


def test_a_fragment_far_away_and_long_after_is_merged_by_its_number():
    numbers = Numbers()
    relinker = IdRelinker(max_gap_frames=30, number_of=numbers.number_of, number_changed=numbers.changed)
    numbers.decided[5] = "23"
    for f in range(10):
        relinker.update(f, frame_dets([(5, box(100 + 4 * f)), (6, box(400))]))
    out = []
    for f in range(200, 220):  # far, after a long gap: position says nothing
        if f == 205:
            numbers.decided[9] = "23"  # the new track's number is decided after a few reads
        out.append(int(relinker.update(f, frame_dets([(9, box(600)), (6, box(400))])).tracker_id[0]))
    assert out[:5] == [9] * 5 and out[5:] == [5] * 15
    assert relinker.number_links == [(205, 9, 9, 5)]


def test_tracks_with_different_numbers_are_never_merged():
    numbers = Numbers()
    relinker = IdRelinker(max_gap_frames=30, number_of=numbers.number_of, number_changed=numbers.changed)
    numbers.decided[5] = "23"
    for f in range(10):
        relinker.update(f, frame_dets([(5, box(100 + 4 * f))]))
    numbers.decided[9] = "8"
    out = [int(relinker.update(f, frame_dets([(9, box(600))])).tracker_id[0]) for f in range(200, 210)]
    assert out == [9] * 10 and relinker.number_links == []


def test_two_players_seen_together_are_not_merged_even_with_one_number():
    """A misread: two tracks on screen at the same time are two players, whatever the OCR says."""
    numbers = Numbers()
    relinker = IdRelinker(max_gap_frames=30, number_of=numbers.number_of, number_changed=numbers.changed)
    numbers.decided[5] = numbers.decided[6] = "23"
    for f in range(10):
        relinker.update(f, frame_dets([(5, box(100)), (6, box(400))]))
    out = [int(relinker.update(f, frame_dets([(6, box(400))])).tracker_id[0]) for f in range(10, 20)]
    assert out == [6] * 10 and relinker.number_links == []


def test_a_track_whose_number_changes_is_split():
    numbers = Numbers()
    relinker = IdRelinker(max_gap_frames=30, number_of=numbers.number_of, number_changed=numbers.changed)
    numbers.decided[5] = "23"
    ids = []
    for f in range(20):
        if f == 10:
            numbers.changes[5] = "8"  # the tracker swapped raw 5 onto player #8
        res = relinker.update(f, frame_dets([(5, box(100 + 4 * f))]))
        if f == 10:
            numbers.changes.pop(5)  # what PlayerTracking does after a split (JerseyNumbers.split)
        ids.append(int(res.tracker_id[0]))
    assert ids[:10] == [5] * 10 and len(set(ids[10:])) == 1 and ids[10] != 5
    assert relinker.splits == [(10, 5, 5, ids[10])]


def test_nothing_links_across_a_camera_cut_by_position():
    relinker = IdRelinker(max_gap_frames=30)
    for f in range(10):
        relinker.update(f, frame_dets([(1, box(100 + 4 * f))]))
    relinker.cut(10)
    # the tracker restarted: raw 1 again, right where the old player was
    out = [int(relinker.update(f, frame_dets([(1, box(140))])).tracker_id[0]) for f in range(10, 15)]
    assert len(set(out)) == 1 and out[0] != 1 and relinker.links == []


PAN = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 0.0]])  # the picture moves 10 px right a frame


def hidden_during_a_pan(relinker: IdRelinker, camera: bool) -> list[int]:
    """Raw 5 stands on one spot of the floor while the camera pans; hidden 30 frames (the picture
    moved 300 px meanwhile), he comes back as raw 9 on the same spot. Raw 6 stands further on."""
    out = []
    for f in range(50):
        shift = 10.0 * f
        rows = [(6, box(900 + shift))] + ([(5, box(100 + shift))] if f < 10 else [(9, box(100 + shift))] if f >= 40 else [])
        res = relinker.update(f, frame_dets(rows), PAN if camera and f else None)
        out += [int(t) for (r, _), t in zip(rows, res.tracker_id) if r in (5, 9)]
    return out


def test_a_player_lost_while_the_camera_pans_is_found_where_he_left_the_floor():
    assert hidden_during_a_pan(IdRelinker(max_gap_frames=60), camera=True) == [5] * 20
    # without the camera motion his last position (moved on by 10 frames of his velocity in the
    # picture) is 200 px (2 heights) off: a stranger
    assert hidden_during_a_pan(IdRelinker(max_gap_frames=60), camera=False) == [5] * 10 + [9] * 10


def left_by_the_edge(relinker: IdRelinker, frame_size) -> list[int]:
    """Raw 5 walks out by the left edge of a 640x360 picture, stays out 50 frames and walks back in
    as raw 9."""
    out = []
    for f in range(70):
        if 10 <= f < 60:
            relinker.update(f, sv.Detections.empty(), frame_size=frame_size)
            continue
        x = 56 - 4 * f if f < 10 else 24 + 4 * (f - 60)  # the box touches the edge on frame 9
        res = relinker.update(f, frame_dets([(5 if f < 10 else 9, box(x))]), frame_size=frame_size)
        out.append(int(res.tracker_id[0]))
    return out


def test_a_player_who_left_by_the_edge_is_remembered_longer():
    assert left_by_the_edge(IdRelinker(max_gap_frames=30), (640, 360)) == [5] * 20
    assert left_by_the_edge(IdRelinker(max_gap_frames=30, max_gap_frames_edge=30), (640, 360)) == [5] * 10 + [9] * 10
    assert left_by_the_edge(IdRelinker(max_gap_frames=30), None) == [5] * 10 + [9] * 10  # the edge is unknown


def revived_on_another_player(relinker: IdRelinker) -> list[list[int]]:
    """Players raw 5 (team A, at x=100) and raw 6 (team B, at x=300) are hidden from frame 10; at
    frame 30 the tracker revives raw 5 on the B player where he vanished, and at 32 the A player
    comes back as raw 7. Returns the output IDs of [B player, A player] per frame from 30."""
    teams = {5: "A", 6: "B"}
    relinker.team_of = teams.get
    for f in range(10):
        relinker.update(f, frame_dets([(5, box(100)), (6, box(300))], teams=["A", "B"]))
    out = []
    for f in range(30, 40):
        rows, hints = [(5, box(300))], ["B"]
        if f >= 32:
            rows, hints = rows + [(7, box(100))], hints + ["A"]
        out.append([int(t) for t in relinker.update(f, frame_dets(rows, teams=hints)).tracker_id])
    return out


def test_a_track_the_tracker_revives_on_another_player_is_split_off_at_once():
    relinker = IdRelinker(max_gap_frames=60)
    assert revived_on_another_player(relinker) == [[6]] * 2 + [[6, 5]] * 8
    assert relinker.splits == [(30, 5, 5, 6)]
    trusting = IdRelinker(max_gap_frames=60, recheck_after=None)  # the team cue splits it only later
    out = revived_on_another_player(trusting)
    assert out[0] == [5] and out[2][1] not in (5, 6)


def test_a_near_tie_between_two_lost_players_is_left_unlinked():
    def newcomer(relinker):
        for f in range(10):  # two players stand 100 px apart and vanish together
            relinker.update(f, frame_dets([(1, box(100)), (2, box(200))]))
        return [int(relinker.update(f, frame_dets([(3, box(150))])).tracker_id[0]) for f in range(12, 15)]

    assert newcomer(IdRelinker(max_gap_frames=30)) == [3] * 3  # halfway between: no guess
    assert newcomer(IdRelinker(max_gap_frames=30, min_margin=0.0))[0] in (1, 2)


GREEN = np.array([0.0, 0.0, 1.0])


def across_a_cut(relinker: IdRelinker, before: list, after: list, n_after: int = 12) -> list[list[int]]:
    """Players with looks ``before`` (raw 1, 2, ...) for 10 frames, a cut, then players with looks
    ``after`` (the tracker restarted: raw 1, 2, ... again, elsewhere). Output IDs per frame after."""
    for f in range(10):
        relinker.update(f, frame_dets([(k + 1, box(100 + 150 * k)) for k in range(len(before))], looks=before))
    relinker.cut(10)
    return [[int(t) for t in relinker.update(f, frame_dets(
        [(k + 1, box(500 - 150 * k)) for k in range(len(after))], looks=after)).tracker_id]
        for f in range(10, 10 + n_after)]


def test_after_a_cut_players_get_their_ids_back_by_appearance():
    relinker = IdRelinker(max_gap_frames=30, reid_samples=4)
    out = across_a_cut(relinker, [RED, BLUE, GREEN], [GREEN * 0.95, RED * 0.97, BLUE])
    assert not {1, 2, 3} & set(out[0])  # new IDs at first: positions say nothing across a cut
    assert out[-1] == [3, 1, 2]  # each back on the old ID of his look, none swapped
    assert len(relinker.reid_links) == 3 and relinker.links == []


def test_after_a_cut_a_lone_or_ambiguous_look_gets_a_new_id():
    lone = IdRelinker(max_gap_frames=30, reid_samples=4)
    assert not {1} & set(across_a_cut(lone, [RED], [RED])[-1])  # one old player: any teammate would match
    alike = IdRelinker(max_gap_frames=30, reid_samples=4)
    assert not {1, 2} & set(across_a_cut(alike, [RED, RED * 0.98], [RED * 0.99])[-1])  # two alike: no winner
    assert lone.reid_links == alike.reid_links == []


BACK, FRONT = np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.6, 0.8, 0.0, 0.0])  # one blue jersey, two views
YELLOW = np.array([0.0, 0.0, 1.0, 0.0])  # the other team's jersey


def guarded_then_hidden(newcomer_look: np.ndarray, newcomer_hint: str | None = None, **relinker_args) -> list[int]:
    """Player raw 5 (team A) shows his back for 40 frames, then his front for 40; for the last 6 frames
    before he is hidden, his box slides onto the yellow defender guarding him (the row shows the
    other team's colours, and its team hint says so); one early frame shows yellow with no hint.
    12 frames later raw 9 is born at the spot where
    he vanished, with ``newcomer_look``. Returns raw 9's output IDs."""
    relinker = IdRelinker(max_gap_frames=30, team_of={5: "A"}.get, **relinker_args)
    for f in range(86):
        look, hint = (BACK, "A") if f < 40 else (FRONT, "A") if f < 80 else (YELLOW, "B")
        if f == 20:
            look, hint = YELLOW, None  # one odd frame that no team hint flags (the classifier undecided)
        relinker.update(f, frame_dets([(5, box(200))], teams=[hint], looks=[look]))
    out = []
    for f in range(98, 104):
        res = relinker.update(f, frame_dets([(9, box(210))], teams=[newcomer_hint], looks=[newcomer_look]))
        out.append(int(res.tracker_id[0]))
    return out


def test_a_player_guarded_closely_is_relinked_by_any_of_his_clean_views():
    # he comes back showing his back: far from his latest (front) look, near an earlier one
    assert guarded_then_hidden(BACK * 0.98 + FRONT * 0.02) == [5] * 6
    # a running mean of his last looks refuses him (a fragment)
    assert guarded_then_hidden(BACK * 0.98 + FRONT * 0.02, gallery_size=0) == [9] * 6
    # the defender, born on the spot before his team is told, is not taken for him: the frames whose
    # team hint contradicted the track's team never entered its remembered looks
    assert guarded_then_hidden(YELLOW, None) == [9] * 6
    assert guarded_then_hidden(YELLOW, None, gallery_size=0) == [9] * 6
    # nor by the one odd sample: a few of his views must agree (compared with the single nearest, he is)
    assert guarded_then_hidden(YELLOW, None, gallery_nearest=1) == [5] * 6
