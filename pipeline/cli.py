"""``bball-annotate``: annotate one game video, or every video in a folder.

Exit codes:
    0 success; 1 internal error; 2 bad usage; 3 bad input video; 4 bad weights;
    5 output cannot be written; 6 some videos of a folder failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from pipeline.timing import WAITING, busiest_thread
from tracker.common.errors import BballError, UsageError

PROG = "bball-annotate"
EXIT_BATCH_FAILED = 6
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Annotate basketball game video: a box, a stable ID and the current action for every player, "
        "plus a per-player action timeline (JSON/CSV/plot).",
    )
    p.add_argument("input", type=Path, help="a video file, or a folder of videos")
    p.add_argument("-o", "--output", type=Path,
                   help="output .mp4 (for a folder: the output folder); default: <input>_annotated.mp4")
    g = p.add_argument_group("models")
    g.add_argument("--weights", default="yolov8n.pt",
                   help="YOLO weights: .pt, .onnx, .engine, .tflite (default yolov8n.pt, downloaded when online)")
    g.add_argument("--tracker", choices=["bytetrack", "sort"], default="bytetrack")
    g.add_argument("--all-people", action="store_true",
                   help="keep everyone the detector finds (no on-court filter: spectators, bench)")
    g.add_argument("--no-teams", action="store_true", help="do not split players into teams and referees")
    g.add_argument("--no-ball", action="store_true", help="do not track the ball and possession")
    g.add_argument("--action-model", type=Path, metavar="PATH",
                   help="R(2+1)D checkpoint from bball-train (or a SpaceJam r2plus1d_18 state_dict); "
                   "default: the kinematic run/walk/no_action recogniser")
    g.add_argument("--conf", type=float, default=0.25, help="detector confidence threshold")
    g.add_argument("--iou", type=float, default=0.45, help="detector NMS IoU threshold")
    g.add_argument("--imgsz", type=int, default=640, help="detector input size")
    g.add_argument("--stride", type=int, default=None, help="frames between clip windows (default: the model's, 8)")
    r = p.add_argument_group("runtime")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    r.add_argument("--half", action="store_true", help="float16 inference on CUDA")
    r.add_argument("--batch-size", type=int, default=8, help="frames per detector batch")
    r.add_argument("--compile", action="store_true", help="torch.compile the action model (CUDA; slow first batch)")
    b = p.add_argument_group("folder batches (see docs/scaling.md)")
    b.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: videos one after another in this process (default); "
                   "ray: one Ray task per video (pip install \"bball-annotate[ray]\")")
    b.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster: auto, or ray://HOST:10001 (default: RAY_ADDRESS, else a local Ray)")
    b.add_argument("--gpus-per-video", type=float, default=None, metavar="N",
                   help="GPUs each Ray task reserves (default: 1 when the cluster has GPUs, else 0)")
    b.add_argument("--cpus-per-video", type=float, default=None, metavar="N",
                   help="CPUs each Ray task reserves (default 1)")
    o = p.add_argument_group("outputs")
    o.add_argument("--json", nargs="?", const=True, default=None, metavar="PATH",
                   help="write the per-player timeline as JSON (default path: beside the output video)")
    o.add_argument("--csv", nargs="?", const=True, default=None, metavar="PATH", help="write segments as CSV")
    o.add_argument("--plot", nargs="?", const=True, default=None, metavar="PATH", help="write a timeline PNG")
    o.add_argument("--overwrite", action="store_true", help="replace existing outputs (and redo finished videos)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def _side_path(value, video: Path, suffix: str) -> Path | None:
    if value is None:
        return None
    return video.with_suffix(suffix) if value is True else Path(value)


def _device(requested: str | None) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(None, f"--device {requested}: no CUDA GPU is available here; use --device cpu")
    return requested


def make_pipeline(args: argparse.Namespace):
    """Build the pipeline the options describe (loads the models once, for every video)."""
    from pipeline.core import Pipeline
    from recognizer.kinematic import KinematicRecognizer
    from tracker.tracking.detector import Detector

    if args.batch_size < 1:
        raise UsageError(None, "--batch-size must be >= 1")
    if args.stride is not None and args.stride < 1:
        raise UsageError(None, "--stride must be >= 1")
    device = _device(args.device)
    detector = Detector(args.weights, conf=args.conf, iou=args.iou, imgsz=args.imgsz,
                        device=device, half=args.half and device.startswith("cuda"), ball=not args.no_ball)
    if args.action_model is not None:
        from recognizer.r2plus1d import R2Plus1DRecognizer

        recognizer = R2Plus1DRecognizer(args.action_model, device=device, half=args.half, compile=args.compile)
    else:
        recognizer = KinematicRecognizer()
    encoder = "h264_nvenc" if device.startswith("cuda") else "libx264"
    return Pipeline(detector=detector, tracker=args.tracker, recognizer=recognizer, batch_size=args.batch_size,
                    device=device, progress=not args.no_progress, stride=args.stride, encoder=encoder,
                    all_people=args.all_people, teams=not args.no_teams, ball=not args.no_ball)


def run_one(args: argparse.Namespace) -> int:
    from tracker.common.errors import InputVideoError

    if not args.input.exists():
        raise InputVideoError(args.input, "no such file or folder")
    folder_only = [opt for opt, value in (("--backend ray", args.backend == "ray"), ("--address", args.address),
                                          ("--gpus-per-video", args.gpus_per_video),
                                          ("--cpus-per-video", args.cpus_per_video)) if value]
    if folder_only:
        raise UsageError(args.input, f"{', '.join(folder_only)} only apply to a folder of videos")
    output = args.output or args.input.with_name(f"{args.input.stem}_annotated.mp4")
    if output.suffix.lower() != ".mp4":
        raise UsageError(output, "the output video must end in .mp4")
    sides = {k: _side_path(getattr(args, k), output, sfx) for k, sfx in (("json", ".json"), ("csv", ".csv"),
                                                                          ("plot", ".png"))}
    from pipeline.core import Outputs
    from pipeline.video.reader import VideoReader

    with VideoReader(args.input):  # a bad input or output fails now, before the models load (seconds)
        Outputs(output, **sides, overwrite=args.overwrite).check(args.input)
    pipeline = make_pipeline(args)
    report = pipeline.run(args.input, output=output, **sides, overwrite=args.overwrite)
    s = report.summary
    lost = f", {report.lost_frames} frames could not be decoded" if report.lost_frames else ""
    print(f"{PROG}: wrote {output} ({report.frames} frames, {s['fps']} fps{lost})", file=sys.stderr)
    print(summary_lines(report), file=sys.stderr)
    return 0


def summary_lines(report) -> str:
    """The run summary a user reads: tracking quality, teams, possession."""
    s = report.summary
    t = s.get("tracking", {})
    lines = [f"  players: {t.get('unique_ids', s['unique_ids'])} unique IDs, "
             f"{t.get('mean_tracked', s['mean_players_per_frame'])} tracked per frame on average, "
             f"fragmentation {t.get('fragmentation')}"]
    teams = s.get("teams", {}).get("teams")
    if teams:
        lines.append("  teams: " + ", ".join(f"{k}: {v['tracks']} tracks"
                                             for k, v in teams.items()))
    stages = {k: v["seconds"] for k, v in s.get("stages", {}).items() if k not in WAITING}
    if stages and report.frames:
        per_frame = ", ".join(f"{k} {1000 * v / report.frames:.1f}" for k, v in stages.items())
        thread, _ = busiest_thread(stages)
        lines.append(f"  ms per frame: {per_frame}; busiest thread: {thread}")
    if s.get("possession_share"):
        lines.append("  possession: " + ", ".join(f"{k} {v:.0%}" for k, v in s["possession_share"].items()))
    return "\n".join(lines)


def _raise_interrupt(signum, frame):  # SIGTERM behaves like Ctrl-C: clean up, no outputs
    raise KeyboardInterrupt


def entry() -> int:
    """The ``bball-annotate`` command and ``python -m pipeline``: :func:`main` for a process that ends
    when it returns, so once interrupted it stays deaf to more Ctrl-C until it has exited."""
    return main(exiting=True)


def main(argv: list[str] | None = None, exiting: bool = False) -> int:
    """Run the CLI; returns the exit code. Signal handlers are restored on return unless ``exiting``
    (a process about to end after an interrupt keeps ignoring SIGINT/SIGTERM)."""
    args = build_parser().parse_args(argv)
    previous_int = signal.getsignal(signal.SIGINT)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    try:
        if args.input.is_dir():
            from pipeline.batch import run_folder

            return run_folder(args)
        return run_one(args)
    except BballError as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        interrupted = True
        for sig in (signal.SIGINT, signal.SIGTERM):  # more Ctrl-C from here to the exit changes nothing
            signal.signal(sig, signal.SIG_IGN)
        what = "finished videos are kept, the one in progress left no output" if args.input.is_dir() \
            else "no output was written"
        print(f"{PROG}: interrupted; {what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            raise
        print(f"{PROG}: error: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if not (interrupted and exiting):  # a process on its way out after an interrupt stays deaf to more
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":
    sys.exit(entry())
