"""The streaming pipeline: decode -> detect -> track -> tubes -> recognise -> label timeline -> render -> encode.

Memory is flat in video length: frames wait in the :class:`~recognizer.base.FrameBuffer`
only until no future clip window can cover them (about one window plus the
tracker's lost-track buffer), then they are rendered, encoded and dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import supervision as sv
from tqdm import tqdm

from pipeline.clip_export import ClipExporter
from pipeline.export import EXPORTERS, RunReport
from pipeline.players import PlayerTracking
from pipeline.render import Renderer
from pipeline.threads import Prefetcher, ThreadPlan, WorkerChain, interrupts_deferred
from pipeline.possession import possession_from_labels
from pipeline.timing import StageTimer
from pipeline.timeline import LabelTimeline
from pipeline.video.reader import DecodedFrame, VideoReader
from pipeline.video.writer import VideoWriter
from recognizer.base import ActionRecognizer, FrameBuffer
from recognizer.context import ContextRecognizer, GameContext
from recognizer.kinematic import KinematicRecognizer
from tracker.tracking.base import Tracker, make_tracker
from tracker.common.checks import check_range
from tracker.common.coco import SPORTS_BALL
from tracker.game.ball.net import load_ball_net
from tracker.game.ball.possession import team_shares
from tracker.common.device import is_cuda, resolve_device
from tracker.common.errors import OutputError, UsageError
from tracker.common.files import OutputSet, short_os_error, sweep_partials
from tracker.tracking.keyframes import is_key_frame
from tracker.tracking.tubes import TubeBuilder


log = logging.getLogger("bball_annotate")


@dataclass(frozen=True)
class Outputs:
    """Where one run writes; ``None`` skips that output."""

    video: Path | None = None
    json: Path | None = None
    csv: Path | None = None
    plot: Path | None = None
    overwrite: bool = False
    html: Path | None = None

    def named(self) -> dict[str, Path]:
        """The outputs asked for, by kind (``video``, ``json``, ``csv``, ``plot``, ``html``)."""
        return {k: p for k, p in (("video", self.video), ("json", self.json), ("csv", self.csv),
                                  ("plot", self.plot), ("html", self.html)) if p is not None}

    def paths(self) -> list[Path]:
        return list(self.named().values())

    def stage(self, source: Path) -> OutputSet:
        """Check every output before any work and stage them as one :class:`OutputSet`: they
        replace the previous ones together at the end of the run, or not at all.

        Raises:
            OutputError: an output is the input video, two outputs share a path, or one cannot
                be written (see :class:`~tracker.common.files.AtomicFile`).
            UsageError: the video output is a folder or does not end in ``.mp4``.
        """
        staged = OutputSet(overwrite=self.overwrite)
        for kind, p in self.named().items():
            what = "-o" if kind == "video" else f"--{kind}"
            if p.resolve() == source.resolve():
                raise OutputError(p, f"the {what} path is the input video; choose another {what} path")
            if kind == "video" and p.is_dir():
                raise UsageError(p, "is a folder; give the output video's path (.mp4)")
            if kind == "video" and p.suffix.lower() != ".mp4":
                raise UsageError(p, "the output video must end in .mp4 (it is written as H.264 in MP4)")
            staged.add(kind, p)
        return staged

    def check(self, source: Path) -> None:
        """Fail before any work if an output cannot be written (nothing is created)."""
        self.stage(source)


class Pipeline:
    """Turns a game video into an annotated video and a per-player action timeline.

    Build one with its parts (below), or from typed options with
    :meth:`pipeline.config.PipelineConfig.build`; run it on one video with :meth:`run` or on a
    folder with :func:`pipeline.batch.run_folder`. The models are loaded once and reused for
    every video.

    Args:
        detector: a :class:`~tracker.tracking.detector.Detector` (or any callable with its contract;
            with ``accepts_tensors`` it is given the frames already on ``device``).
        tracker: ``"bytetrack"``, ``"sort"``, or a factory ``fps -> Tracker`` (a fresh tracker per video).
        recognizer: action recogniser; default: :class:`~recognizer.context.ContextRecognizer` (ball
            actions from the game context + kinematic speed, fed the per-frame game state) when ``ball``
            is on, else :class:`~recognizer.kinematic.KinematicRecognizer`.
        batch_size: frames per detector call, >= 1. Larger batches use an accelerator better and
            cost memory (and a little latency); on a CPU 1-8 makes little difference.
        device: the device of the *whole* run: decoding (NVDEC), the frame buffer, the detector,
            the recogniser and the encoder (NVENC). ``"auto"`` (default) is CUDA when PyTorch
            sees a GPU, else the CPU; an explicit ``"cuda"`` without one is an error, never a
            silent CPU run (:func:`tracker.common.device.resolve_device`). A detector or
            recogniser with a ``to(device)`` method is moved there.
        encoder: ``"auto"`` (NVENC on CUDA, else libx264), ``"libx264"`` or ``"h264_nvenc"``
            (falls back to libx264 where it does not open).
        progress: show a tqdm bar.
        stride: frames between clip windows, >= 1 (default: the recogniser's, 8). Lower labels
            react faster to a change of action at the cost of more recogniser work per frame;
            higher is cheaper and smoother.
        all_people: keep everyone the detector finds (no on-court filter): spectators and the bench
            are tracked too. Off (default) keeps only people standing on the playing floor.
        teams: split players into two teams and referees by jersey colour.
        ball: track the ball and possession (needs a detector made with ``ball=True``).
        detect_every: run the detector on every N-th frame only; the frames between get boxes
            predicted from the camera motion and each player's velocity, flagged in the JSON
            (:mod:`tracker.tracking.keyframes`). 1 (default) detects on every frame.
        clip_export: also write the recognised windows as training clips (committed with the outputs).
        ball_net: a ball heatmap net file (``python -m tracker.game.ball.net_train``) whose peaks add
            ball candidates (:class:`~tracker.game.ball.net.NetCandidates`; experimental, and costly
            on a CPU: see docs/benchmarks.md), or ``None``.
        threads: torch's and OpenCV's thread pools for each run (:meth:`ThreadPlan.applied`: put back
            as they were when it ends), or ``None`` to leave them as they are.

    Raises:
        ValueError: a number out of its range (the message names it, its range and the value).
        UsageError: ``device`` names CUDA where there is none.
    """

    def __init__(
        self,
        detector: Callable[[list[np.ndarray]], list[sv.Detections]],
        tracker: str | Callable[[float], Tracker] = "bytetrack",
        recognizer: ActionRecognizer | None = None,
        batch_size: int = 8,
        device: str | None = "auto",
        encoder: str = "auto",
        progress: bool = False,
        stride: int | None = None,
        all_people: bool = False,
        teams: bool = True,
        ball: bool = True,
        detect_every: int = 1,
        clip_export: ClipExporter | None = None,
        threads: ThreadPlan | None = None,
        ball_net: str | Path | None = None,
    ) -> None:
        check_range("batch_size", batch_size, 1)
        if stride is not None:
            check_range("stride", stride, 1)
        if encoder not in ("auto", "libx264", "h264_nvenc"):
            raise ValueError(f"encoder must be auto, libx264 or h264_nvenc, got {encoder!r}")
        self.device = resolve_device(device)
        self.detector = _on(detector, self.device)
        self.tracker = tracker
        self.recognizer = _on(recognizer or (ContextRecognizer() if ball else KinematicRecognizer()), self.device)
        self.batch_size = int(batch_size)
        self.encoder = ("h264_nvenc" if is_cuda(self.device) else "libx264") if encoder == "auto" else encoder
        self.progress = progress
        self.stride = int(stride or self.recognizer.stride)
        self.all_people, self.teams, self.ball = all_people, teams, ball
        check_range("detect_every", detect_every, 1)
        self.detect_every = int(detect_every)
        self.clip_export = clip_export
        self.threads = threads
        if ball_net is not None and not ball:
            raise UsageError(None, "a ball net needs the ball tracked (drop --no-ball)")
        # read once, here: a missing or foreign file fails before any video; every video's finder shares it
        self.ball_net = load_ball_net(ball_net) if ball_net is not None else None

    def _players(self, fps: float) -> PlayerTracking:
        tracker = make_tracker(self.tracker, fps=fps) if isinstance(self.tracker, str) else self.tracker(fps)
        tiles = self.detector if is_cuda(self.device) and SPORTS_BALL in getattr(self.detector, "classes", ()) else None
        return PlayerTracking.build(tracker, all_people=self.all_people, teams=self.teams, ball=self.ball,
                                    ball_tiles=tiles,  # the ball re-detected on upper-body tiles: GPU only
                                    detect_every=self.detect_every, fps=fps, ball_net=self.ball_net)

    def run(
        self,
        path: str | Path,
        output: str | Path | None = None,
        json: str | Path | None = None,
        csv: str | Path | None = None,
        plot: str | Path | None = None,
        overwrite: bool = False,
        html: str | Path | None = None,
    ) -> RunReport:
        """Process one video. Outputs appear only when complete; on any failure none is left behind."""
        path = Path(path)
        outputs = Outputs(*(Path(p) if p is not None else None for p in (output, json, csv, plot)), overwrite,
                          html=Path(html) if html is not None else None)
        for target in outputs.paths():  # temp files a killed run (SIGKILL) left beside these outputs
            sweep_partials(target)
        # From here to the end Ctrl-C / SIGTERM raise KeyboardInterrupt only at the checks of _run (between
        # pieces of work, never inside a queue or lock its threads share) and never during the cleanup;
        # a signal that came is delivered again to the caller's handlers when the run has ended.
        with interrupts_deferred() as check, (self.threads.applied() if self.threads else contextlib.nullcontext()):
            reader = VideoReader(path, hwaccel="cuda" if is_cuda(self.device) else None)
            try:
                return self._run(reader, outputs.stage(path), check)
            finally:
                reader.close()  # after _run has stopped every thread that reads it

    def _detections(self, batches: Iterable[list[DecodedFrame]], frames: FrameBuffer, timer: StageTimer
                    ) -> Iterator[tuple[list[DecodedFrame], list, list[sv.Detections]]]:
        """The detect thread's work: each batch of decoded frames, their device tensors (uploaded
        once, for a detector that takes them; else ``None``s) and their detections (``None`` on the
        frames ``detect_every`` skips). It runs while the main thread tracks and recognises the batch before."""
        on_device = getattr(self.detector, "accepts_tensors", False)
        for batch in batches:
            with timer("detect"):
                keys = [f for f in batch if is_key_frame(f.index, self.detect_every)]
                if on_device:
                    tensors = [frames.upload(f.image) for f in batch]
                    found = self.detector.detect_tensors(
                        [t for f, t in zip(batch, tensors) if is_key_frame(f.index, self.detect_every)])
                else:
                    tensors = [None] * len(batch)
                    found = self.detector([f.image for f in keys]) if keys else []
                by_index = {f.index: d for f, d in zip(keys, found)}
                detections = [by_index.get(f.index) for f in batch]
            yield batch, tensors, detections

    def _run(self, reader: VideoReader, staged: OutputSet, check: Callable[[], None]) -> RunReport:
        info = reader.info
        start = time.perf_counter()
        timer = StageTimer()
        players = self._players(info.fps)
        tubes = TubeBuilder(window=self.recognizer.window, stride=self.stride, max_age=players.max_age)
        timeline = LabelTimeline(self.recognizer.labels, max_gap=max(1, int(info.fps / 2)))
        frames = FrameBuffer(info.fps, device=self.device)
        context = GameContext() if self.ball else None  # the game state of the buffered frames
        balls: dict[int, tuple[float, float] | None] = {}
        times: dict[int, float] = {}
        writer = encode = decoded = detected = bar = clips = None
        files = staged.named
        n_frames = n_windows = 0

        def recognize(windows) -> None:
            if windows:
                with timer("recognize"):
                    predictions = self.recognizer.predict(windows, frames, context)
                    timeline.add(predictions)
                if clips is not None:
                    with timer("clips"):
                        clips.add(windows, predictions, frames)

        cut_set: set[int] = set()  # frames that start a new camera shot

        def emit(until: int) -> None:
            """Finalise, render and encode every buffered frame up to ``until``."""
            with timer("emit"):
                for i in [i for i in frames.indices() if i <= until]:
                    image, dets = frames.pop(i)
                    t = times.pop(i)
                    labels = timeline.finalize(i, t, dets)
                    if context is not None:
                        context.prune(i + 1)
                    if encode is not None:
                        encode.submit((image, players.label_teams(dets), labels, t, balls.pop(i, None),
                                       i in cut_set))

        try:
            clips = None if self.clip_export is None else self.clip_export.start(
                reader.path, info.fps, self.recognizer.labels, self.recognizer.name,
                margin=getattr(getattr(self.recognizer, "clip", None), "margin", None))
            if "video" in files:
                writer = VideoWriter(files["video"], info.width, info.height, info.fps, audio_from=reader.path,
                                     codec=self.encoder)
                if writer.audio_note:  # decided before the video work starts: say it now
                    log.warning("%s: %s", reader.path, writer.audio_note)
                encode = _render_and_write(Renderer(self.recognizer.name, info.height), writer, timer, check)
            decoded = Prefetcher(reader, maxsize=2 * self.batch_size)
            detected = Prefetcher(self._detections(_batched(timer.wrap("decode", decoded), self.batch_size), frames, timer),
                                  maxsize=2, name="detect", check=check)
            bar = tqdm(total=info.frame_count or None, unit="frame", disable=not self.progress, desc=Path(info.path).name)
            for batch, tensors, detections in timer.wrap("wait", detected):
                check()
                for f, tensor in zip(batch, tensors):
                    frames.add(f.index, f.image, tensor=tensor)
                windows = []
                with timer("track"):
                    for f, dets in zip(batch, detections):
                        check()
                        tracked = players.update(f.index, f.time, f.image, dets)
                        if players.cut_now:  # camera cut: no clip window and no label segment spans it
                            windows.extend(tubes.flush())
                            timeline.cut(f.index)
                            cut_set.add(f.index)  # the renderer drops its trails there
                        frames.set_detections(f.index, tracked)
                        if players.camera_motion is not None:  # estimated once per frame: shared
                            frames.derived("camera_step", f.index, lambda m=players.camera_motion: m)
                        times[f.index] = f.time
                        if context is not None:
                            g = players.game_frame(f.index, tracked)
                            context.add(g)
                            balls[f.index] = g.ball_xy
                        windows.extend(tubes.update(f.index, tracked))
                n_windows += len(windows)
                recognize(windows)
                emit(tubes.safe_frame())
                n_frames += len(batch)
                bar.update(len(batch))
            check()
            windows = tubes.flush()
            n_windows += len(windows)
            recognize(windows)
            emit(n_frames + 10**9)
            check()
            if encode is not None:
                encode.join()
                encode = None
            players.finish()
            report = self._report(info, reader, players, timeline, n_frames)
            report.seconds = time.perf_counter() - start
            if "video" in files:
                report.annotated_video = str(files["video"].target)
            report.summary = {**_summary(report), **players.summary(), "stages": timer.summary(n_frames),
                              "windows": n_windows}
            if self.recognizer.decides_possession and self.ball:  # as reported: from the labels
                report.summary["possession_share"] = {
                    k: round(v, 3) for k, v in team_shares(report.possession, players.team_of).items()}
            check()
            if writer is not None:
                writer.close()
                writer = None
            for kind, f in files.items():
                if kind in EXPORTERS:
                    try:
                        EXPORTERS[kind](report, f.begin())
                    except OSError as exc:
                        raise OutputError(f.target, f"could not be written ({short_os_error(exc)})") from None
            check()  # the last point where Ctrl-C drops the run; from here all outputs replace the old ones
            staged.commit()
            if clips is not None:
                report.summary["clips_exported"] = clips.commit()
            return report
        except BaseException:
            # No signal cuts this short (run() defers them). Every thread is stopped and joined before
            # what it uses is closed: a worker still inside FFmpeg when its container is freed crashes.
            _close(detected, decoded)
            if encode is not None:
                try:
                    encode.join(cancel=True)  # joins every stage, also when one of them failed
                except BaseException:
                    pass
            if writer is not None:
                writer.abort()
            if clips is not None:
                clips.discard()
            staged.discard()  # the previous outputs stay exactly as they were
            raise
        finally:
            _close(detected, decoded)  # (done already after a failure; closing twice is harmless)
            players.close()
            if bar is not None:
                bar.close()

    def _report(self, info, reader: VideoReader, players: PlayerTracking, timeline: LabelTimeline,
                n_frames: int) -> RunReport:
        people = sorted(timeline.players.values(), key=lambda p: p.track_id)
        for p in people:
            p.team = players.team_of(p.track_id)
            p.jersey = players.jersey_of(p.track_id)
        return RunReport(
            video=info,
            frames=n_frames,
            lost_frames=reader.lost_frames,
            recognizer={
                "name": self.recognizer.name,
                "labels": list(self.recognizer.labels),
                "checkpoint_sha256": self.recognizer.checkpoint_sha256,
                "window": self.recognizer.window,
                "stride": self.stride,
            },
            detector={"weights": getattr(self.detector, "weights", type(self.detector).__name__),
                      "detect_every": self.detect_every},
            tracker={"name": self.tracker if isinstance(self.tracker, str) else "custom",
                     "max_age": players.max_age, "on_court_filter": not self.all_people},
            players=people,
            possession=possession_from_labels(people, players.team_of, max_gap=max(1, int(info.fps / 2)))
            if self.recognizer.decides_possession and self.ball else players.possession_segments(),
            ball=players.ball_rows() if self.ball else None,
            cuts=[{"frame": c, "time": round(c / info.fps, 4)} for c in players.cut_frames()],
        )


def _on(component, device: str):
    """``component`` moved to ``device`` when it can be (``to(device)``), else as it is."""
    to = getattr(component, "to", None)
    return to(device) if callable(to) else component


def _render_and_write(renderer: Renderer, writer: VideoWriter, timer: StageTimer,
                      check: Callable[[], None]) -> WorkerChain:
    """Draw, convert for the encoder, encode: three threads, so at 1080p each frame's few
    milliseconds of each overlap (each stage timed); ``check`` is called while a submit waits."""

    def render(item):
        image, detections, labels, t, ball, cut = item
        if cut:  # a new camera shot: no trail runs from the old shot's positions
            renderer.cut()
        with timer("render"):
            return renderer.render(image, detections, labels, in_place=True, ball=ball), t

    def convert(item):
        image, t = item
        with timer("convert"):
            return writer.frame(image), t

    def encode(item) -> None:
        with timer("encode"):
            writer.write_frame(*item)

    return WorkerChain([render, convert, encode], maxsize=16, names=["render", "convert", "encode"], check=check)


def _close(detected: Prefetcher | None, decoded: Prefetcher | None) -> None:
    """Stop the detect thread, then the decode thread (the detect thread reads from it), each waited
    for until it has stopped: after this nothing reads the video or runs the detector."""
    for stage in (detected, decoded):
        if stage is not None:
            stage.close()


def _batched(it, n: int):
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _summary(report: RunReport) -> dict:
    players = [p for p in report.players if p.segments]
    seen = sum(len(p.boxes) for p in players)
    return {
        "unique_ids": len(players),
        "mean_players_per_frame": round(seen / max(report.frames, 1), 3),
        "seconds": round(report.seconds, 3),
        "fps": round(report.frames / max(report.seconds, 1e-9), 3),
    }
