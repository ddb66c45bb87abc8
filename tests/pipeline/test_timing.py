"""Stage timing: the busiest thread is the one with the most work, waits not counted."""

from __future__ import annotations

import threading
import time

from pipeline.timing import StageTimer, busiest_thread


def test_busiest_thread_sums_each_threads_work_and_ignores_waits():
    seconds = {"decode": 9.0, "wait": 9.0, "detect": 2.0, "track": 1.5, "recognize": 1.0, "emit": 0.1,
               "render": 0.5, "convert": 2.2, "encode": 1.9}
    assert busiest_thread(seconds) == ("main", 2.6)  # track + recognize + emit
    assert busiest_thread({**seconds, "convert": 2.7})[0] == "convert"
    assert busiest_thread({"decode": 1.0, "wait": 1.0}) is None


def test_timer_adds_up_stages_from_several_threads():
    timer = StageTimer()

    def work():
        for _ in range(5):
            with timer("render"):
                time.sleep(0.002)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 15 * 0.002 <= timer.seconds["render"] < 1.0
    assert list(timer.summary(10)) == ["render"]
