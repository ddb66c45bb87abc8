"""``bball-annotate``: annotate one game video, or every video in a folder.

Exit codes:
    0 success; 1 internal error; 2 bad usage; 3 bad input video; 4 bad weights;
    5 output cannot be written; 6 some videos of a folder failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys
from pathlib import Path

from tqdm import tqdm

from pipeline.config import ACTIONS, TRACKERS, PipelineConfig
from pipeline.core import Outputs
from pipeline.timing import WAITING, busiest_thread
from pipeline.video.reader import VideoReader
from tracker.common.errors import EXIT_INTERRUPTED, InputVideoError, UsageError, run_command

PROG = "bball-annotate"
EXIT_BATCH_FAILED = 6


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors as one line (``<prog>: error: <message> (see --help)``), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
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
    g.add_argument("--tracker", choices=TRACKERS, default="bytetrack")
    g.add_argument("--all-people", action="store_true",
                   help="keep everyone the detector finds (no on-court filter: spectators, bench)")
    g.add_argument("--no-teams", action="store_true", help="do not split players into teams and referees")
    g.add_argument("--no-ball", action="store_true", help="do not track the ball and possession")
    g.add_argument("--ball-net", type=Path, metavar="PATH",
                   help="experimental: a ball heatmap net trained on your own footage (python -m "
                   "tracker.game.ball.net_train) adds ball candidates; slow on a CPU (docs/benchmarks.md)")
    g.add_argument("--action-model", type=Path, metavar="PATH",
                   help="R(2+1)D checkpoint from bball-train (or a SpaceJam r2plus1d_18 state_dict); "
                   "default: the --actions recogniser")
    g.add_argument("--actions", choices=ACTIONS, default="auto",
                   help="context: dribble, ball in hand, pass, shoot, defense from the ball and possession, speed labels "
                   "for everyone else; kinematic: run/walk/no_action from speed only; auto (default): context, or "
                   "kinematic with --no-ball")
    g.add_argument("--context-mode", choices=("ball-roles", "checkpoint"), default="ball-roles",
                   help="with --action-model (and the ball tracked): 'ball-roles' labels the ball handler, passer, shooter and nearest "
                   "defender from the game context and everyone else with the checkpoint (default); "
                   "'checkpoint' uses the checkpoint alone")
    g.add_argument("--conf", type=float, default=0.25, help="detector confidence threshold")
    g.add_argument("--iou", type=float, default=0.45, help="detector NMS IoU threshold")
    g.add_argument("--imgsz", type=int, default=640, help="detector input size")
    g.add_argument("--detect-every", type=int, default=None, metavar="N",
                   help="run the detector on every N-th frame, predict the boxes between (camera motion + velocity); "
                   "default: 1 on a GPU, 3 on a CPU")
    g.add_argument("--stride", type=int, default=None, help="frames between clip windows (default: the model's, 8)")
    r = p.add_argument_group("runtime")
    r.add_argument("--device", default="auto",
                   help="auto (default: cuda when PyTorch sees a GPU, else cpu), cpu, cuda, cuda:1 ...; "
                   "the whole run uses it")
    r.add_argument("--half", action="store_true", help="float16 inference on CUDA")
    r.add_argument("--batch-size", type=int, default=8, help="frames per detector batch")
    r.add_argument("--compile", action="store_true", help="torch.compile the action model (CUDA; slow first batch)")
    b = p.add_argument_group("folder batches (see docs/scaling.md)")
    b.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: videos one after another in this process (default); "
                   "ray: one Ray task per video (pip install \"bball-annotate[ray]\")")
    b.add_argument("--recursive", action="store_true", help="also annotate the videos of subfolders")
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
    o.add_argument("--html", nargs="?", const=True, default=None, metavar="PATH",
                   help="write a report page that plays the video with the timeline, players and possession "
                   "(opens from disk; default path: beside the output video)")
    o.add_argument("--export-clips", type=Path, default=None, metavar="DIR",
                   help="also write every player's recognised 16-frame windows as training clips in SpaceJam's "
                   "layout (bball-train --data DIR; review them with bball-label DIR)")
    o.add_argument("--export-every", type=int, default=None, metavar="N",
                   help="with --export-clips: keep every N-th window of each player (default 1: all)")
    o.add_argument("--overwrite", action="store_true", help="replace existing outputs (and redo finished videos)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--debug", action="store_true", help="show Python tracebacks")
    return p


def _side_path(value, video: Path, suffix: str) -> Path | None:
    if value is None:
        return None
    return video.with_suffix(suffix) if value is True else Path(value)


#: Python argument name -> the CLI flag a user typed (for range errors).
FLAGS = {"conf": "--conf", "iou": "--iou", "imgsz": "--imgsz", "batch_size": "--batch-size", "stride": "--stride",
         "context_mode": "--context-mode", "actions": "--actions",
         "tracker": "--tracker", "detect_every": "--detect-every",
         "export_every": "--export-every", "ball_net": "--ball-net"}


def config_from(args: argparse.Namespace) -> PipelineConfig:
    """The :class:`PipelineConfig` the flags describe; a value out of range is a usage error naming its flag."""
    if args.export_every is not None and args.export_clips is None:
        raise UsageError(None, "--export-every needs --export-clips DIR")
    try:
        return PipelineConfig(
            weights=str(args.weights), tracker=args.tracker,
            action_model=None if args.action_model is None else str(args.action_model),
            actions=args.actions, context_mode=args.context_mode,
            conf=args.conf, iou=args.iou, imgsz=args.imgsz, stride=args.stride, device=args.device or "auto",
            half=args.half, batch_size=args.batch_size, compile=args.compile, all_people=args.all_people,
            teams=not args.no_teams, ball=not args.no_ball, progress=not args.no_progress, verbose=args.debug,
            detect_every=args.detect_every, ball_net=None if args.ball_net is None else str(args.ball_net),
            export_clips=None if args.export_clips is None else str(args.export_clips),
            export_every=1 if args.export_every is None else args.export_every, export_overwrite=args.overwrite)
    except ValueError as exc:
        message = str(exc)
        name = message.split(" ", 1)[0]
        raise UsageError(None, f"{FLAGS.get(name, name)} {message.split(' ', 1)[1]}") from None


def run_one(args: argparse.Namespace, config: PipelineConfig) -> int:
    folder_only = [opt for opt, value in (("--backend ray", args.backend == "ray"), ("--address", args.address),
                                          ("--gpus-per-video", args.gpus_per_video),
                                          ("--cpus-per-video", args.cpus_per_video),
                                          ("--recursive", args.recursive)) if value]
    if folder_only:
        raise UsageError(args.input, f"{', '.join(folder_only)} only apply to a folder of videos")
    output = args.output or args.input.with_name(f"{args.input.stem}_annotated.mp4")
    sides = {k: _side_path(getattr(args, k), output, sfx) for k, sfx in (("json", ".json"), ("csv", ".csv"),
                                                                          ("plot", ".png"), ("html", ".html"))}
    outputs = Outputs(output, **sides, overwrite=args.overwrite)
    with VideoReader(args.input):  # a bad input or output fails now, before the models load (seconds)
        outputs.check(args.input)
        clips = config.clip_exporter()
        if clips is not None:  # this video's clips are not in the folder yet (or --overwrite)
            clips.check(args.input)
    report = config.build().run(args.input, output=output, **sides, overwrite=args.overwrite)
    s = report.summary
    lost = f", {report.lost_frames} frames could not be decoded" if report.lost_frames else ""
    print(f"{PROG}: wrote {output} ({report.frames} frames{lost}; processed at {s['fps']:.1f} frames/s)",
          file=sys.stderr)
    print(summary_lines(report), file=sys.stderr)
    if "clips_exported" in s:
        print(f"  clips: {s['clips_exported']} written to {args.export_clips} (review them: bball-label "
              f"{args.export_clips})", file=sys.stderr)
    return 0


def run_many(args: argparse.Namespace, config: PipelineConfig) -> int:
    from pipeline.batch import FolderOptions, run_folder, summary_table

    for kind in ("json", "csv", "plot", "html"):
        if getattr(args, kind) not in (None, True):
            raise UsageError(getattr(args, kind), f"for a folder input give --{kind} without a path "
                             "(each video's file goes beside its output video)")
    options = FolderOptions(
        sides=tuple(k for k in ("json", "csv", "plot", "html") if getattr(args, k)), overwrite=args.overwrite,
        backend=args.backend, address=args.address, gpus_per_video=args.gpus_per_video,
        cpus_per_video=args.cpus_per_video, recursive=args.recursive, progress=not args.no_progress,
        debug=args.debug)

    def show(result) -> None:
        if result.status == "failed":
            tqdm.write(f"{PROG}: error: {result.error}", file=sys.stderr)

    report = run_folder(args.input, args.output, config, options, on_result=show)
    print(summary_table(report), file=sys.stderr)
    failed, skipped = report.count("failed"), report.count("skipped")
    print(f"{PROG}: {len(report.rows) - failed - skipped} done, {failed} failed, {skipped} skipped (already done); "
          f"manifest: {report.manifest}", file=sys.stderr)
    return 0 if report.ok else EXIT_BATCH_FAILED


def summary_lines(report) -> str:
    """The run summary a user reads: tracking quality, teams, possession."""
    s = report.summary
    t = s.get("tracking", {})
    lines = [f"  players: {t.get('unique_ids', s['unique_ids'])} unique IDs, "
             f"{t.get('mean_tracked', s['mean_players_per_frame'])} tracked per frame on average, "
             f"fragmentation {t.get('fragmentation')}"
             + (f"; {t['identities']} identities (team + jersey number)" if "identities" in t else "")
             + (f"; {t['cuts']} camera cuts" if "cuts" in t else "")]
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


def _interrupt_once(signum, frame):
    """SIGINT / SIGTERM in a process that ends after it: deaf to more of them from this moment, so a
    second Ctrl-C cannot cut the way out short (a traceback instead of the one line)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


