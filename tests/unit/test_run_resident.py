"""``aml run --every``: the resident loop's schedule, failures and stop, and its signals in a
real process (SIGUSR1 starts the next cycle at once, SIGTERM stops after the running one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from aml.config import ConfigError
from aml.run import Schedule, resident


class Clock:
    """A clock that moves only when a cycle says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Waits(threading.Event):
    """The wake event: records each wait instead of sleeping, moving the clock by it."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(round(timeout, 6))
        self.clock.now += timeout
        return self.is_set()


def _cycles(codes: list[int], seconds: list[float], clock: Clock, stop_after: int | None = None):
    ran: list[int] = []
    stop = threading.Event()

    def run_once(cycle: int) -> int:
        ran.append(cycle)
        clock.now += seconds[(cycle - 1) % len(seconds)]
        if stop_after is not None and cycle == stop_after:
            stop.set()
        return codes[(cycle - 1) % len(codes)]

    return ran, stop, run_once


def test_cycles_start_every_interval_start_to_start_and_a_long_one_is_followed_at_once():
    clock = Clock()
    wake = Waits(clock)
    ran, stop, run_once = _cycles([0], [10.0, 70.0, 60.0, 5.0], clock)
    assert resident(run_once, Schedule(60, runs=4), stop, wake, clock) == 0
    assert ran == [1, 2, 3, 4]
    # 10 s cycle: 50 s wait; 70 s: none (late, next at once); exactly 60 s: none; no wait after
    # the last cycle
    assert wake.waits == [50.0]


def test_every_zero_runs_back_to_back():
    clock = Clock()
    wake = Waits(clock)
    ran, stop, run_once = _cycles([0], [1.0], clock)
    assert resident(run_once, Schedule(0, runs=3), stop, wake, clock) == 0
    assert ran == [1, 2, 3]
    assert wake.waits == []


def test_a_failed_cycle_is_followed_by_the_next_and_a_success_resets_the_count():
    clock = Clock()
    wake = Waits(clock)
    # fail, fail, succeed, fail, fail: never three in a row
    ran, stop, run_once = _cycles([3, 3, 0, 3, 3], [1.0], clock)
    assert resident(run_once, Schedule(5, runs=5, max_failures=3), stop, wake, clock) == 3
    assert ran == [1, 2, 3, 4, 5]


def test_max_failures_in_a_row_stop_the_loop_with_the_last_code():
    clock = Clock()
    wake = Waits(clock)
    ran, stop, run_once = _cycles([3, 3, 4], [1.0], clock)
    assert resident(run_once, Schedule(5, max_failures=3), stop, wake, clock) == 4
    assert ran == [1, 2, 3]


def test_a_stop_during_a_cycle_lets_it_finish_and_starts_no_other():
    clock = Clock()
    wake = Waits(clock)
    ran, stop, run_once = _cycles([0], [1.0], clock, stop_after=2)
    assert resident(run_once, Schedule(5), stop, wake, clock) == 0
    assert ran == [1, 2]
    assert wake.waits == [4.0]  # after cycle 1 only


@pytest.mark.parametrize(
    ("every", "runs", "failures", "message"),
    [(-1, None, 3, "--every"), (1, 0, 3, "--runs"), (1, None, 0, "--max-failures")],
)
def test_a_schedule_out_of_range_is_refused(every, runs, failures, message):
    with pytest.raises(ConfigError, match=message):
        Schedule(every, runs, failures)


def test_runs_without_every_is_refused():
    from aml.cli import main

    assert main(["run", "--runs", "2"]) == 2


# A real process: the loop with its signal handlers, each cycle a print and a short sleep.
PROGRAM = textwrap.dedent(
    """
    import sys, time
    from aml.run import Schedule, _stop_and_wake_on_signals, resident

    def run_once(cycle):
        print(f"cycle {cycle} at {time.monotonic():.3f}", flush=True)
        time.sleep(0.5)
        return 0

    stop, wake = _stop_and_wake_on_signals()
    print("ready", flush=True)
    sys.exit(resident(run_once, Schedule(3600), stop, wake))
    """
)


def _line(proc: subprocess.Popen, deadline: float) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line and time.monotonic() < deadline, "the resident loop did not answer in time"
    return line


def test_sigusr1_starts_the_next_cycle_now_and_sigterm_stops_cleanly():
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    deadline = time.monotonic() + 60
    try:
        assert _line(proc, deadline) == "ready"
        assert _line(proc, deadline).startswith("cycle 1 ")
        time.sleep(1.0)  # cycle 1 done: waiting its hour for cycle 2
        proc.send_signal(signal.SIGUSR1)
        assert _line(proc, deadline).startswith("cycle 2 ")
        proc.send_signal(signal.SIGTERM)  # during cycle 2: it finishes, no cycle 3
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
