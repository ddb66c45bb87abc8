"""Jersey numbers on real footage (issue 15, part 2): what is read per track, by the detector-only
reader (before) and the reader with the recogniser-only windows (after), and fragmentation, on
the same cached detections.

For each video: YOLO (tflite) detections of every frame (cached), then the project's
``PlayerTracking`` three times: *none* (no jersey reader, no cut detector), *old* (cut detector,
jersey reader with the text detector only: ``NumberReader()``, the default) and *new* (with the
recogniser-only windows, opt-in: ``NumberReader(windows=NUMBER_WINDOWS)``). The OCR runs synchronously so the result does not depend on the machine's load. Prints
unique IDs, mean tracked, fragmentation, identities (team + number) per set-up and, per shown ID,
the number read by old / new; with the hand labels (``bench/labels/identities_<clip>.csv``) each ID
is named by the people its anchors name and the read is judged right / WRONG / not read against
the number in the person's label name (``W11`` -> 11; names without digits have no legible
number). Then the OCR cost per torso crop of both readers on the same crops (the torsos the new
run looked at), alternated, best of ``--repeat``, thread CPU time. ``--crops DIR`` writes, per
shown ID, a strip of its torso crops (4x upscaled) to judge legibility by eye.

    python bench/jersey_numbers.py --crops /tmp/crops
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline.players import PlayerTracking  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from tracker.game.jersey import NUMBER_WINDOWS, JerseyNumbers, NumberReader, crop, torso_boxes  # noqa: E402
from tracker.tracking.base import make_tracker  # noqa: E402
from court_paint import frames_and_detections  # noqa: E402
from who_is_playing import DEFAULT_VIDEOS, LABELS, read_identities, score_identities  # noqa: E402

SETUPS = ("none", "old", "new")


def run(path: Path, cache: Path, fps: float, setup: str, crops: Path | None, torsos: list | None):
    """One set-up over the clip: ``(summary, {shown ID: (team, number)}, rows)``; ``torsos``
    collects the crops the reader queued (for the cost comparison)."""
    players = PlayerTracking.build(make_tracker("bytetrack", fps=fps), jerseys=False, cuts=setup != "none", fps=fps)
    if setup != "none":
        reader = NumberReader() if setup == "old" else NumberReader(windows=NUMBER_WINDOWS)
        players.jerseys = JerseyNumbers(reader, threaded=False)
        players.relinker.number_of = players.jerseys.number_of
        players.relinker.number_changed = players.jerseys.changed
    strips: dict[int, list[np.ndarray]] = {}
    rows: list[list] = []
    for f, d in frames_and_detections(path, cache):
        i, frame = f.index, f.image
        reads = players.jerseys.reads if players.jerseys else 0
        tracked = players.update(i, f.time, frame, d)
        rows += [[i, int(t), *map(float, b)] for t, b in zip(tracked.tracker_id, tracked.xyxy)]
        if torsos is not None and players.jerseys and players.jerseys.reads > reads:
            tall = tracked.xyxy[:, 3] - tracked.xyxy[:, 1] >= players.jerseys.min_box_height
            torsos += [c for c in (crop(frame, b) for b in torso_boxes(tracked.xyxy[tall])) if c is not None]
        if crops is not None and setup == "new":
            for box, tid in zip(torso_boxes(tracked.xyxy).astype(int), tracked.tracker_id):
                if (box[3] - box[1]) * 2.3 >= players.jerseys.min_box_height and i % 5 == 0:
                    piece = frame[max(0, box[1]):box[3], max(0, box[0]):box[2]]
                    if piece.size:
                        strips.setdefault(int(tid), []).append(cv2.resize(piece, (64, 80)))
    summary = players.summary()
    def tally(t):  # every read of the track, "number x count"
        vote = players.jerseys.votes.get(players.ids.linked(t)) if players.jerseys else None
        return " ".join(f"{n}x{c}" for n, c in sorted(vote.count.items())) if vote else ""
    per_id = {t: (players.team_of(t), players.jersey_of(t), tally(t)) for t in sorted(players.ids.players())}
    if crops is not None and setup == "new":
        crops.mkdir(parents=True, exist_ok=True)
        for t, pieces in strips.items():
            cv2.imwrite(str(crops / f"{path.stem}_id{t:03d}.png"), np.hstack(pieces[:16]))
    players.close()
    return summary, per_id, rows


def judge(number: str | None, people: list[str]) -> str:
    """right / WRONG / not read / read (unlabelled) for a read against the labelled people."""
    if number is None:
        return "not read"
    if not people:
        return "read (unlabelled ID)"
    truth = {m.group() for p in people if (m := re.search(r"\d+", p))}
    return "right" if truth == {number} else "WRONG"


def cost(torsos: list, repeat: int) -> dict:
    """Thread CPU ms per crop of the old and new readers on the same crops, alternated, best of ``repeat``."""
    readers = {"old": NumberReader(), "new": NumberReader(windows=NUMBER_WINDOWS)}
    best = {k: float("inf") for k in readers}
    for _ in range(repeat):
        for name, reader in readers.items():
            def timed(r=reader):
                t0 = time.thread_time()
                [r.read_one(c) for c in torsos]
                return time.thread_time() - t0
            best[name] = min(best[name], reader._thread.submit(timed).result())
    return {k: round(1000 * v / max(1, len(torsos)), 2) for k, v in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--crops", type=Path)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()), help="detections caches")
    parser.add_argument("--repeat", type=int, default=2, help="cost comparison: best of this many passes")
    parser.add_argument("--cost-crops", type=int, default=120, help="cost comparison: this many crops at most")
    args = parser.parse_args()
    for path in args.videos:
        with VideoReader(path) as reader:
            fps = reader.info.fps
        label_file = LABELS / f"identities_{path.stem}.csv"
        anchors = read_identities(label_file) if label_file.is_file() else None
        torsos: list = []
        for setup in SETUPS:
            summary, per_id, rows = run(path, args.cache_dir / f"bball_dets_{path.stem}.npz", fps, setup, args.crops,
                                        torsos if setup == "new" else None)
            t = summary["tracking"]
            line = (f"{path.name} {setup:4s}: unique IDs {t['unique_ids']}, mean tracked {t['mean_tracked']}, "
                    f"fragmentation {t['fragmentation']}, identities {t.get('identities')}, cuts {t.get('cuts')}, "
                    f"jerseys {summary.get('jerseys')}, number merges {summary.get('number_merges')}")
            people: dict[int, list[str]] = {}
            if anchors is not None:
                ident = score_identities(anchors, rows, t["mean_tracked"])
                line += (f", fragments per person {ident['fragments_per_person']}, ID switches "
                         f"{ident['id_switches']}")
                for name, ids in ident["ids_of_person"].items():
                    for i in ids:
                        people.setdefault(i, []).append(name)
            print(line)
            if setup != "none":
                print("   per shown ID (team: people by the labels): number decided (its reads)")
                for i, (team, number, reads) in per_id.items():
                    who = sorted(people.get(i, []))
                    print(f"     ID {i} ({team}: {'/'.join(who) or '?'}): {number} ({judge(number, who)}) [{reads}]")
        step = max(1, len(torsos) // max(1, args.cost_crops))
        sample = torsos[::step][: args.cost_crops]
        print(f"   OCR cost per torso crop ({len(sample)} crops, thread CPU ms, best of {args.repeat}):",
              cost(sample, args.repeat))


if __name__ == "__main__":
    main()
