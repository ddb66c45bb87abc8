"""Folder mode: every video of a folder, on this machine (``--backend local``) or a Ray cluster (``--backend ray``).

Each video is one job. Results come back as videos finish and are appended to
``OUT_DIR/manifest.jsonl`` (see :mod:`pipeline.manifest`); a bad video is a
``failed`` line, the others carry on; the summary table lists every video and
:class:`FolderReport` says which failed (the CLI exits with code 6 then).

Resume: a video whose latest manifest line is ``done`` and whose outputs still
verify is skipped; ``--overwrite`` redoes everything.

* ``local``: one process, the models loaded once, videos one after another.
* ``ray``: one Ray task per video, declaring ``--cpus-per-video`` / ``--gpus-per-video``;
  each task builds the pipeline from the same options (a plain dict) and runs
  its video. A worker that dies (killed, out of memory, node lost) is retried by
  Ray up to :data:`RAY_TASK_RETRIES` times; a bad video is a result, never
  retried. Ctrl-C / SIGTERM cancels the outstanding tasks: running ones get a
  KeyboardInterrupt and drop their temp files, finished videos stay.

Ray is optional: it is imported only for ``backend="ray"``.

From Python::

    from pipeline.batch import run_folder
    from pipeline.config import PipelineConfig

    report = run_folder("games/", "annotated/", PipelineConfig(weights="yolov8n.pt"), json=True)
    for r in report.results:
        print(r.input, r.status, r.error)

Messages (resuming, redoing, interrupted) go to the ``bball_annotate`` :mod:`logging` logger; the
library prints nothing itself (the tqdm bar aside, when ``progress``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.manifest import DONE, FAILED, MANIFEST_NAME, Manifest, VideoResult, verify_result
from tracker.common.errors import BballError, OutputError, UsageError, WeightsError
from tracker.common.files import check_writable, short_os_error, sweep_partials

log = logging.getLogger("bball_annotate")
SIDE_SUFFIXES = {"json": ".json", "csv": ".csv", "plot": ".png", "html": ".html"}

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mpg", ".mpeg", ".ts"}
#: How often Ray reruns a task whose worker died (system failures only, never a bad video).
RAY_TASK_RETRIES = 2
#: Seconds cancelled Ray tasks get to clean up before they are killed.
CANCEL_GRACE_S = 20.0
#: Error families that mean the options are wrong (every video would fail the same way): they stop the batch.
SETUP_ERRORS = {"WeightsError": WeightsError, "UsageError": UsageError}
RAY_INSTALL_HINT = 'the ray backend needs Ray: pip install "bball-annotate[ray]"'


def find_videos(folder: Path, recursive: bool = False) -> list[Path]:
    """The video files in ``folder`` (by suffix, hidden files and folders excluded), sorted by path;
    with ``recursive`` those of its subfolders too."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


@dataclass
class FolderOptions:
    """What a folder batch writes and where it runs.

    Attributes:
        sides: side outputs written beside each video: any of ``"json"``, ``"csv"``, ``"plot"``, ``"html"``.
        overwrite: redo every video and replace its outputs (else finished videos are skipped).
        backend: ``"local"`` (one process, videos in turn) or ``"ray"`` (one task per video).
        address: the Ray cluster (``"auto"``, ``"ray://HOST:10001"``; default RAY_ADDRESS or a local Ray).
        gpus_per_video, cpus_per_video: what each Ray task reserves (default: 1 GPU when the
            cluster has GPUs, else 0; 1 CPU).
        recursive: also take the videos of subfolders (outputs mirror the subfolders).
        progress: a tqdm bar over videos.
        debug: let a bug in one video raise with its traceback instead of becoming a failed result.
    """

    sides: tuple[str, ...] = ()
    overwrite: bool = False
    backend: str = "local"
    address: str | None = None
    gpus_per_video: float | None = None
    cpus_per_video: float | None = None
    recursive: bool = False
    progress: bool = False
    debug: bool = False

    def check(self) -> None:
        if self.backend not in ("local", "ray"):
            raise UsageError(None, f"--backend must be local or ray, not {self.backend}")
        if self.backend == "local":
            for option in ("address", "gpus_per_video", "cpus_per_video"):
                if getattr(self, option) is not None:
                    raise UsageError(None, f"--{option.replace('_', '-')} needs --backend ray")
        unknown = set(self.sides) - set(SIDE_SUFFIXES)
        if unknown:
            raise ValueError(f"sides must be among {sorted(SIDE_SUFFIXES)}, got {sorted(unknown)}")


