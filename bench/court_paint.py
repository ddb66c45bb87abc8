"""Players in painted areas (issue 15, part 1): people kept on the floor vs dropped, wood-only floor
model (before) vs wood + paint (after), on the same detections.

* synthetic: ``tests/tracker/game/test_court.py``'s painted-corner scene (a blue key running into
  the frame's corner, players in it, a bench on a blue out-of-bounds strip, spectators), seeds 0..9:
  ground truth is known, so it prints players kept and outsiders kept;
* real: the shared NBA clip (YOLO tflite detections of every frame): person boxes kept before and
  after, and the boxes whose fate changed; ``--png`` writes one frame with boxes kept by both
  (green), by neither (grey), only after (yellow), only before (red) to check by eye.

    python bench/court_paint.py --png /tmp/court_paint.png
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

from tests.tracker.game.test_court import detections, painted_corner_scene  # noqa: E402
from tracker.common.coco import PERSON  # noqa: E402
from tracker.game.court import CourtFilter  # noqa: E402
from pipeline.video.reader import VideoReader  # noqa: E402
from who_is_playing import DEFAULT_WEIGHTS, SHARED, load_cache, save_cache  # noqa: E402


def frames_and_detections(path: Path, cache: Path | None):
    """Yield ``(DecodedFrame, detections)`` of every frame: the shared tflite YOLOv8n (persons and
    ball), read from / written to the ``cache`` .npz when given."""
    cached = load_cache(cache)
    detector = None
    found = []
    with VideoReader(path) as reader:
        for f in reader:
            if cached is not None and f.index < len(cached):
                dets = cached[f.index]
            else:
                if detector is None:
                    from tracker.tracking.detector import Detector

                    detector = Detector(str(DEFAULT_WEIGHTS), ball=True)
                dets = detector([f.image])[0]
            found.append(dets)
            yield f, dets
    if cached is None:
        save_cache(cache, found)


def synthetic(seeds: int) -> None:
    for paint in (False, True):
        players = outsiders = n_players = n_outsiders = 0
        for seed in range(seeds):
            img, ins, outs = painted_corner_scene(seed)
            keep = CourtFilter(paint=paint).on_floor(img, detections(np.concatenate([ins, outs])))
            players += int(keep[: len(ins)].sum())
            outsiders += int(keep[len(ins):].sum())
            n_players, n_outsiders = n_players + len(ins), n_outsiders + len(outs)
        print(f"synthetic painted key, {'after (wood + paint)' if paint else 'before (wood only)':22s}: "
              f"players kept {players}/{n_players}, bench+spectators kept {outsiders}/{n_outsiders}")


def real(video: Path, png: Path | None, png_frame: int, cache: Path) -> None:
    filters = {False: CourtFilter(paint=False), True: CourtFilter(paint=True)}
    kept = {False: 0, True: 0}
    total = changed_in = changed_out = frames = 0
    for f, d in frames_and_detections(video, cache):
        frames += 1
        people = d[d.class_id == PERSON]
        total += len(people)
        k = {p: filt.on_floor(f.image, people) for p, filt in filters.items()}
        for p in k:
            kept[p] += int(k[p].sum())
        changed_in += int((k[True] & ~k[False]).sum())
        changed_out += int((~k[True] & k[False]).sum())
        if png is not None and f.index == png_frame:
            out = f.image.copy()
            for box, before, after in zip(people.xyxy.astype(int), k[False], k[True]):
                colour = {(1, 1): (0, 200, 0), (0, 0): (150, 150, 150), (0, 1): (0, 255, 255), (1, 0): (0, 0, 255)}
                cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), colour[int(before), int(after)], 2)
            cv2.imwrite(str(png), out)
    print(f"{video.name}: {frames} frames, {total} person boxes; kept before {kept[False]}, after {kept[True]} "
          f"(kept only after: {changed_in}, dropped only after: {changed_out}); off the floor before "
          f"{total - kept[False]}, after {total - kept[True]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, default=SHARED / "demo_videos" / "nba_broadcast_480p.mp4")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--png-frame", type=int, default=60)
    parser.add_argument("--cache", type=Path, help="detections cache (.npz), default: beside the temp folder")
    args = parser.parse_args()
    synthetic(args.seeds)
    cache = args.cache or Path(tempfile.gettempdir()) / f"bball_dets_{args.video.stem}.npz"
    real(args.video, args.png, args.png_frame, cache)


if __name__ == "__main__":
    main()
