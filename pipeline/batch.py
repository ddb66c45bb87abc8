"""Folder mode: every video of a folder, on this machine (``--backend local``) or a Ray cluster (``--backend ray``).

Each video is one job. Results come back as videos finish and are appended to
``OUT_DIR/manifest.jsonl`` (see :mod:`pipeline.manifest`); a bad video is a
``failed`` line, the others carry on; the summary table lists every video and
the exit code is :data:`pipeline.cli.EXIT_BATCH_FAILED` when any failed.

Resume: a video whose latest manifest line is ``done`` and whose outputs still
verify is skipped; ``--overwrite`` redoes everything.

* ``local``: one process, the models loaded once, videos one after another.
* ``ray``: one Ray task per video, declaring ``--cpus-per-video`` / ``--gpus-per-video``;
  each task builds the pipeline from the same options (a plain dict) and runs
  its video. A worker that dies (killed, out of memory, node lost) is retried by
  Ray up to :data:`RAY_TASK_RETRIES` times; a bad video is a result, never
  retried. Ctrl-C / SIGTERM cancels the outstanding tasks: running ones get a
  KeyboardInterrupt and drop their temp files, finished videos stay.

Ray is optional: it is imported only for ``--backend ray``.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.manifest import DONE, FAILED, MANIFEST_NAME, Manifest, VideoResult, verify_result
from tracker.common.errors import BballError, UsageError, WeightsError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mpg", ".mpeg", ".ts"}
#: How often Ray reruns a task whose worker died (system failures only, never a bad video).
RAY_TASK_RETRIES = 2
#: Seconds cancelled Ray tasks get to clean up before they are killed.
CANCEL_GRACE_S = 20.0
#: Error families that mean the options are wrong (every video would fail the same way): they stop the batch.
SETUP_ERRORS = {"WeightsError": WeightsError, "UsageError": UsageError}
RAY_INSTALL_HINT = 'the ray backend needs Ray: pip install "bball-annotate[ray]"'


def find_videos(folder: Path) -> list[Path]:
    """The video files directly in ``folder`` (by suffix, hidden files excluded), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                  and not p.name.startswith("."))


@dataclass
class Job:
    """One video to process: absolute input and output paths (they must mean the same on every node).

    ``sides`` maps ``"json"|"csv"|"plot"`` to the side outputs asked for; ``overwrite``
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


def plan(args: argparse.Namespace, out_dir: Path, manifest: Manifest) -> tuple[list[Job], list[VideoResult]]:
    """Split the folder's videos into jobs to run and finished results to skip (resume)."""
    videos = find_videos(args.input)
    if not videos:
        raise UsageError(args.input, "no video files in this folder")
    stems = [v.stem for v in videos]
    latest = {} if args.overwrite else manifest.latest()
    jobs, skipped = [], []
    for video in videos:
        # a.mp4 and a.mov would both become a.mp4: name such outputs a_mov.mp4
        stem = video.stem if stems.count(video.stem) == 1 else f"{video.stem}_{video.suffix[1:]}"
        out = (out_dir / f"{stem}.mp4").resolve()
        sides = {kind: str(out.with_suffix(suffix)) for kind, suffix in
                 (("json", ".json"), ("csv", ".csv"), ("plot", ".png")) if getattr(args, kind)}
        job = Job(str(video.resolve()), str(out), sides, overwrite=args.overwrite)
        previous = latest.get(job.input)
        if previous is not None and previous.status == DONE:
            problem = verify_result(previous, job.output, job.sides)
            if problem is None:
                skipped.append(previous)
                continue
            print(f"redoing {video.name}: {problem}", file=sys.stderr)
            job.overwrite = True  # these outputs are ours (the manifest says so): replace them
        jobs.append(job)
    return jobs, skipped


def run_job(pipeline, job: Job, backend: str, debug: bool = False) -> VideoResult:
    """Run one video; a :class:`BballError` (or, without ``debug``, any bug) becomes a ``failed`` result."""
    _sweep_partials(job)
    t0 = time.perf_counter()
    try:
        report = pipeline.run(job.input, output=job.output, json=job.sides.get("json"), csv=job.sides.get("csv"),
                              plot=job.sides.get("plot"), overwrite=job.overwrite)
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


def _sweep_partials(job: Job) -> None:
    """Remove temp files a killed run left for this job's outputs (``.<stem>.<pid>.partial<suffix>``)."""
    for target in job.targets():
        for stale in target.parent.glob(f".{glob.escape(target.stem)}.*.partial{glob.escape(target.suffix)}"):
            stale.unlink(missing_ok=True)


def _quiet(args: argparse.Namespace) -> argparse.Namespace:
    """The options for one video of a batch: no per-frame progress bar (the batch shows one over videos)."""
    return argparse.Namespace(**{**vars(args), "no_progress": True})


def _local_results(args: argparse.Namespace, jobs: list[Job]) -> Iterator[VideoResult]:
    from pipeline.cli import make_pipeline

    pipeline = make_pipeline(_quiet(args))  # models loaded once for every video
    for job in jobs:
        yield run_job(pipeline, job, "local", debug=args.debug)


# ---------------------------------------------------------------- Ray backend

def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(None, RAY_INSTALL_HINT) from None
    return ray


