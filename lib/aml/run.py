"""``aml run`` / ``jobs/run_pipeline.py``: ingest, silver and gold in one Spark session.

What a scheduler calls daily or hourly. The steps are the jobs ``aml ingest``, ``aml build
silver`` and ``aml build gold`` run one after the other in one JVM, so the session's start-up is
paid once instead of three times. Each step is recorded in ``ops.job_runs`` as its own job, with
its own watermarks, as when it runs alone; the run reads ``ops.watermarks`` once and writes the
watermarks its steps moved in one commit at its end (:class:`aml.ops.WatermarkBook`). A step
that fails stops the run: the steps after it do not start (the moves of those before it are
still written), and the exit code says which kind of failure it was (2 configuration or schema
drift, 3 source unavailable, 4 gold not published because a suite failed).

``aml run --every SECONDS`` keeps one session and runs the pipeline again every ``SECONDS``
(start to start; a run that takes longer is followed at once), for an hourly or more frequent
schedule: the JVM's start, the code's warm-up (class loading, code generation, the JIT) and the
Delta logs' cached snapshots are paid for once instead of on every run (measured in
``docs/BENCHMARKS.md``). Every cycle is the same :func:`run` as a single ``aml run``, recorded
the same way. SIGUSR1 starts the next cycle now (after the running one, if any); SIGTERM or
Ctrl-C lets the running cycle finish and exits. A failed cycle is logged with its exit code and
the loop goes on (a source that is down is retried at the next cycle); after ``--max-failures``
failed cycles in a row it exits with the last one's code, for the supervisor to act on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from aml import spark_jobs
from aml.config import Config, ConfigError, load_config
from aml.ops import JobRun, watermark_book

log = logging.getLogger(__name__)
STEPS = ("ingest", "silver", "gold")


@dataclass
class StepResult:
    step: str
    run_id: str
    rows_read: int
    rows_written: int
    seconds: float
    phases: dict[str, float]
    # Spark job group (the step, or ``<job>.<phase>``) -> jobs, tasks and busy seconds
    spark_jobs: dict[str, dict[str, float]] = field(default_factory=dict)
    # the costliest lines of code by the Spark jobs they started: [group, call site, jobs, s]
    call_sites: list[list] = field(default_factory=list)


CALL_SITES = 25  # call sites kept per step in the report


@dataclass
class PipelineRun:
    steps: list[StepResult] = field(default_factory=list)


def _runners(
    spark: SparkSession, config: Config, source: str | None, full_refresh: bool
) -> dict[str, Callable[[], JobRun]]:
    from aml.gold import job as gold_job
    from aml.ingest import job as ingest_job
    from aml.silver import job as silver_job

    return {
        "ingest": lambda: ingest_job.run(spark, config, None, source, full_refresh),
        "silver": lambda: silver_job.run(spark, config, full_refresh),
        "gold": lambda: gold_job.run(spark, config, full_refresh),
    }


def run(
    spark: SparkSession,
    config: Config,
    steps: Sequence[str] = STEPS,
    source: str | None = None,
    full_refresh: bool = False,
    on_step: Callable[[PipelineRun], None] | None = None,
) -> PipelineRun:
    """Runs ``steps`` (in pipeline order) in ``spark``; the first failure propagates.

    ``on_step`` is called with the run so far after each step that succeeded (progress for a
    long run; its last step is the one just done)."""
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise ConfigError(f"unknown step(s) {', '.join(unknown)}: choose from {', '.join(STEPS)}")
    runners = _runners(spark, config, source, full_refresh)
    result = PipelineRun()
    # the steps' watermarks: read once, written in one commit at the end (ops.WatermarkBook)
    with watermark_book(spark, config):
        _run_steps(spark, [s for s in STEPS if s in steps], runners, result, on_step)
    return result


def _run_steps(
    spark: SparkSession,
    steps: Sequence[str],
    runners: dict[str, Callable[[], JobRun]],
    result: PipelineRun,
    on_step: Callable[[PipelineRun], None] | None,
) -> None:
    for step in steps:
        log.info("== step %s", step)
        started = time.monotonic()
        first_job = spark_jobs.job_ids(spark)
        with spark_jobs.tagged(spark, step):
            job_run = runners[step]()
        finished = spark_jobs.finished_jobs(spark, first_job)
        done = StepResult(
            step, job_run.run_id, job_run.rows_read, job_run.rows_written,
            round(time.monotonic() - started, 1),
            {k: round(v, 2) for k, v in job_run.phases.items()},
            {group: dataclasses.asdict(jobs)
             for group, jobs in spark_jobs.job_summary(finished).items()},
            [list(site) for site in spark_jobs.by_call_site(finished)[:CALL_SITES]],
        )  # fmt: skip
        result.steps.append(done)
        if on_step is not None:
            on_step(result)


def _print_step(step: StepResult) -> None:
    print(
        f"{step.step:<7} {step.run_id}: read {step.rows_read:,} rows, wrote "
        f"{step.rows_written:,} in {step.seconds:.1f}s",
        flush=True,
    )


@dataclass(frozen=True)
class Schedule:
    """When a resident ``aml run --every`` runs (:func:`resident`).

    Attributes:
        every: seconds from one cycle's start to the next's (0: back to back).
        runs: stop after this many cycles (None: until stopped).
        max_failures: failed cycles in a row after which the loop gives up.
    """

    every: float
    runs: int | None = None
    max_failures: int = 3

    def __post_init__(self) -> None:
        if self.every < 0:
            raise ConfigError(f"--every must be 0 or more seconds, got {self.every}")
        if self.runs is not None and self.runs < 1:
            raise ConfigError(f"--runs must be at least 1, got {self.runs}")
        if self.max_failures < 1:
            raise ConfigError(f"--max-failures must be at least 1, got {self.max_failures}")


def resident(
    run_once: Callable[[int], int],
    schedule: Schedule,
    stop: threading.Event,
    wake: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Calls ``run_once(cycle)`` (cycles numbered from 1; it returns an exit code) on
    ``schedule`` until ``stop`` is set, ``schedule.runs`` cycles ran or ``max_failures`` failed
    in a row; returns the last cycle's exit code. ``wake`` set (SIGUSR1) ends the wait for the
    next cycle at once; a stop is seen between cycles, never inside one."""
    code, failures, cycle = 0, 0, 0
    while not stop.is_set():
        cycle += 1
        wake.clear()
        started = clock()
        code = run_once(cycle)
        failures = failures + 1 if code else 0
        if failures >= schedule.max_failures:
            log.error("run: %d cycles failed in a row (last exit code %d): stopping",
                      failures, code)  # fmt: skip
            return code
        if schedule.runs is not None and cycle >= schedule.runs:
            break
        wait = max(0.0, schedule.every - (clock() - started))
        if wait > 0 and not stop.is_set():
            log.info("run: cycle %d done, next in %.0fs (SIGUSR1: now)", cycle, wait)
            wake.wait(wait)
    return code


