"""PlayerTracking, the shipped "who is playing" chain, on a synthetic game with the real pieces:
court filter, ByteTrack, team colours, re-linking, the ball and possession.

The scene (:func:`tests.synth.make_game`): five red and five blue players, two referees in
stripes, five spectators in the stands wearing the teams' colours. Detections are the drawn
boxes (a perfect detector) carrying their ground-truth person in ``data["gt"]``, which every
stage keeps on its rows; one player is missed by the detector for a few frames (longer than
the tracker's lost-track buffer) and one holds the ball. Frame times run at a variable rate.
"""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from pipeline.players import CameraSteps, PlayerTracking
from pipeline.render import TEAM_HEX, Renderer
from tests.synth import BLUE, RED, make_game
from tracker.common.coco import PERSON, SPORTS_BALL
from tracker.game.identity import TEAM_KEY
from tracker.game.teams.assigner import REFEREE
from tracker.tracking.base import make_tracker

N_FRAMES = 60
HIDDEN = range(32, 40)  # frames the detector misses one player (the tracker's buffer is 3 frames)
BALL = range(8, 50)  # frames one player holds the ball
#: variable frame rate: 1/30 s steps with every third one 1/60 s (as after dropped duplicates)
TIMES = np.concatenate([[0.0], np.cumsum([1 / 60 if f % 3 == 2 else 1 / 30 for f in range(N_FRAMES - 1)])])
SPECTATOR = 900  # ground-truth IDs from here on are spectators


@pytest.fixture(scope="module")
def game():
    frames, per_frame, truth = make_game({"A": RED, "B": BLUE, REFEREE: "stripes"}, n_frames=N_FRAMES,
                                         track_len=N_FRAMES, seed=2)
    # the two players least covered by others around the gap: one goes missing, one holds the ball
    players = [t for t, team in truth.items() if team != REFEREE]
    overlap = {t: 0.0 for t in players}
    for f in range(HIDDEN.start - 5, HIDDEN.stop + 5):
        boxes, ids = per_frame[f]
        iou = sv.box_iou_batch(boxes, boxes)
        np.fill_diagonal(iou, 0)
        for t in players:
            overlap[t] += float(iou[list(ids).index(t)].max())
    hidden, holder = sorted(players, key=overlap.get)[:2]
    return frames, per_frame, truth, hidden, holder


def detections(per_frame, f: int, hidden: int | None, holder: int | None) -> sv.Detections:
    """Frame ``f``'s people (without ``hidden`` during :data:`HIDDEN`) and the ball at ``holder``'s hand."""
    boxes, ids = per_frame[f]
    keep = ids != hidden if f in HIDDEN else np.ones(len(ids), bool)
    boxes, ids = boxes[keep], ids[keep]
    classes = np.full(len(ids), PERSON)
    if holder is not None and f in BALL:
        x1, y1, x2, y2 = boxes[list(ids).index(holder)]
        bx, by = x2 + 1, y1 + 0.45 * (y2 - y1)  # at the right hand
        boxes = np.vstack([boxes, [[bx - 3, by - 3, bx + 3, by + 3]]]).astype(np.float32)
        ids, classes = np.append(ids, -1), np.append(classes, SPORTS_BALL)
    return sv.Detections(xyxy=boxes, confidence=np.full(len(ids), 0.9, np.float32), class_id=classes,
                         data={"gt": ids})


def run(game, **build) -> dict:
    """The chain over the whole game; per frame the output, and the chain itself."""
    frames, per_frame, _, hidden, holder = game
    players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0, max_age=3), relink_gap_frames=30, **build)
    outputs = [players.update(f, float(TIMES[f]), frames[f], detections(per_frame, f, hidden, holder))
               for f in range(N_FRAMES)]
    return {"players": players, "outputs": outputs}


@pytest.fixture(scope="module")
def shipped(game):
    return run(game)


def player_ids_of(outputs, gt: int) -> set[int]:
    return {int(p) for out in outputs for p, g in zip(out.tracker_id, out.data.get("gt", [])) if g == gt}


def test_spectators_in_the_stands_are_not_tracked(game, shipped):
    seen = {int(g) for out in shipped["outputs"] for g in out.data["gt"]}
    assert seen and max(seen) < SPECTATOR
    assert len(seen) == 12  # every player and referee on the floor
    everyone = run(game, all_people=True, teams=False, ball=False)  # the same without the court filter
    assert {int(g) for out in everyone["outputs"] for g in out.data["gt"]} & set(range(SPECTATOR, SPECTATOR + 5))


def test_player_ids_are_dense_from_one_and_only_player_rows_come_out(shipped):
    ids = {int(t) for out in shipped["outputs"] for t in out.tracker_id}
    assert ids == set(range(1, len(ids) + 1))
    assert all((out.class_id == PERSON).all() for out in shipped["outputs"] if len(out))  # the ball is not a player
    assert all(set(out.data) == {"gt"} for out in shipped["outputs"] if len(out))  # the cues for re-linking are gone