def _ray_task(config: dict, job: Job) -> VideoResult:
    """Body of one Ray task: build the pipeline from the CLI options in ``config`` and run ``job``."""
    import ray

    from pipeline.cli import make_pipeline

    args = argparse.Namespace(**config)
    if args.device is None and not ray.get_gpu_ids():
        args.device = "cpu"  # no GPU reserved for this task: do not use one that another task holds
    try:
        pipeline = make_pipeline(args)
    except BballError as exc:
        return job.result(FAILED, "ray", error=exc.one_line(), error_type=type(exc).__name__,
                          exit_code=exc.exit_code)
    return run_job(pipeline, job, "ray", debug=args.debug)


def _ray_resources(ray, args: argparse.Namespace, started_here: bool) -> tuple[float, float]:
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
            print(f"warning: {message}; tasks wait until the cluster has them", file=sys.stderr)
    return cpus, gpus


def _ray_connect(args: argparse.Namespace):
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


def _ray_results(ray, args: argparse.Namespace, jobs: list[Job], started_here: bool) -> Iterator[VideoResult]:
    cpus, gpus = _ray_resources(ray, args, started_here)
    task = ray.remote(_ray_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=RAY_TASK_RETRIES,
                                         retry_exceptions=False)
    config = vars(_quiet(args))
    pending: dict = {}
    try:
        pending = {task.remote(config, job): job for job in jobs}
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
        _sweep_partials(job)


# ---------------------------------------------------------------- driver

def run_folder(args: argparse.Namespace) -> int:
    """Process every video in ``args.input`` into ``args.output`` (a folder); returns the exit code."""
    from tqdm import tqdm

    from pipeline.cli import EXIT_BATCH_FAILED, PROG

    backend = getattr(args, "backend", "local") or "local"
    if backend not in ("local", "ray"):
        raise UsageError(None, f"--backend must be local or ray, not {backend}")
    if backend == "local":
        for option in ("address", "gpus_per_video", "cpus_per_video"):
            if getattr(args, option, None) is not None:
                raise UsageError(None, f"--{option.replace('_', '-')} needs --backend ray")
    else:
        _import_ray()  # fail before any work when Ray is not installed
    for kind in ("json", "csv", "plot"):
        if getattr(args, kind) not in (None, True):
            raise UsageError(getattr(args, kind), f"for a folder input give --{kind} without a path "
                             "(each video's file goes beside its output video)")
    out_dir = args.output or args.input.with_name(args.input.name + "_annotated")
    if out_dir.suffix.lower() == ".mp4":
        raise UsageError(out_dir, "for a folder input, -o must be a folder")
    if out_dir.resolve() == args.input.resolve():
        raise UsageError(out_dir, "the output folder must differ from the input folder")
    manifest = Manifest(out_dir / MANIFEST_NAME)
    jobs, skipped = plan(args, out_dir, manifest)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from tracker.common.errors import OutputError

        raise OutputError(out_dir, f"cannot create output folder ({exc.strerror})") from None

    rows: list[tuple[str, VideoResult]] = [("skipped", r) for r in skipped]
    if skipped:
        print(f"{PROG}: {len(skipped)} videos already done (see {manifest.path}); "
              f"{len(jobs)} to run{'' if args.overwrite else ' (--overwrite redoes all)'}", file=sys.stderr)
    ray, started_ray = _ray_connect(args) if backend == "ray" and jobs else (None, False)
    results: Iterator[VideoResult] = iter(())
    if jobs:
        results = _ray_results(ray, args, jobs, started_ray) if ray else _local_results(args, jobs)
    bar = tqdm(total=len(jobs) + len(skipped), initial=len(skipped), unit="video", desc=backend,
               disable=args.no_progress or not jobs, file=sys.stderr)
    try:
        for result in results:
            if result.error_type in SETUP_ERRORS:  # every video would fail alike: stop, like a single video
                raise SETUP_ERRORS[result.error_type](None, result.error)
            manifest.append(result)
            rows.append((result.status, result))
            bar.update(1)
            bar.set_postfix_str(f"{Path(result.input).name} {result.status}")
            if result.status == FAILED:
                tqdm.write(f"{PROG}: error: {result.error}", file=sys.stderr)
    except KeyboardInterrupt:
        done = sum(s != "skipped" for s, _ in rows)
        print(f"\n{PROG}: interrupted after {done} of {len(jobs)} videos; finished ones are kept "
              f"(see {manifest.path}); run the same command again to resume", file=sys.stderr)
        raise
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # cancels outstanding Ray tasks when we leave early
        bar.close()
        if started_ray:
            ray.shutdown()

    _print_summary(rows)
    failed = sum(r.status == FAILED for _, r in rows)
    ran = len(rows) - len(skipped)
    print(f"{PROG}: {ran - failed} done, {failed} failed, {len(skipped)} skipped (already done); "
          f"manifest: {manifest.path}", file=sys.stderr)
    return EXIT_BATCH_FAILED if failed else 0


def _print_summary(rows: list[tuple[str, VideoResult]]) -> None:
    rows = sorted(rows, key=lambda row: row[1].input)
    names = [Path(r.input).name for _, r in rows]
    width = max([5, *map(len, names)])
    print(f"{'video':<{width}}  status   frames  seconds     fps  error", file=sys.stderr)
    for name, (status, r) in zip(names, rows):
        print(f"{name:<{width}}  {status:<7}  {r.frames:>6}  {r.seconds:>7.1f}  {r.fps:>6.1f}  {r.error}",
              file=sys.stderr)
