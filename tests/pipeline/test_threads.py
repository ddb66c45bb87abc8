"""The thread helpers: order kept, every stage on its own thread, errors surface and stop everything."""

from __future__ import annotations

import threading

import pytest

from pipeline.threads import Prefetcher, Worker, WorkerChain


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