def _stop_and_wake_on_signals() -> tuple[threading.Event, threading.Event]:
    """SIGTERM and SIGINT set the first event (stop after the running cycle), SIGUSR1 the
    second (the next cycle now)."""
    stop, wake = threading.Event(), threading.Event()

    def on_stop(signum: int, _frame: object) -> None:
        log.info("run: %s received: stopping after the running cycle",
                 signal.Signals(signum).name)  # fmt: skip
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: wake.set())
    return stop, wake


def _write_report(path: Path, report: dict) -> None:
    """Replaces ``path`` whole (a reader polling it never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(partial, path)


def execute(args: argparse.Namespace) -> int:
    from aml.gold.validate import ValidationFailed
    from aml.ingest import bronze
    from aml.sources.db import SourceError
    from aml.spark import build_session

    config = load_config(args.env)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    schedule = None
    if args.every is None and args.runs is not None:
        raise ConfigError("--runs needs --every (a resident run)")
    if args.every is not None:
        schedule = Schedule(args.every, args.runs, args.max_failures)
        # before the session: a signal during its start must not end the process
        stop, wake = _stop_and_wake_on_signals()
    started = time.monotonic()
    spark = build_session(config, "aml-run")
    session_seconds = time.monotonic() - started
    print(f"session started in {session_seconds:.1f}s", flush=True)

    def run_once(cycle: int) -> int:
        # a single run counts from the process's start, as before; a cycle from its own
        cycle_started = started if schedule is None else time.monotonic()
        cycle_at = time.time()

        def report(so_far: PipelineRun, finished: bool) -> None:
            if not args.report:
                return
            body: dict = {
                "session_seconds": round(session_seconds, 1),
                "seconds": round(time.monotonic() - cycle_started, 1),
                "steps": [dataclasses.asdict(s) for s in so_far.steps],
            }
            if schedule is not None:
                body.update(cycle=cycle, started_at=cycle_at, finished=finished)
            _write_report(args.report, body)

        def on_step(so_far: PipelineRun) -> None:
            _print_step(so_far.steps[-1])
            report(so_far, False)

        if schedule is not None:
            print(f"cycle {cycle} started", flush=True)
        try:
            result = run(spark, config, steps, args.source, args.full_refresh, on_step)
        except SourceError as exc:
            log.error("ingest: source unavailable, nothing after it ran: %s", exc)
            return 3
        except (ConfigError, bronze.SchemaDriftError) as exc:
            log.error("%s", exc)
            return 2
        except ValidationFailed as exc:
            log.error("gold not published: %s", exc)
            return 4
        report(result, True)
        what = f"cycle {cycle}: " if schedule is not None else "run: "
        print(
            f"{what}{', '.join(s.step for s in result.steps)} in "
            f"{time.monotonic() - cycle_started:.1f}s (session start {session_seconds:.1f}s)",
            flush=True,
        )
        return 0

    if schedule is None:
        return run_once(1)
    log.info("run: resident, every %ss (pid %d)", schedule.every, os.getpid())
    return resident(run_once, schedule, stop, wake)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated steps to run, in pipeline order (default {','.join(STEPS)})",
    )
    parser.add_argument(
        "--source", default=None, help="source from the environment (default: [ingest].source)"
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="every step rebuilds from scratch (ingest re-reads the source)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the steps' times, counts and phases to this JSON file after each step",
    )
    parser.add_argument(
        "--every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stay resident: run again every SECONDS in the same session (SIGUSR1: run now; "
        "SIGTERM: stop after the running cycle)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="with --every: stop after this many cycles"
    )
    parser.add_argument(
        "--max-failures",
        type=int,
        default=3,
        help="with --every: failed cycles in a row after which it exits (default 3)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="ingest, silver and gold in one Spark session (what a scheduler calls)"
    )
    add_arguments(parser)
    parser.set_defaults(func=execute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/run_pipeline.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main("run_pipeline", __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