@dataclass
class FolderReport:
    """What a folder batch did: one :class:`VideoResult` per video, with how it ended.

    Attributes:
        rows: ``(state, result)`` per video, sorted by input path; ``state`` is ``"done"``,
            ``"failed"`` or ``"skipped"`` (done by an earlier run, outputs verified).
        manifest: the ``manifest.jsonl`` holding every result.
    """

    rows: list[tuple[str, VideoResult]]
    manifest: Path

    @property
    def results(self) -> list[VideoResult]:
        return [r for _, r in self.rows]

    def count(self, state: str) -> int:
        return sum(s == state for s, _ in self.rows)

    @property
    def ok(self) -> bool:
        return self.count(FAILED) == 0


@dataclass
class Job:
    """One video to process: absolute input and output paths (they must mean the same on every node).

    ``sides`` maps ``"json"|"csv"|"plot"|"html"`` to the side outputs asked for; ``overwrite``
    replaces existing outputs (``--overwrite``, or our own outputs that failed verification).
    """

    input: str
    output: str
    sides: dict[str, str] = field(default_factory=dict)
    overwrite: bool = False

    def result(self, status: str, backend: str, **kw) -> VideoResult:
        return VideoResult(input=self.input, output=self.output, status=status, backend=backend,
                           outputs=dict(self.sides) if status == DONE else {}, **kw)

    def targets(self) -> list[Path]:
        return [Path(self.output), *(Path(p) for p in self.sides.values())]


def plan(folder: Path, out_dir: Path, options: FolderOptions, manifest: Manifest
         ) -> tuple[list[Job], list[VideoResult]]:
    """Split the folder's videos into jobs to run and finished results to skip (resume)."""
    videos = find_videos(folder, options.recursive)
    if not videos:
        has_subfolders = any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir())
        hint = "; subfolders are not searched (pass --recursive)" if has_subfolders and not options.recursive else ""
        raise UsageError(folder, f"no video files in this folder{hint}")
    latest = {} if options.overwrite else manifest.latest()
    jobs, skipped = [], []
    for video in videos:
        rel = video.relative_to(folder)
        siblings = [v.stem for v in videos if v.parent == video.parent]
        # a.mp4 and a.mov would both become a.mp4: name such outputs a_mov.mp4
        stem = video.stem if siblings.count(video.stem) == 1 else f"{video.stem}_{video.suffix[1:]}"
        out = (out_dir / rel.parent / f"{stem}.mp4").resolve()
        sides = {kind: str(out.with_suffix(SIDE_SUFFIXES[kind])) for kind in options.sides}
        job = Job(str(video.resolve()), str(out), sides, overwrite=options.overwrite)
        previous = latest.get(job.input)
        if previous is not None and previous.status == DONE:
            problem = verify_result(previous, job.output, job.sides)
            if problem is None:
                skipped.append(previous)
                continue
            log.warning("redoing %s: %s", rel, problem)
            job.overwrite = True  # these outputs are ours (the manifest says so): replace them
        jobs.append(job)
    return jobs, skipped


