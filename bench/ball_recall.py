"""Ball recall / precision against the hand labels in ``bench/labels/ball_*.csv``.

Before: the detector's ``sports ball`` class on the full frame -> ``tracker.game.ball.detected.BallTracker``.
After: :class:`tracker.game.ball.finder.BallFinder` (colour + motion candidates, camera-compensated,
+ the full-frame ball rows, optionally + tiles) over the same tracked players, fed the possession
tracker's holder as in the pipeline (``pipeline.players``); "ball stages" times both.

A labelled frame counts as *found* when the ball is visible and the reported position is within half
a ball diameter of the label; *precision* is correct reports over all reports on labelled frames
(a report on a "not visible" frame is a false one); frames labelled ``?`` are skipped.

The finder runs with ``min_confidence`` 0 and every position is thresholded here: "after" is scored at
``--min-confidence`` (default: ``BallFinder``'s, as the pipeline reports), and the recall / precision at
each of :data:`THRESHOLDS` are printed as operating points. The possession tracker is fed the positions the
pipeline would report.

Run: ``python bench/ball_recall.py [--tiles] [--cache DIR] [--labels DIR] [--clips ...]`` (the detector's
per-frame output is cached in DIR, default /tmp/bball_ball_cache, so a second run only redoes the ball stages;
``--labels`` reads ``ball_<clip>.csv`` from another folder). ``--diagnose`` prints, per labelled frame, where
the ball is lost: not in the colour mask, dropped by the shape / size tests, cut by the candidate cap,
not moving, or not taken by the tracker. ``--tile-raw`` scores the tile detector's own
ball boxes instead (tiles around every player on the labelled frames, three tile sizes).

``--net PATH`` (a :mod:`tracker.game.ball.net_train` file) scores the ball heatmap net: alone (its
strongest peak on the whole frame at the clip's size, on the labelled frames, at each of
:data:`THRESHOLDS`, and at ``--net-threshold``, default the file's own threshold chosen on synthetic
validation) and, with ``--net-finder``, as a candidate source of ``BallFinder`` (net off and on in one run).
Train the net on backgrounds of the *other* clip (cross-clip): these labels are for scoring only.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.players import PlayerTracking  # noqa: E402
from tracker.game.ball.candidates import ColourCandidates, expected_diameter  # noqa: E402
from tracker.game.ball.detected import BallTracker  # noqa: E402
from tracker.game.ball.finder import BallFinder  # noqa: E402
from tracker.game.ball.flight import FlightFinder, FlightTracker  # noqa: E402
from tracker.game.ball.net import NetCandidates  # noqa: E402
from tracker.game.ball.possession import PossessionTracker  # noqa: E402
from tracker.game.ball.tiles import TileBallDetector  # noqa: E402
from tracker.tracking.bytetrack import ByteTrackTracker  # noqa: E402
from tracker.tracking.camera_motion import CameraMotionEstimator  # noqa: E402
from tracker.tracking.detector import Detector  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CLIPS = ["court_3players_720p", "nba_broadcast_480p"]
WEIGHTS = SHARED / "weights" / "yolov8n_int8.tflite"


LABELS = ROOT / "bench" / "labels"
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def read_labels(clip: str, labels_dir: Path | None = None) -> dict[int, tuple[float, float, float] | None]:
    out = {}
    with open((labels_dir or LABELS) / f"ball_{clip}.csv") as fh:
        for row in csv.DictReader(fh):
            if row["visible"] == "?":
                continue
            out[int(row["frame"])] = (float(row["x"]), float(row["y"]), float(row["diameter"])) \
                if row["visible"] == "1" else None
    return out


def score(reports: dict[int, tuple[float, float] | None], labels) -> dict:
    visible = [f for f, v in labels.items() if v is not None]
    found = sum(1 for f in visible if reports.get(f) is not None
                and np.hypot(reports[f][0] - labels[f][0], reports[f][1] - labels[f][1]) <= labels[f][2] / 2)
    made = [f for f in labels if reports.get(f) is not None]
    return {"labelled": len(labels), "visible": len(visible), "found": found, "reports": len(made),
            "recall": found / max(len(visible), 1), "precision": found / max(len(made), 1)}


def detections(clip: str, cache: Path, detector: Detector | None):
    path = cache / f"{clip}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    out = []
    while True:
        ok, im = cap.read()
        if not ok:
            break
        out.append(detector([im])[0])
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def run(clip: str, dets, tiles: Detector | None, labels: dict, min_confidence: float,
        tile_every: int = 5, tile_count: int = 2, flight: bool = False, net: Path | None = None,
        net_threshold: float | None = None) -> dict:
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    players = PlayerTracking.build(ByteTrackTracker(fps=fps), teams=False, ball=False)
    before_tracker = BallTracker()
    # min_confidence 0: every position comes back with its confidence, thresholded below
    finder = BallFinder(tiles=TileBallDetector(tiles, every=tile_every, max_tiles=tile_count) if tiles is not None else None,
                        camera=CameraMotionEstimator().estimate, min_confidence=0.0,
                        flight=FlightFinder(tracker=FlightTracker(fps=fps)) if flight else None,
                        net=NetCandidates(net, threshold=net_threshold) if net is not None else None)
    possession = PossessionTracker()  # as in the pipeline: the holder's hands are the finder's prior
    before, after, conf, states, seconds, raw = {}, {}, {}, {}, 0.0, {}
    i = 0
    while True:
        ok, im = cap.read()
        if not ok or i >= len(dets):
            break
        tracked = players.update(i, i / fps, im, dets[i])
        xy = before_tracker.update(i, dets[i])
        before[i] = None if xy is None else tuple(xy)
        t = time.perf_counter()
        obs = finder.update(i, im, tracked, dets[i], possession.holder)
        shown = obs.xy if obs.confidence >= min_confidence else None  # what the pipeline reports
        possession.update(i, None if shown is None else np.array(shown), tracked)
        seconds += time.perf_counter() - t
        after[i], conf[i], states[i] = obs.xy, obs.confidence, obs.state if shown is not None else "lost"
        if finder.flight is not None:
            raw[i] = finder.flight.last.xy if finder.flight.last is not None else None
            finder.flight.last = None  # a repeated frame is not a new flight report
        i += 1
    curve = [(th, score({f: xy if conf[f] >= th else None for f, xy in after.items()}, labels)) for th in THRESHOLDS]
    return {"before": score(before, labels),
            "after": score({f: xy if conf[f] >= min_confidence else None for f, xy in after.items()}, labels),
            "curve": curve, "flight_alone": score(raw, labels) if flight else None, "ms_per_frame": 1000 * seconds / max(i, 1), "frames": i,
            "states": {s: sum(1 for v in states.values() if v == s) for s in ("held", "flight", "lost")}}


def net_alone(clip: str, labels: dict, net_path: Path, threshold: float | None, dets=None) -> None:
    """The net alone: on each labelled frame, the strongest heatmap peak on the whole frame (the two
    previous distinct frames as its history), scored at each threshold; with ``dets`` also the strongest
    of the 5 best peaks near a detected person (``ColourCandidates.within_reach`` >= 0.5: within about
    0.6 body heights of his box)."""
    from tracker.game.ball.net import BallHeatmap
    heat = BallHeatmap(net_path)
    if threshold is None:
        threshold = float(heat.net.meta.get("threshold", 0.5))
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    from tracker.common.coco import PERSON
    reach = ColourCandidates().within_reach
    history, best, near, top5, seconds, i, prev, width = [], {}, {}, {}, 0.0, 0, None, 0
    while True:
        ok, im = cap.read()
        if not ok:
            break
        width = im.shape[1]
        g = cv2.GaussianBlur(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        repeat = prev is not None and cv2.norm(g, prev, cv2.NORM_INF) <= 2.0
        if not repeat:
            history, prev = (history + [im])[-3:], g
        if i in labels:
            if repeat and i - 1 in best:
                best[i], near[i] = best[i - 1], near.get(i - 1)
            elif len(history) == 3:
                t = time.perf_counter()
                xy, val = heat.peaks(heat.heatmap(history), 0.0, k=5)
                seconds += time.perf_counter() - t
                best[i] = (tuple(xy[0]), float(val[0])) if len(val) else None
                lab = labels[i]
                top5[i] = lab is not None and bool(len(val)) and bool(
                    (np.hypot(xy[:, 0] - lab[0], xy[:, 1] - lab[1]) <= lab[2] / 2).any())
                if dets is not None and len(val):
                    people = dets[i][dets[i].class_id == PERSON].xyxy
                    ok = np.flatnonzero(reach(xy, np.asarray(people, np.float64).reshape(-1, 4)) >= 0.5)
                    near[i] = (tuple(xy[ok[0]]), float(val[ok[0]])) if len(ok) else None
        elif repeat and i - 1 in best:
            best[i], near[i] = best[i - 1], near.get(i - 1)
        i += 1
    runs = sum(1 for f in labels if f in best)

    def at(th, which=None):
        return score({f: b[0] if b is not None and b[1] >= th else None for f, b in (best if which is None else which).items()},
                     labels)

    a = at(threshold)
    meta = heat.net.meta
    print(f"{clip} net alone ({net_path.name}, trained on {', '.join(Path(b).name for b in meta.get('backgrounds', []))}): "
          f"threshold {threshold:.2f} recall {a['recall']:.0%} precision {a['precision']:.0%} "
          f"({a['found']} found of {a['visible']} visible, {a['reports']} reports) | whole frame "
          f"{width} px wide: {1000 * seconds / max(runs, 1):.0f} ms/frame")
    print("  operating points (threshold: recall / precision / reports): " + "; ".join(
        f"{th:.1f}: {c['recall']:.0%} / {c['precision']:.0%} / {c['reports']}" for th, c in ((t, at(t)) for t in THRESHOLDS)))
    if dets is not None:
        a = at(threshold, near)
        print(f"  near players only: threshold {threshold:.2f} recall {a['recall']:.0%} precision {a['precision']:.0%} "
              f"({a['reports']} reports); operating points: " + "; ".join(
                  f"{th:.1f}: {c['recall']:.0%} / {c['precision']:.0%} / {c['reports']}"
                  for th, c in ((t, at(t, near)) for t in THRESHOLDS)))
    print(f"  the ball among the 5 strongest peaks (any value): {sum(top5.values())} of "
          f"{sum(labels[f] is not None for f in top5)} visible labelled frames run")
    vals = sorted((b[1], labels[f] is not None and np.hypot(b[0][0] - labels[f][0], b[0][1] - labels[f][1])
                   <= labels[f][2] / 2) for f, b in best.items() if b is not None and f in labels)
    print("  peak values, right place: " + " ".join(f"{v:.2f}" for v, good in vals if good)
          + " | elsewhere: " + " ".join(f"{v:.2f}" for v, good in vals if not good))


def diagnose(clip: str, dets, labels: dict) -> None:
    """Where the ball is lost, per labelled visible frame, running the finder as :func:`run` does:
    ``mask`` the ball-colour mask has pixels within half a diameter of the label (its blob's size,
    fill, size over the expected size, median saturation there), ``passes`` that blob passes the
    shape / size / head tests (a candidate before the cap), ``rank`` its place among them (kept when
    below the cap), ``moving`` it passed the motion test, ``reported`` the finder's position (with its
    confidence) within half a diameter. Frames that repeat the previous one (frame-rate conversion) are
    left out: the finder answers them without looking (49 of the court clip's 58 visible frames remain)."""
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    players = PlayerTracking.build(ByteTrackTracker(fps=fps), teams=False, ball=False)
    finder = BallFinder(camera=CameraMotionEstimator().estimate, min_confidence=0.0)
    colour, seen = finder.colour, {}
    uncapped = ColourCandidates(**{**vars(colour), "max_candidates": 10**6})

    def spy(prepared, xyxy, warped, warped_mask):
        seen.update(prepared=prepared, all=uncapped.candidates(prepared, xyxy, warped, warped_mask))
        return ColourCandidates.candidates(colour, prepared, xyxy, warped, warped_mask)

    colour.candidates = spy
    possession, counts, i = PossessionTracker(), {"visible": 0, "mask": 0, "passes": 0, "kept": 0, "found": 0}, 0
    while True:
        ok, im = cap.read()
        if not ok or i >= len(dets):
            break
        tracked = players.update(i, i / fps, im, dets[i])
        seen.clear()
        obs = finder.update(i, im, tracked, dets[i], possession.holder)
        possession.update(i, None if obs.xy is None or obs.confidence < BallFinder().min_confidence
                          else np.array(obs.xy), tracked)
        lab = labels.get(i)
        if lab is not None and "prepared" in seen:
            x, y, d = lab
            mask, _, s, small = seen["prepared"]
            n, comp, st, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            r = max(1, int(round(d / 2 * s)))
            xi, yi = int(round(x * s)), int(round(y * s))
            ids = sorted(set(comp[max(0, yi - r):yi + r + 1, max(0, xi - r):xi + r + 1].ravel()) - {0},
                         key=lambda k: -st[k, 4])
            sat = np.median(cv2.cvtColor(small[max(0, yi - r):yi + r + 1, max(0, xi - r):xi + r + 1],
                                         cv2.COLOR_BGR2HSV)[..., 1])
            want = expected_diameter(np.array([[x, y]]), np.asarray(tracked.xyxy).reshape(-1, 4))[0]
            blob = "none"
            if ids:
                k = ids[0]
                w, h, area = st[k, 2:5]
                blob = f"{max(w, h) / s:.0f}px fill {area / (w * h):.2f} size/expected {max(w, h) / s / want:.2f}"
            c = seen["all"]
            near = np.flatnonzero(np.hypot(*(c.xy - [x, y]).T) <= d / 2) if len(c) else np.zeros(0, int)
            rank = int(near[0]) if len(near) else None
            found = obs.xy is not None and np.hypot(obs.xy[0] - x, obs.xy[1] - y) <= d / 2
            counts["visible"] += 1
            counts["mask"] += bool(ids)
            counts["passes"] += rank is not None
            counts["kept"] += rank is not None and rank < colour.max_candidates
            counts["found"] += bool(found) and obs.confidence >= BallFinder().min_confidence
            print(f"  {i:4d}: mask {'yes' if ids else 'no '} (sat {sat:.0f}; blob {blob}) | passes "
                  f"{'yes' if rank is not None else 'no '} | rank {rank} of {len(c)} "
                  f"| moving {bool(c.moving[rank]) if rank is not None else '-'} | reported "
                  f"{'here' if found else 'elsewhere' if obs.xy is not None else 'none'} "
                  f"(confidence {obs.confidence:.2f})")
        i += 1
    print(f"{clip}: visible {counts['visible']}, ball in the colour mask {counts['mask']}, a candidate "
          f"{counts['passes']}, among the {colour.max_candidates} kept {counts['kept']}, found (confidence >= "
          f"{BallFinder().min_confidence}) {counts['found']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", action="store_true", help="also run the detector on upper-body tiles")
    ap.add_argument("--tile-every", type=int, default=5, help="with --tiles: on one frame in N")
    ap.add_argument("--tile-count", type=int, default=2, help="with --tiles: tiles a time, nearest the ball first")
    ap.add_argument("--tile-raw", action="store_true",
                    help="score the tile detector's raw ball boxes alone (tiles on every player, labelled frames only)")
    ap.add_argument("--diagnose", action="store_true",
                    help="per labelled frame: is the ball in the colour mask, a candidate, kept, moving, reported")
    ap.add_argument("--flight", choices=("off", "on", "both"), default="off",
                    help="the motion-only flight stage (tracker.game.ball.flight): off, on, or both in one run")
    ap.add_argument("--net", type=Path, default=None,
                    help="a ball heatmap net (python -m tracker.game.ball.net_train): score it alone on the whole frame")
    ap.add_argument("--net-threshold", type=float, default=None,
                    help="with --net: its reporting threshold (default: the file's, chosen on synthetic validation)")
    ap.add_argument("--net-finder", action="store_true",
                    help="with --net: also run BallFinder without and with the net's candidates, in one run")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bball_ball_cache"))
    ap.add_argument("--labels", type=Path, default=LABELS, help="folder of ball_<clip>.csv")
    ap.add_argument("--clips", nargs="+", default=CLIPS)
    ap.add_argument("--min-confidence", type=float, default=BallFinder().min_confidence,
                    help="the reporting threshold scored as 'after' (default: BallFinder's)")
    args = ap.parse_args()
    det = Detector(str(WEIGHTS), ball=True, ball_conf=0.1)
    for clip in args.clips:
        labels = read_labels(clip, args.labels)
        if args.tile_raw:
            tile_raw(clip, detections(clip, args.cache, det), labels)
            continue
        if args.diagnose:
            diagnose(clip, detections(clip, args.cache, det), labels)
            continue
        if args.net is not None:
            net_alone(clip, labels, args.net, args.net_threshold, detections(clip, args.cache, det))
            if not args.net_finder:
                continue
        nets = [None, args.net] if args.net is not None else [None]
        for flight, net in [(f, n) for f in {"off": [False], "on": [True], "both": [False, True]}[args.flight] for n in nets]:
            r = run(clip, detections(clip, args.cache, det), det if args.tiles else None, labels, args.min_confidence,
                    args.tile_every, args.tile_count, flight, net, args.net_threshold)
            b, a = r["before"], r["after"]
            print(f"{clip} [flight {'on' if flight else 'off'}, net {'on' if net else 'off'}]: labelled {a['labelled']} (visible {a['visible']}) | "
                  f"before recall {b['recall']:.0%} precision {b['precision']:.0%} ({b['reports']} reports) | after "
                  f"(confidence >= {args.min_confidence}) recall {a['recall']:.0%} precision {a['precision']:.0%} "
                  f"({a['reports']} reports) | ball stages {r['ms_per_frame']:.1f} ms/frame | states {r['states']}")
            print("  operating points (min confidence: recall / precision / reports): " + "; ".join(
                f"{th:.1f}: {c['recall']:.0%} / {c['precision']:.0%} / {c['reports']}" for th, c in r["curve"]))
            if r["flight_alone"] is not None:
                f = r["flight_alone"]
                print(f"  flight stage alone: recall {f['recall']:.0%} precision {f['precision']:.0%} "
                      f"({f['found']} found, {f['reports']} reports)")


def tile_raw(clip: str, dets, labels: dict, spans=(1.2, 2.0, 3.0), confs=(0.05, 0.1, 0.2, 0.3, 0.5)) -> None:
    """The tile detector alone: a tile around every tracked player's upper body on each labelled frame,
    ``span`` body heights wide, resized to the detector's 640 input; a labelled frame is found when a
    ball box at or above the confidence lies within half a diameter of the label; precision = such boxes
    over all boxes (overlapping tiles may both count)."""
    from tracker.common.coco import PERSON, SPORTS_BALL
    from tracker.game.ball.tiles import upper_body_tiles
    det = Detector(str(WEIGHTS), ball=True, ball_conf=min(confs))
    frames = {}
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    i = 0
    while True:
        ok, im = cap.read()
        if not ok:
            break
        if i in labels:
            frames[i] = im
        i += 1
    visible = sum(v is not None for v in labels.values())
    for span in spans:
        boxes, seconds, n_tiles = {}, 0.0, 0
        for f, im in frames.items():
            people = dets[f][dets[f].class_id == PERSON]
            tiles = upper_body_tiles(people.xyxy, None, (im.shape[1], im.shape[0]), max_tiles=len(people), span=span)
            t = time.perf_counter()
            res = det([cv2.resize(im[y1:y2, x1:x2], (640, 640)) for x1, y1, x2, y2 in tiles]) if len(tiles) else []
            seconds, n_tiles = seconds + time.perf_counter() - t, n_tiles + len(tiles)
            boxes[f] = []
            for (x1, y1, x2, y2), r in zip(tiles, res):
                r = r[r.class_id == SPORTS_BALL]
                for b, c in zip(r.xyxy, r.confidence):
                    sx, sy = (x2 - x1) / 640, (y2 - y1) / 640
                    boxes[f].append((x1 + sx * (b[0] + b[2]) / 2, y1 + sy * (b[1] + b[3]) / 2, float(c)))
        print(f"{clip} tiles of {span} body heights: {n_tiles} tiles on {len(frames)} frames, "
              f"{1000 * seconds / max(n_tiles, 1):.0f} ms a tile ({1000 * seconds / max(len(frames), 1):.0f} ms a frame)")
        for th in confs:
            good = bad = hit = 0
            for f, found in boxes.items():
                lab = labels[f]
                ok = [lab is not None and np.hypot(x - lab[0], y - lab[1]) <= lab[2] / 2 for x, y, c in found if c >= th]
                good, bad, hit = good + sum(ok), bad + len(ok) - sum(ok), hit + any(ok)
            print(f"  confidence >= {th}: recall {hit}/{visible} ({hit / max(visible, 1):.0%}), "
                  f"precision {good}/{good + bad} ({good / max(good + bad, 1):.0%})")


if __name__ == "__main__":
    main()
