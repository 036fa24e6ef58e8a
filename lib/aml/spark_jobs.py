"""Where a run's time goes: its Spark jobs, grouped by the phase that started them.

A job's phase is its Spark job group (:func:`tagged`, set by :meth:`aml.ops.JobRun.phase`), so
the Spark UI and the History Server show it too. :func:`finished_jobs` reads the driver's status
store (kept whether the UI is on or not) and tells, per group, how many jobs ran and how long
the cluster was busy with them (the union of their intervals, so overlapping jobs count once).
A phase's wall time minus its busy time is time spent on the driver alone: planning, reading
Delta logs, Python, waiting on a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import SparkSession

GROUP_PROPERTY = "spark.jobGroup.id"
UNGROUPED = "-"


@contextmanager
def tagged(spark: SparkSession, group: str) -> Iterator[None]:
    """The Spark jobs started in the block belong to job group ``group`` (the previous group is
    restored after it, so phases nest)."""
    sc = spark.sparkContext
    previous = sc.getLocalProperty(GROUP_PROPERTY)
    sc.setLocalProperty(GROUP_PROPERTY, group)
    try:
        yield
    finally:
        sc.setLocalProperty(GROUP_PROPERTY, previous)  # None removes it


@dataclass(frozen=True)
class GroupJobs:
    """The finished Spark jobs of one job group."""

    jobs: int
    tasks: int
    busy_seconds: float


def _busy(intervals: list[tuple[int, int]]) -> int:
    """Milliseconds covered by the union of ``intervals`` (start, end)."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def job_ids(spark: SparkSession) -> int:
    """The id the next Spark job will get: pass it to :func:`finished_jobs` as ``since``."""
    store = spark.sparkContext._jsc.sc().statusStore()  # noqa: SLF001 - the driver's store
    jobs = store.jobsList(None)
    return max((jobs.apply(i).jobId() for i in range(jobs.size())), default=-1) + 1


@dataclass(frozen=True)
class FinishedJob:
    """One finished Spark job: its group, what started it (the action and, for PySpark, the
    Python call site, e.g. ``count at /repo/lib/aml/silver/job.py:120``), and its interval."""

    job_id: int
    group: str
    name: str
    tasks: int
    start_ms: int
    end_ms: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def finished_jobs(spark: SparkSession, since: int = 0) -> list[FinishedJob]:
    """The driver's finished jobs with an id of at least ``since``, oldest first. The store
    keeps the last ``spark.ui.retainedJobs``."""
    store = spark.sparkContext._jsc.sc().statusStore()  # noqa: SLF001 - the driver's store
    jobs = store.jobsList(None)
    out = []
    for i in range(jobs.size()):
        job = jobs.apply(i)
        if job.jobId() < since or not job.completionTime().isDefined():
            continue
        out.append(
            FinishedJob(
                job.jobId(),
                job.jobGroup().get() if job.jobGroup().isDefined() else UNGROUPED,
                job.name(),
                job.numTasks(),
                job.submissionTime().get().getTime(),
                job.completionTime().get().getTime(),
            )
        )
    return sorted(out, key=lambda job: job.job_id)


def job_summary(jobs: list[FinishedJob]) -> dict[str, GroupJobs]:
    """Job group -> its jobs among ``jobs`` (:func:`finished_jobs`; :data:`UNGROUPED` for jobs
    started outside any group)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    tasks: dict[str, int] = {}
    for job in jobs:
        spans.setdefault(job.group, []).append((job.start_ms, job.end_ms))
        tasks[job.group] = tasks.get(job.group, 0) + job.tasks
    return {
        group: GroupJobs(len(intervals), tasks[group], round(_busy(intervals) / 1000, 2))
        for group, intervals in spans.items()
    }


def by_call_site(jobs: list[FinishedJob]) -> list[tuple[str, str, int, float]]:
    """``(group, name, jobs, seconds)`` per group and job name, the costliest first: which
    lines of code start the jobs a phase pays for."""
    totals: dict[tuple[str, str], list[float]] = {}
    for job in jobs:
        entry = totals.setdefault((job.group, job.name), [0, 0.0])
        entry[0] += 1
        entry[1] += job.seconds
    rows = [(g, n, int(c), round(s, 2)) for (g, n), (c, s) in totals.items()]
    return sorted(rows, key=lambda row: -row[3])
