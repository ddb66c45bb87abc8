"""Ball recall / precision against the hand labels in ``bench/labels/ball_*.csv``.

Before: the detector's ``sports ball`` class on the full frame -> ``tracker.game.ball.BallTracker``.
After: :class:`tracker.game.ball_finder.BallFinder` (colour + motion candidates, camera-compensated,
+ the full-frame ball rows, optionally + tiles) over the same tracked players, fed the possession
tracker's holder as in the pipeline (``pipeline.players``); "ball stages" times both.

A labelled frame counts as *found* when the ball is visible and the reported position is within half
a ball diameter of the label; *precision* is correct reports over all reports on labelled frames
(a report on a "not visible" frame is a false one); frames labelled ``?`` are skipped.

Run: ``python bench/ball_recall.py [--tiles] [--cache DIR]`` (the detector's per-frame output is cached
in DIR, default /tmp/bball_ball_cache, so a second run only redoes the ball stages).
"""

from __future__ import annotations

import argparse
import csv
import pickle
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.players import PlayerTracking
from tracker.tracking.camera_motion import CameraMotionEstimator
from tracker.game.ball import BallTracker, PossessionTracker
from tracker.game.ball_finder import BallFinder, TileBallDetector
from tracker.tracking.bytetrack import ByteTrackTracker
from tracker.tracking.detector import Detector

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CLIPS = ["court_3players_720p", "nba_broadcast_480p"]
WEIGHTS = SHARED / "weights" / "yolov8n_int8.tflite"


def read_labels(clip: str, labels_dir: Path | None = None) -> dict[int, tuple[float, float, float] | None]:
    out = {}
    with open((labels_dir or ROOT / "bench" / "labels") / f"ball_{clip}.csv") as fh:
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


def run(clip: str, dets, tiles: Detector | None) -> dict:
    labels = read_labels(clip)
    cap = cv2.VideoCapture(str(SHARED / "demo_videos" / f"{clip}.mp4"))
    players = PlayerTracking.build(ByteTrackTracker(fps=cap.get(cv2.CAP_PROP_FPS) or 30.0), teams=False, ball=False)
    before_tracker = BallTracker()
    finder = BallFinder(tiles=TileBallDetector(tiles) if tiles is not None else None,
                        camera=CameraMotionEstimator().estimate)
    possession = PossessionTracker()  # as in the pipeline: the holder's hands are the finder's prior
    before, after, states, seconds = {}, {}, {}, 0.0
    i = 0
    while True:
        ok, im = cap.read()
        if not ok or i >= len(dets):
            break
        tracked = players.update(i, i / (cap.get(cv2.CAP_PROP_FPS) or 30.0), im, dets[i])
        xy = before_tracker.update(i, dets[i])
        before[i] = None if xy is None else tuple(xy)
        t = time.perf_counter()
        obs = finder.update(i, im, tracked, dets[i], possession.holder)
        possession.update(i, None if obs.xy is None else np.array(obs.xy), tracked)
        seconds += time.perf_counter() - t
        after[i], states[i] = obs.xy, obs.state
        i += 1
    return {"before": score(before, labels), "after": score(after, labels), "ms_per_frame": 1000 * seconds / max(i, 1),
            "frames": i, "states": {s: sum(1 for v in states.values() if v == s) for s in ("held", "flight", "lost")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", action="store_true", help="also run the detector on upper-body tiles")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bball_ball_cache"))
    args = ap.parse_args()
    det = Detector(str(WEIGHTS), ball=True, ball_conf=0.1)
    for clip in CLIPS:
        r = run(clip, detections(clip, args.cache, det), det if args.tiles else None)
        b, a = r["before"], r["after"]
        print(f"{clip}: labelled {a['labelled']} (visible {a['visible']}) | before recall {b['recall']:.0%} "
              f"precision {b['precision']:.0%} ({b['reports']} reports) | after recall {a['recall']:.0%} "
              f"precision {a['precision']:.0%} ({a['reports']} reports) | ball stages {r['ms_per_frame']:.1f} ms/frame"
              f" | states {r['states']}")


if __name__ == "__main__":
    main()
