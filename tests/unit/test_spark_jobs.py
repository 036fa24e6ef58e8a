"""aml.spark_jobs: a phase's Spark jobs counted under its job group."""

from __future__ import annotations

from aml import spark_jobs


def test_busy_time_is_the_union_of_the_intervals():
    assert spark_jobs._busy([]) == 0
    assert spark_jobs._busy([(0, 10), (5, 15), (20, 30)]) == 25
    assert spark_jobs._busy([(20, 30), (0, 100)]) == 100


def test_jobs_are_counted_by_the_group_that_started_them(spark):
    since = spark_jobs.job_ids(spark)
    with spark_jobs.tagged(spark, "outer"):
        spark.range(10).collect()
        with spark_jobs.tagged(spark, "outer.inner"):
            spark.range(10).collect()
            spark.range(10).collect()
        spark.range(10).collect()
    spark.range(10).collect()
    jobs = spark_jobs.finished_jobs(spark, since)
    summary = spark_jobs.job_summary(jobs)
    assert {g: s.jobs for g, s in summary.items()} == {
        "outer": 2,
        "outer.inner": 2,
        spark_jobs.UNGROUPED: 1,
    }
    assert all(s.tasks >= s.jobs and s.busy_seconds >= 0 for s in summary.values())
    # the group is restored after the block: none is left on the thread
    assert spark.sparkContext.getLocalProperty(spark_jobs.GROUP_PROPERTY) is None
    sites = spark_jobs.by_call_site(jobs)
    assert sum(n for _, _, n, _ in sites) == 5, sites
    assert any("test_spark_jobs.py" in name for _, name, _, _ in sites)