def run_job(pipeline, job: Job, backend: str, debug: bool = False) -> VideoResult:
    """Run one video; a :class:`BballError` (or, without ``debug``, any bug) becomes a ``failed`` result."""
    for target in job.targets():
        sweep_partials(target)
    t0 = time.perf_counter()
    try:
        report = pipeline.run(job.input, output=job.output, json=job.sides.get("json"), csv=job.sides.get("csv"),
                              plot=job.sides.get("plot"), overwrite=job.overwrite, html=job.sides.get("html"))
    except BballError as exc:
        return job.result(FAILED, backend, seconds=round(time.perf_counter() - t0, 3), error=exc.one_line(),
                          error_type=type(exc).__name__, exit_code=exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        return job.result(FAILED, backend, seconds=round(time.perf_counter() - t0, 3),
                          error=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                          error_type="InternalError", exit_code=1)
    seconds = time.perf_counter() - t0
    return job.result(DONE, backend, frames=report.frames, seconds=round(seconds, 3),
                      fps=round(report.frames / max(seconds, 1e-9), 3))


def _local_results(config: PipelineConfig, jobs: list[Job], debug: bool) -> Iterator[VideoResult]:
    pipeline = config.build()  # models loaded once for every video
    for job in jobs:
        yield run_job(pipeline, job, "local", debug=debug)


# ---------------------------------------------------------------- Ray backend

def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(None, RAY_INSTALL_HINT) from None
    return ray


def _ray_task(config: PipelineConfig, job: Job, debug: bool) -> VideoResult:
    """Body of one Ray task: build the pipeline ``config`` describes and run ``job``."""
    import ray

    if config.device == "auto" and not ray.get_gpu_ids():
        config = config.replace(device="cpu")  # no GPU reserved for this task: do not use one another task holds
    try:
        pipeline = config.build()
    except BballError as exc:
        return job.result(FAILED, "ray", error=exc.one_line(), error_type=type(exc).__name__,
                          exit_code=exc.exit_code)
    return run_job(pipeline, job, "ray", debug=debug)


def _ray_resources(ray, args: FolderOptions, started_here: bool) -> tuple[float, float]:
    """``(num_cpus, num_gpus)`` per task; fails early when a cluster we started cannot ever run one."""
    total = ray.cluster_resources()
    cpus = 1.0 if args.cpus_per_video is None else float(args.cpus_per_video)
    gpus = args.gpus_per_video
    if gpus is None:
        gpus = 1.0 if total.get("GPU", 0) >= 1 else 0.0
    gpus = float(gpus)
    if cpus <= 0 or gpus < 0:
        raise UsageError(None, "--cpus-per-video must be > 0 and --gpus-per-video >= 0")
    for name, need in (("CPU", cpus), ("GPU", gpus)):
        have = total.get(name, 0)
        if need > have:
            message = f"each video asks for {need:g} {name}s but the Ray cluster has {have:g}"
            if started_here:
                raise UsageError(None, f"{message}; lower --{name.lower()}s-per-video")
            log.warning("%s; tasks wait until the cluster has them", message)
    return cpus, gpus


def _ray_connect(args: FolderOptions):
    """``(ray, started_here)``: join the cluster ``--address`` names, or start a local one."""
    ray = _import_ray()
    if ray.is_initialized():  # a caller (a notebook, the tests) set Ray up already
        return ray, False
    import logging

    try:
        ray.init(address=args.address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(args.address or "ray", "cannot start or reach the Ray cluster "
                         f"({' '.join(str(exc).split())[:200]})") from None
    return ray, True


def _ray_results(ray, config: PipelineConfig, args: FolderOptions, jobs: list[Job], started_here: bool
                 ) -> Iterator[VideoResult]:
    cpus, gpus = _ray_resources(ray, args, started_here)
    task = ray.remote(_ray_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=RAY_TASK_RETRIES,
                                         retry_exceptions=False)
    pending: dict = {}
    try:
        pending = {task.remote(config, job, args.debug): job for job in jobs}
        while pending:
            # a short timeout keeps Ctrl-C responsive (signals are handled between waits)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # only with --debug: the task let a bug through
                    raise exc.as_instanceof_cause() from None
                except ray.exceptions.RayError as exc:  # worker died RAY_TASK_RETRIES + 1 times, node lost ...
                    result = job.result(FAILED, "ray", error=f"Ray worker died {RAY_TASK_RETRIES + 1} times "
                                        f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})",
                                        error_type="WorkerDied", exit_code=1)
                yield result
    finally:
        if pending:  # interrupted, or stopped by a setup error
            _cancel(ray, pending)


def _cancel(ray, pending: dict) -> None:
    """Cancel outstanding tasks; running ones get a KeyboardInterrupt and remove their temp files."""
    refs = list(pending)
    for ref in refs:
        ray.cancel(ref, recursive=True)
    try:
        _, stuck = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        stuck = refs
    for ref in stuck:
        ray.cancel(ref, force=True)
    for job in pending.values():  # a killed task cannot clean up: do it here
        for target in job.targets():
            sweep_partials(target)


# ---------------------------------------------------------------- driver

