"""The thread helpers: order kept, every stage on its own thread, errors surface and stop everything;
signals raised only where the main thread checks for them."""

from __future__ import annotations

import signal
import threading

import pytest

from pipeline.threads import Prefetcher, Worker, WorkerChain, interrupts_deferred


def test_chain_keeps_order_and_runs_each_stage_in_its_own_thread():
    seen: list[tuple[str, int]] = []
    threads: dict[str, set[str]] = {"a": set(), "b": set(), "c": set()}

    def stage(name, fn):
        def run(x):
            threads[name].add(threading.current_thread().name)
            return fn(x)
        return run

    chain = WorkerChain([stage("a", lambda x: x + 1), stage("b", lambda x: x * 10),
                         stage("c", lambda x: seen.append(("c", x)))], maxsize=2, names=["a", "b", "c"])
    for i in range(50):
        chain.submit(i)
    chain.join()
    assert [x for _, x in seen] == [(i + 1) * 10 for i in range(50)]
    assert threads == {"a": {"a"}, "b": {"b"}, "c": {"c"}}


def test_an_error_in_a_late_stage_reaches_the_caller_and_every_thread_ends():
    done: list[int] = []

    def last(x):
        if x == 7:
            raise OSError("disk full")
        done.append(x)

    chain = WorkerChain([lambda x: x, lambda x: x, last], maxsize=2)
    with pytest.raises(OSError, match="disk full"):
        for i in range(1000):
            chain.submit(i)
        chain.join()
    with pytest.raises(OSError, match="disk full"):
        chain.join()  # joining again after the error: still the error, and no thread left running
    assert all(not w._thread.is_alive() for w in chain._workers)
    assert done == list(range(7))  # nothing after the failed item was written


def test_worker_reraises_on_submit_and_prefetcher_on_iteration():
    w = Worker(lambda x: 1 / x, maxsize=1)
    w.submit(0)
    with pytest.raises(ZeroDivisionError):
        for _ in range(100):
            w.submit(1)
        w.join()

    def items():
        yield 1
        raise ValueError("bad packet")

    with pytest.raises(ValueError, match="bad packet"):
        list(Prefetcher(items()))


def test_a_detector_failing_mid_video_stops_the_pipeline_cleanly(tmp_path):
    from pipeline.core import Pipeline
    from tests.synth import GroundTruthDetector, linear_path, make_video, player

    class FailsOnThirdBatch(GroundTruthDetector):
        calls = 0

        def __call__(self, frames):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("detector crashed")
            return super().__call__(frames)

    truth = make_video(tmp_path / "in.mp4", n_frames=40, fps=25.0,
                       objects=[player(0, linear_path(40, 25.0, (50, 120), (60, 0)))])
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="detector crashed"):
        Pipeline(FailsOnThirdBatch(truth), batch_size=4, teams=False).run(
            truth.path, output=tmp_path / "out.mp4", json=tmp_path / "out.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no output, no temp file left
    ours = {"decode", "detect", "render", "convert", "encode"}  # (tqdm keeps a monitor thread of its own)
    started = [t for t in set(threading.enumerate()) - before if t.is_alive() and t.name in ours]
    assert not started, f"threads still running: {[t.name for t in started]}"


def test_a_signal_in_a_deferred_block_is_raised_only_at_a_check_and_cleanup_is_not_cut_short():
    before = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred() as check:
            signal.raise_signal(signal.SIGINT)  # Python runs the handler here, at once
            steps.append("went on")
            try:
                check()
            except KeyboardInterrupt:
                steps.append("raised at the check")
                signal.raise_signal(signal.SIGINT)  # Ctrl-C again while cleaning up
                steps.append("cleanup finished")
                raise
    assert steps == ["went on", "raised at the check", "cleanup finished"]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_that_came_in_the_block_reaches_the_callers_handler_at_its_end():
    got = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with interrupts_deferred():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM]  # once, after the block
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_deferred() as check:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            check()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_consumer_waiting_on_a_stalled_stage_still_answers_ctrl_c():
    release = threading.Event()

    def stalled():
        release.wait()
        yield 1

    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred() as check:
            stage = Prefetcher(stalled(), check=check)
            try:
                signal.raise_signal(signal.SIGINT)
                next(iter(stage))  # nothing comes: the check, not an item, ends the wait
            finally:
                release.set()
                stage.close()
    assert not stage._thread.is_alive()


def test_close_returns_once_the_thread_has_stopped_and_closed_its_iterator_itself():
    closed_in = []

    def source():
        try:
            while True:
                yield 1
        finally:
            closed_in.append(threading.current_thread().name)

    stage = Prefetcher(source(), maxsize=1, name="source")
    assert next(iter(stage)) == 1
    stage.close()
    assert closed_in == ["source"]  # its cleanup (e.g. FFmpeg's) ran in its own thread, before close returned
    assert not stage._thread.is_alive()


def test_a_video_reader_closed_under_an_iteration_fails_it_rather_than_ending_it(tmp_path):
    from pipeline.video.reader import VideoReader
    from tests.pipeline.test_io import pattern_frames, write_video

    reader = VideoReader(write_video(tmp_path / "v.mp4", pattern_frames(24, 160, 96)))
    frames = iter(reader)
    next(frames)
    reader.close()
    with pytest.raises(ValueError, match="closed while it was being read"):
        next(frames)  # not StopIteration: that would be a video that ends here
