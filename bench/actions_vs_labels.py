"""Action labels against the hand labels in ``bench/labels/actions_*.csv``: kinematic (before) vs game context (after).

Both runs are the full pipeline (on-court filter, teams, ball, possession) on the same cached detector output,
so only the recogniser differs. Per class: precision and recall over the labelled players' frames;
frame accuracy over all their labelled frames (an ``off_ball`` frame is right when the label is a motion
label: run / walk / no_action). A labelled player is the track whose box contains the label file's anchor
point on the anchor frame. A name may have several anchors (the tracker gave the player a new ID): each holds
from its frame on, until the next; the first also holds for the frames before it.

A third run, "game context, hand-labelled ball", replaces the ball finder by the ball hand labels
(``bench/labels/ball_*.csv``, every 5th frame, linearly interpolated between visible labels 5 frames apart):
it separates what the context rules get right from what the ball finder loses.

Run: ``python bench/actions_vs_labels.py [--cache DIR]`` (shares ``bench/ball_recall.py``'s detection cache).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.ball_recall import CLIPS, SHARED, WEIGHTS, detections, read_labels
from pipeline.core import Pipeline
from recognizer.context import ContextRecognizer
from recognizer.kinematic import KinematicRecognizer
from tracker.game.ball_finder import BallObservation, BallStateTracker
from tracker.tracking.detector import Detector

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["dribble", "ball in hand", "pass", "shoot"]
MOTION = {"run", "walk", "no_action"}


class CachedDetector:
    """Hands out a video's cached per-frame detections in call order (the frames are not looked at)."""

    def __init__(self, dets) -> None:
        self.dets, self._next = dets, 0

    def __call__(self, frames):
        out = self.dets[self._next:self._next + len(frames)]
        self._next += len(frames)
        return out


class LabelledBall:
    """Stands in for the ball finder: the hand-labelled ball, interpolated between labels 5 frames apart."""

    def __init__(self, clip: str) -> None:
        self.labels = read_labels(clip)
        self.state = BallStateTracker()

    def at(self, f: int):
        a, b = f - f % 5, f - f % 5 + 5
        la, lb = self.labels.get(a), self.labels.get(b)
        if la is None:
            return None
        if f == a:
            return la[:2]
        if lb is None:
            return None
        w = (f - a) / 5
        return (la[0] + w * (lb[0] - la[0]), la[1] + w * (lb[1] - la[1]))

    def update(self, frame_index, image, players, detections=None, possessor=None) -> BallObservation:
        xy = self.at(frame_index)
        if xy is None:
            return BallObservation(frame_index, None, 0.0, "lost", False)
        held = self.state._near_hands(np.array(xy), players)
        return BallObservation(frame_index, xy, 10.0, "held" if held else "flight", True)


class LabelledBallPipeline(Pipeline):
    def __init__(self, clip: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clip = clip

    def _players(self, fps: float):
        players = super()._players(fps)
        players.ball = LabelledBall(self.clip)
        return players


def read_actions(clip: str):
    """``({name: [(frame, x, y), ...] sorted by frame}, [(name, start, end, action), ...])``."""
    anchors, rows = {}, []
    with open(ROOT / "bench" / "labels" / f"actions_{clip}.csv") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("player,"):
                continue
            if line.startswith("anchor:"):
                name, f, x, y = line[len("anchor:"):].split(",")
                anchors.setdefault(name, []).append((int(f), float(x), float(y)))
            else:
                p, a, b, action = line.split(",", 3)
                rows.append((p, int(a), int(b), action))
    return {name: sorted(a) for name, a in anchors.items()}, rows


def per_frame(report) -> dict[int, dict[int, str]]:
    out = {}
    for p in report.players:
        labels = {}
        for s in p.segments:
            for f in range(s.start_frame, s.end_frame + 1):
                labels[f] = s.action
        out[p.track_id] = labels
    return out


def track_at(report, frame: int, x: float, y: float) -> int | None:
    for p in report.players:
        for f, x1, y1, x2, y2 in p.box_rows():
            if f == frame and x1 <= x <= x2 and y1 <= y <= y2:
                return p.track_id
    return None


def track_for(tracks: list[tuple[int, int | None]], frame: int) -> int | None:
    """The track of the last anchor at or before ``frame`` (the first anchor's before any)."""
    tid = tracks[0][1]
    for start, t in tracks:
        if start <= frame:
            tid = t
    return tid


def score(report, anchors, rows) -> dict:
    pred = per_frame(report)
    tracks = {name: [(a[0], track_at(report, *a)) for a in anchor_list] for name, anchor_list in anchors.items()}
    pairs = []  # (truth, predicted or None)
    for name, a, b, action in rows:
        for f in range(a, b + 1):
            tid = track_for(tracks[name], f)
            pairs.append((action, pred.get(tid, {}).get(f) if tid is not None else None))
    right = sum(1 for t, p in pairs if p == t or (t == "off_ball" and p in MOTION))
    shown = {name: t[0][1] if len(t) == 1 else [tid for _, tid in t] for name, t in tracks.items()}
    out = {"frames": len(pairs), "accuracy": right / max(len(pairs), 1), "tracks": shown}
    for c in CLASSES:
        tp = sum(1 for t, p in pairs if t == c and p == c)
        out[c] = {"truth": sum(1 for t, _ in pairs if t == c), "predicted": sum(1 for _, p in pairs if p == c),
                  "recall": tp / max(sum(1 for t, _ in pairs if t == c), 1),
                  "precision": tp / max(sum(1 for _, p in pairs if p == c), 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bball_ball_cache"))
    ap.add_argument("--clips", nargs="*",
                    default=[c for c in CLIPS if (ROOT / "bench" / "labels" / f"actions_{c}.csv").exists()],
                    help="default: every clip with an actions label file")
    args = ap.parse_args()
    det = None
    for clip in args.clips:
        if det is None and not (args.cache / f"{clip}.pkl").exists():
            det = Detector(str(WEIGHTS), ball=True, ball_conf=0.1)
        dets = detections(clip, args.cache, det)
        anchors, rows = read_actions(clip)
        runs = (("kinematic (before)", Pipeline, KinematicRecognizer()),
                ("game context (after)", Pipeline, ContextRecognizer()),
                ("game context, hand-labelled ball", lambda *a, **k: LabelledBallPipeline(clip, *a, **k),
                 ContextRecognizer()))
        for name, make, rec in runs:
            pipe = make(CachedDetector(dets), recognizer=rec, device="cpu", ball=True)
            with tempfile.TemporaryDirectory() as tmp:
                report = pipe.run(SHARED / "demo_videos" / f"{clip}.mp4", json=Path(tmp) / "t.json")
            s = score(report, anchors, rows)
            cls = "  ".join(f"{c}: R {s[c]['recall']:.0%} P {s[c]['precision']:.0%} ({s[c]['truth']}/{s[c]['predicted']})"
                            for c in CLASSES)
            print(f"{clip} {name}: frame accuracy {s['accuracy']:.0%} on {s['frames']} labelled player-frames | {cls}"
                  f" | tracks {s['tracks']}")


if __name__ == "__main__":
    main()
