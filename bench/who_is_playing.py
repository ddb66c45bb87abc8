"""Who is playing? Tracking quality before and after the on-court filter, ID re-linking and teams.

Runs the shipped pieces: the YOLO detector (persons + sports ball, one forward pass, built as
the CLI builds it), the shipped video reader, and :class:`pipeline.players.PlayerTracking` --
the chain the pipeline runs -- in three set-ups on the same detections:

* before: every detected person is tracked (spectators, bench, referees included):
  ``PlayerTracking.build(all_people=True, teams=False, ball=False, relink=False)``;
* court filter only: ``PlayerTracking.build(teams=False, ball=False, relink=False)``;
* after: ``PlayerTracking.build(tracker)`` -- exactly what ``Pipeline`` runs by default
  (CourtFilter -> ByteTrack -> IdRelinker with team and appearance cues -> TeamAssigner,
  plus the ball track and the possession timeline, timed by the frames' timestamps).

and prints, per video, unique IDs / mean people tracked per frame / fragmentation
for each (after: all on-court people, and players only, i.e. without referees),
the teams found with their track counts, the referees, the re-links and team-swap
splits made, and the possession timeline and shares. ``--png-dir`` writes a few frames drawn by
the shipped :class:`pipeline.render.Renderer` (team colours, ``REF`` marks), with the ball circled.

    python bench/who_is_playing.py                      # both shared demo clips
    python bench/who_is_playing.py VIDEO --png-dir /tmp/frames --png-frames 0,60,120
    python bench/who_is_playing.py --trace        # the re-linker's weighing of every new track

Identity labels: when ``bench/labels/identities_<clip>.csv`` exists (hand-made, see
``bench/labels/README.md``), each of its anchor points names the real person whose tracked box
holds it; the bench reports the distinct people seen, the fragmentation a perfect tracker would
have on these detections (distinct people in the output / mean tracked: the metric's floor),
fragments per person (output IDs per real person) and ID switches (output IDs that cover two or
more people: a merge of two people is worse than a fragment).

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

from pipeline.players import PlayerTracking  # noqa: E402
from pipeline.render import Renderer  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from tracker.common.coco import PERSON  # noqa: E402
from tracker.common.errors import BballError  # noqa: E402
from tracker.game.court import CourtFilter  # noqa: E402
from tracker.game.quality import TrackingQuality  # noqa: E402
from tracker.game.teams.assigner import REFEREE  # noqa: E402
from tracker.tracking.base import make_tracker  # noqa: E402
from tracker.tracking.detector import Detector  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DEFAULT_VIDEOS = [SHARED / "demo_videos" / "nba_broadcast_480p.mp4", SHARED / "demo_videos" / "court_3players_720p.mp4"]
DEFAULT_WEIGHTS = SHARED / "weights" / "yolov8n_int8.tflite"


def load_cache(cache: Path | None) -> list[sv.Detections] | None:
    if cache is None or not cache.is_file():
        return None
    data = np.load(cache)
    return [sv.Detections(xyxy=data[f"xyxy_{i}"], confidence=data[f"conf_{i}"], class_id=data[f"cls_{i}"])
            for i in range(int(data["n"]))]


def save_cache(cache: Path | None, detections: list[sv.Detections]) -> None:
    if cache is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"n": len(detections)}
    for i, d in enumerate(detections):
        arrays.update({f"xyxy_{i}": d.xyxy, f"conf_{i}": d.confidence, f"cls_{i}": d.class_id})
    np.savez(cache, **arrays)


def draw(renderer: Renderer, frame: np.ndarray, players: PlayerTracking, tracked: sv.Detections) -> np.ndarray:
    """The frame as the pipeline draws it (no action labels), the ball circled."""
    out = renderer.render(frame, players.label_teams(tracked), [None] * len(tracked))
    ball_xy = players.last_ball.xy if players.last_ball is not None else None
    if ball_xy is not None:
        cv2.circle(out, (int(ball_xy[0]), int(ball_xy[1])), 7, (0, 255, 255), 2)
    return out


LABELS = Path(__file__).resolve().parent / "labels"


def read_identities(path: Path) -> list[tuple[str, int, float, float]]:
    """``anchor:NAME,frame,x,y`` rows of an identity label file -> ``[(name, frame, x, y)]``."""
    anchors = []
    for line in path.read_text().splitlines():
        if line.startswith("anchor:"):
            name, f, x, y = line[len("anchor:"):].split(",")
            anchors.append((name, int(f), float(x), float(y)))
    return anchors


def score_identities(anchors, rows: list[list], mean_tracked: float) -> dict:
    """Who each output ID is, from the anchors: ``rows`` are ``[frame, id, x1, y1, x2, y2]``. An anchor
    names the ID whose box holds its point (the box whose centre is nearest when several do)."""
    by_frame: dict[int, list[list]] = {}
    for r in rows:
        by_frame.setdefault(int(r[0]), []).append(r)
    people_of: dict[int, set[str]] = {}
    ids_of: dict[str, set[int]] = {name: set() for name, *_ in anchors}
    missed = 0
    for name, f, x, y in anchors:
        inside = [r for r in by_frame.get(f, []) if r[2] <= x <= r[4] and r[3] <= y <= r[5]]
        if not inside:
            missed += 1
            continue
        r = min(inside, key=lambda r: abs((r[2] + r[4]) / 2 - x) / max(r[5] - r[3], 1.0))
        people_of.setdefault(int(r[1]), set()).add(name)
        ids_of[name].add(int(r[1]))
    found = [n for n, ids in ids_of.items() if ids]
    all_ids = {int(r[1]) for r in rows}
    return {
        "people_labelled": len(ids_of),
        "people_found": len(found),
        "metric_floor": round(len(found) / mean_tracked, 3) if mean_tracked else None,
        "fragments_per_person": round(sum(len(ids_of[n]) for n in found) / max(1, len(found)), 3),
        "id_switches": sum(len(p) - 1 for p in people_of.values()),
        "switched_ids": {i: sorted(p) for i, p in people_of.items() if len(p) > 1},
        "ids_of_person": {n: sorted(ids) for n, ids in ids_of.items()},
        "unlabelled_ids": sorted(all_ids - set(people_of)),
        "anchors_missed": missed,
    }


def trace_relinker(players: PlayerTracking, log: list[dict]) -> None:
    """Wrap ``players.relinker.update`` to note, for every new or split-off raw ID, what it weighed
    (:meth:`IdRelinker.explain`, before this frame's camera motion is applied) and what it did."""
    relinker = players.relinker
    real = relinker.update

    def update(frame_index, detections, camera=None, frame_size=None):
        mapped = set(relinker.mapping) if len(detections) else set()
        weighed = relinker.explain(frame_index, detections, also=mapped)  # the mapped rows in case one is split off
        n_splits = len(relinker.splits)
        out = real(frame_index, detections, camera, frame_size)
        split = {r for _, r, _, _ in relinker.splits[n_splits:]}
        for f, r, old, new in relinker.splits[n_splits:]:
            log.append({"frame": f, "split": r, "from": old, "to": new})
        for w in weighed:
            if w["raw_id"] in mapped and w["raw_id"] not in split:
                continue
            w["frame"], w["linked"] = frame_index, int(out.tracker_id[w["row"]])
            log.append(w)
        return out

    relinker.update = update


def run_video(path: Path, detector: Detector, args) -> dict:
    cache = None if args.cache_dir is None else (
        Path(args.cache_dir) / f"{path.stem}_{args.imgsz}_{args.conf}_{args.ball_conf}.npz")
    cached = load_cache(cache)
    detections: list[sv.Detections] = []
    detect_s = 0.0
    png_frames = {int(x) for x in args.png_frames.split(",") if x.strip()} if args.png_dir else set()
    if args.png_dir and args.png_every:
        png_frames |= set(range(0, 100_000, args.png_every))
    per_frame_ids: list[np.ndarray] = []
    rows: list[list] = []  # the after chain's output: frame, player ID, raw ID, xyxy
    on_court_boxes = all_boxes = 0
    with VideoReader(path) as reader:
        fps = reader.info.fps
        setups = {
            "before": PlayerTracking.build(make_tracker("bytetrack", fps=fps), all_people=True, teams=False,
                                           ball=False, relink=False),
            "court_filter_only": PlayerTracking.build(make_tracker("bytetrack", fps=fps), teams=False, ball=False,
                                                      relink=False),
            "after": PlayerTracking.build(make_tracker("bytetrack", fps=fps)),  # what Pipeline runs
        }
        after = setups["after"]
        trace: list[dict] = []
        if args.trace:
            trace_relinker(after, trace)
        renderer = Renderer("who_is_playing", reader.info.height)
        court = CourtFilter()
        for f in reader:
            if args.max_frames is not None and f.index >= args.max_frames:
                break
            if cached is not None and f.index < len(cached):
                dets = cached[f.index]
            else:
                started = time.perf_counter()
                dets = detector([f.image])[0]
                detect_s += time.perf_counter() - started
            detections.append(dets)
            outputs = {name: chain.update(f.index, f.time, f.image, dets) for name, chain in setups.items()}
            people = dets[dets.class_id == PERSON]
            all_boxes += len(people)
            on_court_boxes += int(court.on_floor(f.image, people).sum())  # the filter inside the chains, counted
            per_frame_ids.append(np.asarray(outputs["after"].tracker_id, dtype=np.int64))
            out = outputs["after"]
            for tid, box in zip(out.tracker_id if len(out) else [], out.xyxy):
                rows.append([f.index, int(tid), *[round(float(v), 1) for v in box]])
            if f.index in png_frames:
                out_dir = Path(args.png_dir)
                out_dir.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out_dir / f"{path.stem}_{f.index:05d}.png"), draw(renderer, f.image, after,
                                                                                 outputs["after"]))
    if cached is None:
        save_cache(cache, detections)
    if args.tracks_dir:
        Path(args.tracks_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(args.tracks_dir) / f"{path.stem}_tracks.csv", "w") as fh:
            fh.write("frame,player_id,x1,y1,x2,y2,team\n")
            fh.writelines(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},{r[5]},{after.team_of(r[1]) or ''}\n" for r in rows)

    after_players = TrackingQuality()
    for ids in per_frame_ids:
        player_ids = np.array([i for i in ids if after.team_of(int(i)) != REFEREE], dtype=np.int64)
        after_players.update(sv.Detections(xyxy=np.zeros((len(player_ids), 4)), tracker_id=player_ids))
    labels = after.teams.labels
    summary = after.summary()
    label_file = LABELS / f"identities_{path.stem}.csv"
    identities = score_identities(read_identities(label_file), rows, after.quality.report()["mean_tracked"]) \
        if label_file.is_file() else None
    for t in trace:  # linked IDs -> the player IDs shown
        for key in ("linked", "from", "to"):
            if key in t:
                t[key] = after.ids.get(t[key])
        for o in t.get("options", []):
            o["output_id"] = after.ids.get(o["output_id"])
    return {
        "identities": identities,
        "trace": trace,
        "reid_links": [{"frame": f, "raw_id": r, "from": after.ids.get(a), "to": after.ids.get(b)}
                       for f, r, a, b in after.relinker.reid_links],
        "video": str(path),
        "frames": len(detections),
        "detect_seconds": round(detect_s, 1),
        "person_boxes_per_frame": round(all_boxes / max(1, len(detections)), 2),
        "on_court_boxes_per_frame": round(on_court_boxes / max(1, len(detections)), 2),
        "before": setups["before"].quality.report(),
        "court_filter_only": setups["court_filter_only"].quality.report(),
        "after_on_court": after.quality.report(),
        "after_players_only": after_players.report(),
        "teams": summary["teams"],
        "referee_track_ids": sorted(tid for tid, lab in labels.items() if lab == REFEREE),
        "relinks": [{"frame": f, "new_raw_id": r, "to_linked_id": o} for f, r, o in after.relinker.links],
        "splits": [{"frame": f, "raw_id": r, "from_linked_id": a, "to_linked_id": b}
                   for f, r, a, b in after.relinker.splits],
        "possession": after.possession_segments(),
        "possession_share": summary["possession_share"],
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
    parser.add_argument("--png-every", type=int, default=0, help="with --png-dir: also every N-th frame")
    parser.add_argument("--tracks-dir", default=None, help="write the tracked boxes (after) as <clip>_tracks.csv here")
    parser.add_argument("--cache-dir", default=None, help="keep detections here to rerun the tracking part fast")
    parser.add_argument("--trace", action="store_true", help="print the re-linker's weighing of every new track")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        detector = Detector(args.weights, conf=args.conf, ball_conf=args.ball_conf, imgsz=args.imgsz, ball=True)
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
            if res["identities"] is not None:
                ident = res["identities"]
                print(f"  identities (hand labels): {ident['people_found']}/{ident['people_labelled']} people found, "
                      f"metric floor {ident['metric_floor']}, fragments per person {ident['fragments_per_person']}, "
                      f"ID switches {ident['id_switches']} {ident['switched_ids']}, "
                      f"unlabelled IDs {ident['unlabelled_ids']}, anchors without a box {ident['anchors_missed']}")
                print(f"  IDs of each person: {ident['ids_of_person']}")
            for t in res["trace"]:
                if "split" in t:
                    print(f"  trace f{t['frame']}: raw {t['split']} split off {t['from']} -> {t['to']}")
                else:
                    opts = ", ".join(f"{o['output_id']}:{o['gate'] or 'ok'}(gap {o['gap']}, {o['dist_px']}px, "
                                     f"cost {o['cost']})" for o in t["options"][:4])
                    print(f"  trace f{t['frame']}: raw {t['raw_id']} at {t['feet']} team {t['hint']} -> "
                          f"{t['linked']}; weighed {opts or 'nothing'}")
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
