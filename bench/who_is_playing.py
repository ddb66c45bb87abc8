"""Who is playing? Tracking quality before and after the on-court filter, ID re-linking and teams.

Runs the YOLO detector (persons + sports ball, one forward pass) and ByteTrack over
real footage in three set-ups on the same detections:

* before: every detected person is tracked (spectators, bench, referees included);
* court filter only: CourtFilter -> ByteTrack;
* after:  CourtFilter -> ByteTrack -> IdRelinker (team and appearance cues) -> TeamAssigner,
          plus the ball track and the possession timeline.

and prints, per video, unique IDs / mean people tracked per frame / fragmentation
for each (after: all on-court people, and players only, i.e. without referees),
the teams found with their track counts, the referees, the re-links and team-swap
splits made, and the possession timeline and shares. ``--png-dir`` writes a few frames with team-coloured
boxes (referees magenta, undecided grey, the ball and its holder marked) to look at.

    python bench/who_is_playing.py                      # both shared demo clips
    python bench/who_is_playing.py VIDEO --png-dir /tmp/frames --png-frames 0,60,120

Defaults read the shared assets by path (``../shared`` from the repository root);
nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.game.ball import BallTracker, PossessionTracker  # noqa: E402
from tracker.tracking.bytetrack import ByteTrackTracker  # noqa: E402
from tracker.game.court import CourtFilter  # noqa: E402
from tracker.common.coco import PERSON, SPORTS_BALL  # noqa: E402
from tracker.tracking.detector import Detector  # noqa: E402
from tracker.common.errors import BballError, InputVideoError  # noqa: E402
from tracker.game.quality import TrackingQuality  # noqa: E402
from tracker.game.relink import APPEARANCE_KEY, TEAM_KEY, IdRelinker  # noqa: E402
from tracker.game.teams import REFEREE, TeamAssigner  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DEFAULT_VIDEOS = [SHARED / "demo_videos" / "nba_broadcast_480p.mp4", SHARED / "demo_videos" / "court_3players_720p.mp4"]
DEFAULT_WEIGHTS = SHARED / "weights" / "yolov8n_int8.tflite"


def read_frames(path: Path, max_frames: int | None):
    """Yield ``(index, BGR frame)`` and set nothing else; raises InputVideoError if unreadable."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputVideoError(path, "cannot open video")
    try:
        index = 0
        while max_frames is None or index < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield index, frame
            index += 1
        if index == 0:
            raise InputVideoError(path, "no decodable video frames")
    finally:
        cap.release()


def detect_all(detector: Detector, path: Path, max_frames: int | None, cache: Path | None) -> list[sv.Detections]:
    """Detections of every frame (read from / written to ``cache`` when given)."""
    if cache is not None and cache.is_file():
        data = np.load(cache)
        return [
            sv.Detections(xyxy=data[f"xyxy_{i}"], confidence=data[f"conf_{i}"], class_id=data[f"cls_{i}"])
            for i in range(int(data["n"]))
        ]
    out: list[sv.Detections] = []
    for _, frame in read_frames(path, max_frames):
        out.append(detector([frame])[0])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"n": len(out)}
        for i, d in enumerate(out):
            arrays.update({f"xyxy_{i}": d.xyxy, f"conf_{i}": d.confidence, f"cls_{i}": d.class_id})
        np.savez(cache, **arrays)
    return out