def run_folder(folder: str | Path, out_dir: str | Path | None = None, config: PipelineConfig | None = None,
               options: FolderOptions | None = None,
               on_result: Callable[[VideoResult], None] | None = None) -> FolderReport:
    """Process every video in ``folder`` into ``out_dir`` (default ``<folder>_annotated``).

    Args:
        folder: the folder of videos.
        out_dir: where the annotated videos, side outputs and ``manifest.jsonl`` go.
        config: how to build the pipeline (default :class:`PipelineConfig()`); built once on the
            local backend, once per task on Ray.
        options: outputs, resume and backend (:class:`FolderOptions`).
        on_result: called with each :class:`VideoResult` as its video finishes (e.g. to print it).

    Returns:
        A :class:`FolderReport`; ``report.ok`` is false when any video failed.

    Raises:
        UsageError: no videos, or options that cannot work (every video would fail alike).
        WeightsError: the models cannot be loaded.
        OutputError: the output folder cannot be created or written.
        KeyboardInterrupt: finished videos are kept and recorded; running the same call resumes.
    """
    from tqdm import tqdm

    folder = Path(folder)
    config = config or PipelineConfig()
    options = options or FolderOptions()
    options.check()
    if not folder.is_dir():
        raise UsageError(folder, "not a folder")
    if options.backend == "ray":
        _import_ray()  # fail before any work when Ray is not installed
    out_dir = Path(out_dir) if out_dir is not None else folder.with_name(folder.name + "_annotated")
    if out_dir.suffix.lower() == ".mp4":
        raise UsageError(out_dir, "for a folder input, -o must be a folder")
    if out_dir.resolve() == folder.resolve():
        raise UsageError(out_dir, "the output folder must differ from the input folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(out_dir, "is a file, not a folder")
    manifest = Manifest(out_dir / MANIFEST_NAME)
    jobs, skipped = plan(folder, out_dir, options, manifest)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out_dir, f"cannot create the output folder ({short_os_error(exc)})") from None
    check_writable(out_dir)

    rows: list[tuple[str, VideoResult]] = [("skipped", r) for r in skipped]
    if skipped:
        log.info("%d videos already done (see %s); %d to run%s", len(skipped), manifest.path, len(jobs),
                 "" if options.overwrite else " (--overwrite redoes all)")
    ray, started_ray = _ray_connect(options) if options.backend == "ray" and jobs else (None, False)
    results: Iterator[VideoResult] = iter(())
    if jobs:
        config = config.replace(progress=False)  # the bar is over videos, not frames
        results = (_ray_results(ray, config, options, jobs, started_ray) if ray
                   else _local_results(config, jobs, options.debug))
    bar = tqdm(total=len(jobs) + len(skipped), initial=len(skipped), unit="video", desc=options.backend,
               disable=not options.progress or not jobs)
    try:
        for result in results:
            if result.error_type in SETUP_ERRORS:  # every video would fail alike: stop, like a single video
                raise SETUP_ERRORS[result.error_type](None, result.error)
            try:
                manifest.append(result)
            except OSError as exc:
                raise OutputError(manifest.path, f"cannot be written ({short_os_error(exc)})") from None
            rows.append((result.status, result))
            bar.update(1)
            bar.set_postfix_str(f"{Path(result.input).name} {result.status}")
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        done = sum(s != "skipped" for s, _ in rows)
        log.warning("interrupted after %d of %d videos; finished ones are kept (see %s); "
                    "run the same command again to resume", done, len(jobs), manifest.path)
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # cancels outstanding Ray tasks when we leave early
        bar.close()
        if started_ray:
            ray.shutdown()
    return FolderReport(sorted(rows, key=lambda row: row[1].input), manifest.path)


def summary_table(report: FolderReport) -> str:
    """The per-video table a user reads at the end of a batch."""
    names = [Path(r.input).name for r in report.results]
    width = max([5, *map(len, names)])
    lines = [f"{'video':<{width}}  status   frames  seconds     fps  error"]
    for name, (status, r) in zip(names, report.rows):
        lines.append(f"{name:<{width}}  {status:<7}  {r.frames:>6}  {r.seconds:>7.1f}  {r.fps:>6.1f}  {r.error}")
    return "\n".join(lines)
