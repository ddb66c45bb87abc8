"""Jersey numbers on real footage (issue 15, part 2): what is read per track, and fragmentation
before / after numbers and cuts, on the same cached detections.

For each video: YOLO (tflite) detections of every frame (cached), then the project's
``PlayerTracking`` twice: *before* (no jersey reader, no cut detector: the chain as it was) and
*after* (both on; the OCR run synchronously so the result does not depend on the machine's
load). Prints unique IDs, mean tracked, fragmentation, identities (team + number) and the
number read for each shown ID; ``--crops DIR`` writes, per shown ID, a strip of its torso crops
(4x upscaled, the frames the reader looked at) to judge legibility by eye.

    python bench/jersey_numbers.py --crops /tmp/crops
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline.players import PlayerTracking  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from tracker.game.jersey import JerseyNumbers, torso_boxes  # noqa: E402
from tracker.tracking.base import make_tracker  # noqa: E402
from court_paint import frames_and_detections  # noqa: E402
from who_is_playing import DEFAULT_VIDEOS  # noqa: E402


def run(path: Path, cache: Path, fps: float, after: bool, crops: Path | None) -> tuple[dict, dict]:
    players = PlayerTracking.build(make_tracker("bytetrack", fps=fps), jerseys=False, cuts=after, fps=fps)
    if after:
        players.jerseys = JerseyNumbers(threaded=False)
        players.relinker.number_of = players.jerseys.number_of
        players.relinker.number_changed = players.jerseys.changed
    strips: dict[int, list[np.ndarray]] = {}
    for f, d in frames_and_detections(path, cache):
        i, frame = f.index, f.image
        tracked = players.update(i, f.time, frame, d)
        if crops is not None and after:
            for box, tid in zip(torso_boxes(tracked.xyxy).astype(int), tracked.tracker_id):
                if (box[3] - box[1]) * 2.3 >= players.jerseys.min_box_height and i % 5 == 0:
                    piece = frame[max(0, box[1]):box[3], max(0, box[0]):box[2]]
                    if piece.size:
                        strips.setdefault(int(tid), []).append(cv2.resize(piece, (64, 80)))
    summary = players.summary()
    ids = sorted(players.ids.players())
    per_id = {t: (players.team_of(t), players.jersey_of(t)) for t in ids}
    if crops is not None and after:
        crops.mkdir(parents=True, exist_ok=True)
        for t, pieces in strips.items():
            cv2.imwrite(str(crops / f"{path.stem}_id{t:03d}.png"), np.hstack(pieces[:16]))
    return summary, per_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--crops", type=Path)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()), help="detections caches")
    args = parser.parse_args()
    for path in args.videos:
        with VideoReader(path) as reader:
            fps = reader.info.fps
        for after in (False, True):
            summary, per_id = run(path, args.cache_dir / f"bball_dets_{path.stem}.npz", fps, after, args.crops)
            t = summary["tracking"]
            print(f"{path.name} {'after ' if after else 'before'}: unique IDs {t['unique_ids']}, mean tracked "
                  f"{t['mean_tracked']}, fragmentation {t['fragmentation']}, identities {t.get('identities')}, "
                  f"cuts {t.get('cuts')}, jerseys {summary.get('jerseys')}, number merges "
                  f"{summary.get('number_merges')}")
            if after:
                print("   per ID (team, number):", {k: v for k, v in per_id.items()})


if __name__ == "__main__":
    main()