def draw(frame: np.ndarray, people: sv.Detections, teams: TeamAssigner, ball_xy, holder: int | None) -> np.ndarray:
    colors = teams.colors()
    out = frame.copy()
    for box, tid in zip(people.xyxy.astype(int), people.tracker_id):
        team = teams.team_of(int(tid))
        colour = colors[team].as_bgr()
        cv2.rectangle(out, (box[0], box[1]), (box[2], box[3]), colour, 3 if tid == holder else 2)
        text = f"#{tid} {team or '?'}" + (" (ball)" if tid == holder else "")
        cv2.putText(out, text, (box[0], max(10, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    if ball_xy is not None:
        cv2.circle(out, (int(ball_xy[0]), int(ball_xy[1])), 7, (0, 255, 255), 2)
    return out


def video_fps(path: Path) -> float:
    """Frame rate of ``path``; InputVideoError when it cannot be opened."""
    if not path.is_file():
        raise InputVideoError(path, "no such file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputVideoError(path, "cannot open video")
        fps = cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return fps if np.isfinite(fps) and fps > 0 else 30.0


def run_video(path: Path, detector: Detector, args) -> dict:
    fps = video_fps(path)
    low = min(args.conf, args.ball_conf)
    cache = None if args.cache_dir is None else Path(args.cache_dir) / f"{path.stem}_{args.imgsz}_{low}.npz"
    started = time.perf_counter()
    all_dets = detect_all(detector, path, args.max_frames, cache)
    detect_s = time.perf_counter() - started

    before_tracker = ByteTrackTracker(fps=fps)
    before = TrackingQuality()
    court = CourtFilter()
    court_tracker = ByteTrackTracker(fps=fps)
    court_only = TrackingQuality()
    after_tracker = ByteTrackTracker(fps=fps)
    teams = TeamAssigner()
    relinker = IdRelinker(max_gap_frames=int(2 * fps), team_of=teams.team_of)
    ball = BallTracker()
    possession = PossessionTracker()
    per_frame_ids: list[np.ndarray] = []
    png_frames = {int(x) for x in args.png_frames.split(",") if x.strip()} if args.png_dir else set()
    on_court_boxes = 0
    all_boxes = 0
    for index, frame in read_frames(path, len(all_dets)):
        dets = all_dets[index]
        persons = dets[(dets.class_id == PERSON) & (dets.confidence >= args.conf)]
        balls = dets[(dets.class_id == SPORTS_BALL) & (dets.confidence >= args.ball_conf)]
        before.update(before_tracker.update(persons))

        kept = court(frame, persons)
        all_boxes += len(persons)
        on_court_boxes += len(kept)
        court_only.update(court_tracker.update(kept))
        tracked = after_tracker.update(kept)
        if len(tracked):
            tracked.data[TEAM_KEY] = np.array(teams.classify(frame, tracked), dtype=object)
            tracked.data[APPEARANCE_KEY] = teams.appearance(frame, tracked)
        tracked = relinker.update(index, tracked)
        teams.update(index, frame, tracked)
        per_frame_ids.append(np.asarray(tracked.tracker_id if len(tracked) else [], dtype=np.int64))

        ball_xy = ball.update(index, balls)
        not_referee = np.array([teams.team_of(int(t)) != REFEREE for t in tracked.tracker_id], bool)
        players = tracked[not_referee] if len(tracked) else tracked
        holder = possession.update(index, ball_xy, players)
        if index in png_frames:
            out_dir = Path(args.png_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out_dir / f"{path.stem}_{index:05d}.png"), draw(frame, tracked, teams, ball_xy, holder))

    after_all = TrackingQuality()
    after_players = TrackingQuality()
    labels = teams.labels
    for ids in per_frame_ids:
        after_all.update(sv.Detections(xyxy=np.zeros((len(ids), 4)), tracker_id=ids))
        player_ids = np.array([i for i in ids if labels.get(int(i)) != REFEREE], dtype=np.int64)
        after_players.update(sv.Detections(xyxy=np.zeros((len(player_ids), 4)), tracker_id=player_ids))
    referees = sorted(tid for tid, lab in labels.items() if lab == REFEREE)
    return {
        "video": str(path),
        "frames": len(all_dets),
        "detect_seconds": round(detect_s, 1),
        "person_boxes_per_frame": round(all_boxes / max(1, len(all_dets)), 2),
        "on_court_boxes_per_frame": round(on_court_boxes / max(1, len(all_dets)), 2),
        "before": before.report(),
        "court_filter_only": court_only.report(),
        "after_on_court": after_all.report(),
        "after_players_only": after_players.report(),
        "teams": teams.summary(),
        "referee_track_ids": referees,
        "relinks": [{"frame": f, "new_raw_id": r, "to_id": o} for f, r, o in relinker.links],
        "splits": [{"frame": f, "raw_id": r, "from_id": a, "to_id": b} for f, r, a, b in relinker.splits],
        "possession": possession.segments(),
        "possession_share": possession.share_by_team(teams.team_of),
    }


def _fmt(report: dict) -> str:
    frag = report["fragmentation"]
    return (
        f"unique IDs {report['unique_ids']:3d}  mean tracked {report['mean_tracked']:5.2f}  "
        f"fragmentation {'-' if frag is None else f'{frag:4.2f}'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="who_is_playing", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--conf", type=float, default=0.25, help="detector confidence (the pipeline's default)")
    parser.add_argument("--ball-conf", type=float, default=0.1,
                        help="confidence for the ball (lower: the ball is small); persons keep --conf")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--png-dir", default=None, help="write a few annotated frames here")
    parser.add_argument("--png-frames", default="0,60,120,240", help="frame indices for --png-dir")
    parser.add_argument("--cache-dir", default=None, help="keep detections here to rerun the tracking part fast")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        detector = Detector(args.weights, conf=min(args.conf, args.ball_conf), imgsz=args.imgsz, ball=True)
        results = []
        for video in args.videos:
            res = run_video(video, detector, args)
            results.append(res)
            print(f"\n== {video.name}: {res['frames']} frames, detection {res['detect_seconds']} s")
            print(f"  person boxes / frame {res['person_boxes_per_frame']}, on court {res['on_court_boxes_per_frame']}")
            print(f"  before (all persons) : {_fmt(res['before'])}")
            print(f"  court filter only    : {_fmt(res['court_filter_only'])}")
            print(f"  after  (on court)    : {_fmt(res['after_on_court'])}")
            print(f"  after  (players only): {_fmt(res['after_players_only'])}")
            print(f"  teams: {json.dumps(res['teams'])}")
            print(f"  referee track IDs: {res['referee_track_ids']}")
            print(f"  re-links: {len(res['relinks'])} {res['relinks'][:8]}")
            print(f"  team-swap splits: {len(res['splits'])} {res['splits'][:8]}")
            print(f"  possession: {res['possession']}")
            print(f"  possession share: {res['possession_share']}")
    except BballError as exc:
        print(f"who_is_playing: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