def test_teams_are_attached_to_the_players(game, shipped):
    _, _, truth, _, _ = game
    players, outputs = shipped["players"], shipped["outputs"]
    got = {}
    for gt in truth:
        labels = {players.team_of(p) for p in player_ids_of(outputs, gt)}
        assert len(labels) == 1, (gt, labels)  # one label per person, however many IDs he wore
        got[gt] = labels.pop()
    assert list(got.values()).count(None) <= 1  # a player hidden behind others most of the time may stay undecided
    red = {got[t] for t, team in truth.items() if team == "A"} - {None}
    blue = {got[t] for t, team in truth.items() if team == "B"} - {None}
    assert len(red) == 1 and len(blue) == 1 and red | blue == {"A", "B"}  # one label per team, the two apart
    assert {got[t] for t, team in truth.items() if team == REFEREE} - {None} == {REFEREE}
    labelled = players.label_teams(outputs[-1])  # what the renderer is given
    assert list(labelled.data[TEAM_KEY]) == [players.team_of(p) or "" for p in labelled.tracker_id]  # "": undecided


def test_a_track_broken_by_missed_detections_is_linked_back(game, shipped):
    _, _, _, hidden, _ = game
    before = player_ids_of(shipped["outputs"][: HIDDEN.start], hidden)
    after = player_ids_of(shipped["outputs"][HIDDEN.stop:], hidden)
    assert len(before) == 1 and after == before
    assert shipped["players"].summary()["relinks"] >= 1
    unlinked = run(game, relink=False)  # the same chain without the re-linker breaks the ID
    assert player_ids_of(unlinked["outputs"][HIDDEN.stop:], hidden) - player_ids_of(
        unlinked["outputs"][: HIDDEN.start], hidden)


def test_ball_and_possession_follow_the_holder_with_the_frames_own_times(game, shipped):
    _, _, _, _, holder = game
    players = shipped["players"]
    (holder_id,) = player_ids_of(shipped["outputs"], holder)
    segments = players.possession_segments()
    first = segments[0]  # later ones: the ball's predicted track drifts on for a few frames after it is gone
    assert (first["player_id"], first["start_frame"]) == (holder_id, BALL.start)
    assert first["end_frame"] - first["start_frame"] + 1 >= 0.8 * len(BALL)
    assert first["team"] == players.team_of(holder_id) != REFEREE
    assert all(s["start_frame"] < BALL.stop + 5 for s in segments)
    for s in segments:
        assert s["start_time"] == round(TIMES[s["start_frame"]], 4)  # not start_frame / fps
        assert s["end_time"] == round(TIMES[s["end_frame"]], 4)
        assert s["team"] == players.team_of(s["player_id"])
    share = players.summary()["possession_share"]
    assert share[first["team"]] >= 0.8 and sum(share.values()) == pytest.approx(1.0, abs=2e-3)


def test_summary_says_what_the_video_shows(shipped):
    players = shipped["players"]
    summary = players.summary()
    assert summary["tracking"]["frames"] == N_FRAMES
    assert summary["tracking"]["unique_ids"] == len({int(t) for out in shipped["outputs"] for t in out.tracker_id})
    teams = summary["teams"]
    assert teams["mode"] == "two teams" and set(teams["teams"]) == {"A", "B", REFEREE}
    # each team's colour in the summary is the colour its boxes are drawn in
    image = np.full((240, 320, 3), 128, np.uint8)
    last = players.label_teams(shipped["outputs"][-1])
    drawn = Renderer("test", frame_height=240).render(image, last, [None] * len(last))
    checked = set()
    for i, ((x1, y1, x2, y2), team) in enumerate(zip(last.xyxy.astype(int), last.data[TEAM_KEY])):
        others = np.delete(last.xyxy, i, axis=0)
        x, y = x1, (y1 + y2) // 2
        if ((others[:, 0] - 3 <= x) & (x <= others[:, 2] + 3) & (others[:, 1] - 3 <= y) & (y <= others[:, 3] + 3)).any():
            continue  # another box or its label may be drawn over this edge
        colour = sv.Color.from_hex(teams["teams"][team]["color"]).as_bgr()
        assert np.abs(drawn[y, x].astype(int) - colour).max() <= 2, team
        checked.add(team)
    assert checked == {"A", "B", REFEREE}
    assert {label: entry["color"] for label, entry in teams["teams"].items()} == TEAM_HEX


def ids_by_player(players: PlayerTracking, truth, detector) -> dict[int, list[tuple[int, int]]]:
    """The chain over ``truth``'s video: per ground-truth player, ``(frame, shown ID)``."""
    from tests.synth import read_frames

    seen: dict[int, list[tuple[int, int]]] = {}
    for i, image in enumerate(read_frames(truth.path)):
        out = players.update(i, i / 30.0, image, detector([image])[0])
        for gt, tid in zip(out.data["gt_id"], out.tracker_id):
            seen.setdefault(int(gt), []).append((i, int(tid)))
    return seen


