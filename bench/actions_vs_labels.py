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

``--trace`` prints, for each labelled player-frame of the hand-labelled-ball run, the label, what the rules
said, the ball (position, state) and where it is on that player (height on his box: 0 top, 1 feet; distance
to his hands region in body heights) -- the material for reading why a rule fired or not.

Run: ``python bench/actions_vs_labels.py [--cache DIR] [--clips NAME ...] [--labels-dir DIR] [--trace]
[--detect-every N]``
(shares ``bench/ball_recall.py``'s detection cache; ``--labels-dir`` reads the label files from another
folder, e.g. another worktree's, without copying them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ``python bench/actions_vs_labels.py`` works too

import numpy as np

from bench.ball_recall import CLIPS, SHARED, WEIGHTS, detections, read_labels
from pipeline.core import Pipeline
from recognizer.context import ContextRecognizer
from recognizer.kinematic import KinematicRecognizer
from tracker.game.ball.flight import FlightFinder, FlightTracker
from tracker.game.ball.possession import hands_regions
from tracker.game.ball.state import BallObservation, BallStateTracker
from tracker.tracking.detector import Detector

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["dribble", "ball in hand", "pass", "shoot", "defense"]
LABELS = ROOT / "bench" / "labels"
MOTION = {"run", "walk", "no_action"}


class CachedDetector:
    """Hands out a video's cached per-frame detections in call order (the frames are not looked at).
    ``every``: the pipeline's ``detect_every``; it asks for key frames only (0, every, 2 every, ...)."""

    def __init__(self, dets, every: int = 1) -> None:
        self.dets, self.every, self._next = dets, every, 0

    def __call__(self, frames):
        out = self.dets[self._next:self._next + len(frames) * self.every:self.every]
        self._next += len(frames) * self.every
        return out


class LabelledBall:
    """Stands in for the ball finder: the hand-labelled ball, interpolated between labels 5 frames apart."""

    def __init__(self, clip: str, labels_dir: Path = LABELS) -> None:
        self.labels = read_labels(clip, labels_dir)
        self.hold_dist = BallStateTracker().hold_dist

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
        # held / flight as the ball finder tells them: within hold_dist body heights of a player's
        # (wide) hands region
        xyxy = np.asarray(players.xyxy, np.float64).reshape(-1, 4)
        r = hands_regions(xyxy, band=(0.15, 0.95), widen=0.35)
        d = np.hypot(np.maximum.reduce([r[:, 0] - xy[0], np.zeros(len(r)), xy[0] - r[:, 2]]),
                     np.maximum.reduce([r[:, 1] - xy[1], np.zeros(len(r)), xy[1] - r[:, 3]]))
        held = bool(len(xyxy)) and float((d / np.maximum(xyxy[:, 3] - xyxy[:, 1], 1)).min()) <= self.hold_dist
        sure = {"confidence": 1.0} if "confidence" in {f.name for f in fields(BallObservation)} else {}
        return BallObservation(frame_index, xy, 10.0, "held" if held else "flight", True, **sure)


class LabelledBallPipeline(Pipeline):
    def __init__(self, clip: str, *args, labels_dir: Path = LABELS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clip, self.labels_dir = clip, labels_dir

    def _players(self, fps: float):
        players = super()._players(fps)
        players.ball = LabelledBall(self.clip, self.labels_dir)
        return players


class FlightPipeline(Pipeline):
    """The pipeline with the ball finder's opt-in flight stage on (``tracker.game.ball.flight``)."""

    def _players(self, fps: float):
        players = super()._players(fps)
        if players.ball is not None:
            players.ball.flight = FlightFinder(tracker=FlightTracker(fps=fps))
        return players


class TracedContext(ContextRecognizer):
    """The game-context recogniser, keeping every game frame it was shown (for ``--trace``)."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict = {}

    def predict(self, windows, frames, context=None):
        if context is not None:
            self.shown.update(context.frames)
        return super().predict(windows, frames, context)


def trace(report, anchors, rows, shown) -> None:
    """Per labelled player-frame: label, prediction, ball and where it is on the player (see the module docs)."""
    pred = per_frame(report)
    tracks = anchor_tracks(report, anchors)
    for name, a, b, action in rows:
        for f in range(a, b + 1):
            tid, g = track_for(tracks[name], f), shown.get(f)
            got = pred.get(tid, {}).get(f) if tid is not None else None
            ok = got == action or (action == "off_ball" and got in MOTION)
            where = ""
            if g is not None and g.ball_xy is not None and tid in g.players:
                box = np.array(g.players[tid].xyxy, np.float64)
                h = max(box[3] - box[1], 1.0)
                r = hands_regions(box[None])[0]
                d = np.hypot(max(r[0] - g.ball_xy[0], 0, g.ball_xy[0] - r[2]), max(r[1] - g.ball_xy[1], 0, g.ball_xy[1] - r[3]))
                where = f" height {(g.ball_xy[1] - box[1]) / h:+.2f} hands {d / h:.2f}"
            ball = "-" if g is None or g.ball_xy is None else f"({g.ball_xy[0]:.0f},{g.ball_xy[1]:.0f}) {g.ball_state}"
            print(f"  {'  ' if ok else '! '}{name} {f:4d} {action:12s} -> {str(got):12s} ball {ball}{where}")


def read_actions(clip: str, labels_dir: Path = LABELS):
    """``({name: [(frame, x, y), ...] sorted by frame}, [(name, start, end, action), ...])``."""
    anchors, rows = {}, []
    with open(labels_dir / f"actions_{clip}.csv") as fh:
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


def anchor_tracks(report, anchors) -> dict[str, list[tuple[int, int | None]]]:
    """Per name, ``(from frame, track ID)`` for each of its anchors, in frame order."""
    return {name: [(a[0], track_at(report, *a)) for a in rows] for name, rows in anchors.items()}


def track_for(tracks: list[tuple[int, int | None]], frame: int) -> int | None:
    """The track of the last anchor at or before ``frame`` (the first anchor's before any)."""
    tid = tracks[0][1]
    for start, t in tracks:
        if start <= frame:
            tid = t
    return tid


def score(report, anchors, rows) -> dict:
    pred = per_frame(report)
    tracks = anchor_tracks(report, anchors)
    pairs = []  # (truth, predicted or None)
    for name, a, b, action in rows:
        pairs += [(action, pred.get(track_for(tracks[name], f), {}).get(f)) for f in range(a, b + 1)]
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
    ap.add_argument("--clips", nargs="*", help="default: every clip with an actions label file")
    ap.add_argument("--labels-dir", type=Path, default=LABELS, help="folder of the actions_/ball_ label files")
    ap.add_argument("--flight", action="store_true",
                    help="also: game context with the ball finder's flight stage on (tracker.game.ball.flight)")
    ap.add_argument("--trace", action="store_true", help="per labelled frame of the hand-labelled-ball run")
    ap.add_argument("--detect-every", type=int, default=1, metavar="N",
                    help="the pipeline's detect_every (1: every frame, as the issue-14 figures; the CLI's CPU default is 3)")
    args = ap.parse_args()
    if args.clips is None:
        args.clips = [c for c in CLIPS if (args.labels_dir / f"actions_{c}.csv").exists()]
    det = None
    for clip in args.clips:
        if det is None and not (args.cache / f"{clip}.pkl").exists():
            det = Detector(str(WEIGHTS), ball=True, ball_conf=0.1)
        dets = detections(clip, args.cache, det)
        anchors, rows = read_actions(clip, args.labels_dir)
        runs = (("kinematic (before)", Pipeline, KinematicRecognizer()),
                ("game context (after)", Pipeline, ContextRecognizer()),
                ("game context, hand-labelled ball",
                 lambda *a, **k: LabelledBallPipeline(clip, *a, labels_dir=args.labels_dir, **k), TracedContext()))
        if args.flight:
            runs = runs[:2] + (("game context, finder + flight stage", FlightPipeline, ContextRecognizer()),) + runs[2:]
        for name, make, rec in runs:
            pipe = make(CachedDetector(dets, args.detect_every), recognizer=rec, device="cpu", ball=True,
                        detect_every=args.detect_every)
            with tempfile.TemporaryDirectory() as tmp:
                report = pipe.run(SHARED / "demo_videos" / f"{clip}.mp4", json=Path(tmp) / "t.json")
            s = score(report, anchors, rows)
            cls = "  ".join(f"{c}: R {s[c]['recall']:.0%} P {s[c]['precision']:.0%} ({s[c]['truth']}/{s[c]['predicted']})"
                            for c in CLASSES if c != "defense" or s[c]["truth"] or s[c]["predicted"])
            print(f"{clip} {name}: frame accuracy {s['accuracy']:.0%} on {s['frames']} labelled player-frames | {cls}"
                  f" | tracks {s['tracks']}")
            if args.trace and isinstance(rec, TracedContext):
                trace(report, anchors, rows, rec.shown)


if __name__ == "__main__":
    main()