def entry() -> int:
    """The ``bball-annotate`` command and ``python -m pipeline``: :func:`main` for a process that ends
    when it returns, so once interrupted it stays deaf to more Ctrl-C until it has exited."""
    faulthandler.enable()  # a native crash (FFmpeg, torch ...) prints every thread's stack on stderr
    return main(exiting=True)


def main(argv: list[str] | None = None, exiting: bool = False) -> int:
    """Run the CLI; returns the exit code. Signal handlers are restored on return unless ``exiting``
    (a process about to end after an interrupt keeps ignoring SIGINT/SIGTERM)."""
    args = build_parser().parse_args(argv)
    interrupt = _interrupt_once if exiting else _raise_interrupt
    previous_int = signal.getsignal(signal.SIGINT)
    previous = signal.signal(signal.SIGTERM, interrupt)
    if exiting and previous_int is signal.default_int_handler:  # (SIG_IGN, e.g. under nohup, stays)
        signal.signal(signal.SIGINT, interrupt)
    handler = _log_to_stderr()

    def body() -> int:
        if not args.input.exists():
            raise InputVideoError(args.input, "no such file or folder")
        config = config_from(args)
        return run_many(args, config) if args.input.is_dir() else run_one(args, config)

    def deaf() -> None:  # more Ctrl-C from here to the exit changes nothing
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    try:
        what = ("finished videos are kept, the one in progress left no output" if args.input.is_dir()
                else "no output was written and any previous outputs are unchanged")
        code = run_command(PROG, body, debug=args.debug, interrupted=f"interrupted; {what}", on_interrupt=deaf)
    finally:
        logging.getLogger("bball_annotate").removeHandler(handler)
    if not (code == EXIT_INTERRUPTED and exiting):  # a process on its way out after an interrupt stays deaf
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    return code


def _log_to_stderr() -> logging.Handler:
    """The library's messages (``bball_annotate`` logger) as ``bball-annotate: <message>`` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    logger = logging.getLogger("bball_annotate")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


if __name__ == "__main__":
    sys.exit(entry())