@pytest.mark.parametrize("camera", [True, False])
def test_a_player_hidden_while_the_camera_pans_keeps_his_id(tmp_path, camera):
    """A player stands on one spot of a textured floor while the camera pans 4 px a frame; the
    detector misses him for 40 frames (the picture moves 160 px, over 3 body heights). The chain's
    camera motion keeps his remembered spot on the floor; without it he is a stranger."""
    from tests.synth import GroundTruthDetector, make_video, player, standing_path

    n, hidden = 60, range(10, 50)
    truth = make_video(tmp_path / "pan.mp4", size=(320, 160), n_frames=n, objects=[
        player(0, standing_path(n, (40, 90)), color=(40, 40, 220)),
        player(1, standing_path(n, (-60, 90)), color=(220, 80, 30))],  # walks into the picture with the pan
        pan_px_per_frame=(4.0, 0.0), seed=3)
    players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0, max_age=3), all_people=True, teams=False,
                                   ball=False, jerseys=False, cuts=False, relink_gap_frames=60)
    assert players.steps is None  # no ball finder: no camera estimate is paid for by default
    if camera:
        players.steps = CameraSteps()
    seen = ids_by_player(players, truth, GroundTruthDetector(truth, drops={0: hidden}))
    assert {f for f, _ in seen[0]} >= set(range(52, n))  # back (a new raw track confirms in a frame or two)
    assert len({t for _, t in seen[0]}) == (1 if camera else 2)
    assert not {t for _, t in seen[0]} & {t for _, t in seen[1]}  # never the other player's


def test_the_camera_motion_is_estimated_once_and_offered_to_the_recognisers(tmp_path):
    """At ``detect_every`` 1 with the ball on, the chain's own estimate (the one the ball finder and the
    re-linker use) is what :attr:`PlayerTracking.camera_motion` offers the recognisers, so the kinematic
    recogniser does not estimate it a second time; it recovers the pan."""
    from tests.synth import GroundTruthDetector, make_video, player, standing_path

    n = 8
    truth = make_video(tmp_path / "pan.mp4", size=(320, 160), n_frames=n, objects=[
        player(0, standing_path(n, (120, 90)), color=(40, 40, 220))], pan_px_per_frame=(4.0, 0.0), seed=3)
    players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0), all_people=True, teams=False,
                                   jerseys=False, cuts=False)
    assert players.predictor is None and players.steps is not None
    detector = GroundTruthDetector(truth)
    from tests.synth import read_frames

    for i, image in enumerate(read_frames(truth.path)):
        players.update(i, i / 30.0, image, detector([image])[0])
        if i == 0:
            assert players.camera_motion is None  # nothing to move from on a first frame
        else:
            assert players.camera_motion is players.steps.last
            assert players.camera_motion[0, 2] == pytest.approx(4.0, abs=1.0)  # the scene moves 4 px a frame


@pytest.mark.parametrize("second", ["same_clip", "other_clip"])
def test_after_a_cut_identities_come_back_by_team_and_appearance_never_to_another_player(tmp_path, second):
    """Three players in distinct colours, a cut, then the same clip again (same players) or another
    clip (other players in other colours). Back in the same clip a player whose look is clearly the
    nearest among the old shot's players of his team gets his old ID again; a lone player of his team
    does not (teammates in one kit look alike); nobody ever gets another player's ID."""
    from tests.pipeline.test_camera_cuts import A_COLOURS, B_COLOURS, N, scene
    from tests.synth import GroundTruthDetector, join_videos

    a = scene(tmp_path / "a.mp4", 0, A_COLOURS, size=(30, 70))
    if second == "same_clip":
        truth = join_videos(tmp_path / "aa.mp4", [a, a], id_offsets=[0, 0])
    else:
        b = scene(tmp_path / "b.mp4", 7, B_COLOURS, size=(30, 70), background="plain")
        truth = join_videos(tmp_path / "ab.mp4", [a, b])
    players = PlayerTracking.build(make_tracker("bytetrack", fps=30.0), all_people=True, ball=False, jerseys=False)
    seen = ids_by_player(players, truth, GroundTruthDetector(truth))
    assert players.cut_frames() == [N]
    before = {gt: {t for f, t in rows if f < N} for gt, rows in seen.items()}
    after = {gt: {t for f, t in rows if f >= N + 12} for gt, rows in seen.items()}  # once merges had their frames
    for gt in after:
        for other, ids in before.items():
            if other != gt:
                assert not after[gt] & ids, (gt, other)  # no ID carries to another player
    back = [gt for gt in after if after[gt] & before.get(gt, set())]
    if second == "same_clip":
        assert len(back) >= 2 and len(players.relinker.reid_links) == len(back)
    else:
        assert back == [] and players.relinker.reid_links == []
