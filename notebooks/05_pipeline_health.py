# Databricks notebook source
# MAGIC %md
# MAGIC # 05 Pipeline health
# MAGIC Job runs, watermarks, stream progress and validation results over time, from the `ops`
# MAGIC tables (`aml.notebooks.health`).

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")

# COMMAND ----------

from aml.notebooks import health, plots, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))

# COMMAND ----------

# DBTITLE 1,Job runs
runs = health.job_runs(spark, config)
if runs is None:
    displayHTML("<p>No job runs recorded.</p>")
else:
    display(health.run_summary(runs))
    display(runs.tail(50))
    display(plots.over_time(runs, "started_at", "duration_s", "job", "Job run duration (s)"))
    display(plots.over_time(runs, "started_at", "rows_written", "job", "Rows written per run"))

# COMMAND ----------

# DBTITLE 1,Watermarks
marks = health.watermarks(spark, config)
if marks is None:
    displayHTML("<p>No watermarks recorded.</p>")
else:
    current_marks, mark_history = marks
    display(current_marks)
    display(plots.over_time(mark_history, "updated_at", "moves", "series", "Watermark moves"))

# COMMAND ----------

# DBTITLE 1,Stream progress
progress = health.stream_progress(spark, config)
if progress is None:
    displayHTML("<p>No streaming runs recorded.</p>")
else:
    progress_table, progress_rows = progress
    display(progress_table.tail(50))
    title = "Stream progress (rows per batch)"
    display(plots.over_time(progress_rows, "time", "rows", "metric", title))

# COMMAND ----------

# DBTITLE 1,Validation results
results = health.validation_results(spark, config)
if results is None:
    displayHTML("<p>No validation results recorded.</p>")
else:
    display(health.validation_summary(results))
    display(results.tail(50))
    display(plots.over_time(results, "validated_at", "evaluated", "suite", "Expectations run"))
    display(plots.over_time(results, "validated_at", "failed", "suite", "Expectations failed"))
