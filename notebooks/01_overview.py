# Databricks notebook source
# MAGIC %md
# MAGIC # 01 Overview
# MAGIC What the lake holds and how fresh it is, layer by layer, and the alerts by day, rule and
# MAGIC severity. All logic lives in the `aml` package (`aml.notebooks.overview`); this notebook
# MAGIC only reads widgets and displays. Run it locally with `aml notebooks run --only 01`.

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")

# COMMAND ----------

from aml.notebooks import overview, plots, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))
print(f"environment {config.name}, lake {config.lake_root}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Tables by layer
# MAGIC Rows, Delta version and time of the newest commit of every table, read from the Delta log
# MAGIC (each file's row count statistics): no table is scanned. Bronze holds source rows as they
# MAGIC came, so it is counted here and never queried by the notebooks.

# COMMAND ----------

status = overview.table_status(spark, config)
display(overview.freshness_by_layer(status))
display(status)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Alerts

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT count(*) AS alerts, count(DISTINCT subject_token) AS subjects,
# MAGIC        sum(hit_count) AS hits, min(alert_date) AS first_day, max(alert_date) AS last_day
# MAGIC FROM gold_alerts

# COMMAND ----------

# DBTITLE 1,Alerts by day
display(plots.alerts_by_day(overview.alerts_by_day(spark)))

# COMMAND ----------

# DBTITLE 1,Alerts by rule
by_rule = overview.alerts_by_rule(spark)
display(by_rule)
display(plots.bars(by_rule, "rule_id", "alerts", "Alerts by rule"))

# COMMAND ----------

# DBTITLE 1,Alerts by effective severity
by_severity = overview.alerts_by_severity(spark)
display(by_severity)
display(plots.bars(by_severity, "severity", "alerts", "Alerts by effective severity"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Newest alerts
# MAGIC Narratives name the subject by a six-character token prefix only.

# COMMAND ----------

display(overview.latest_alerts(spark))
