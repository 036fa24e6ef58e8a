"""``aml run`` / ``jobs/run_pipeline.py``: ingest, silver and gold in one Spark session.

What a scheduler calls daily or hourly. The steps are the jobs ``aml ingest``, ``aml build
silver`` and ``aml build gold`` run one after the other in one JVM, so the session's start-up is
paid once instead of three times. Each step is recorded in ``ops.job_runs`` as its own job, with
its own watermarks, as when it runs alone; the run reads ``ops.watermarks`` once and writes the
watermarks its steps moved in one commit at its end (:class:`aml.ops.WatermarkBook`). A step
that fails stops the run: the steps after it do not start (the moves of those before it are
still written), and the exit code says which kind of failure it was (2 configuration or schema
drift, 3 source unavailable, 4 gold not published because a suite failed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
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


def execute(args: argparse.Namespace) -> int:
    from aml.gold.validate import ValidationFailed
    from aml.ingest import bronze
    from aml.sources.db import SourceError
    from aml.spark import build_session

    config = load_config(args.env)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    started = time.monotonic()
    spark = build_session(config, "aml-run")
    session_seconds = time.monotonic() - started
    print(f"session started in {session_seconds:.1f}s", flush=True)

    def on_step(so_far: PipelineRun) -> None:
        _print_step(so_far.steps[-1])
        if args.report:
            report = {
                "session_seconds": round(session_seconds, 1),
                "seconds": round(time.monotonic() - started, 1),
                "steps": [dataclasses.asdict(s) for s in so_far.steps],
            }
            args.report.write_text(json.dumps(report, indent=2) + "\n")

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
    print(
        f"run: {', '.join(s.step for s in result.steps)} in {time.monotonic() - started:.1f}s "
        f"(session start {session_seconds:.1f}s)"
    )
    return 0


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
