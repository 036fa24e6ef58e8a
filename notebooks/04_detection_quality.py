# Databricks notebook source
# MAGIC %md
# MAGIC # 04 Detection quality and tuning
# MAGIC Recall by typology and precision and alert volume by rule of the published rule pack,
# MAGIC measured against the generated data set's ground truth and labels (`aml.gold.evaluate`,
# MAGIC the code behind `aml evaluate`); then a backtest of a candidate pack against the published
# MAGIC one (`aml backtest`), the published pack's precision and recall over its alert threshold,
# MAGIC and a what-if sweep of one rule's parameter, evaluated with the rule pack's own code on a
# MAGIC copy of the rule. The backtest and the sweep write nothing.

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")
dbutils.widgets.text(
    "data", "", "Data set with ground_truth.csv (empty: the one last loaded, else <data>/saml_d)"
)
dbutils.widgets.text("candidate", "v1", "Candidate pack to backtest (v1, v2 or a path under conf/)")
dbutils.widgets.text("rule_id", "R18", "Rule of the published pack to sweep (v1: e.g. R01)")
dbutils.widgets.text("param", "min_amount", "Parameter to sweep (v1 R01: amount_gt)")
dbutils.widgets.text("thresholds", "25000,50000,100000,200000", "Values to try (each a full run)")

# COMMAND ----------

from aml.gold import rulepack
from aml.notebooks import plots, tuning, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))
data_dir = tuning.dataset_dir(config, dbutils.widgets.get("data"))
pack = rulepack.load(config)
print(f"published rule pack: {pack.name} v{pack.version}; data set: {data_dir}")
quality = tuning.quality(spark, config, data_dir)
display(quality["overall"])

# COMMAND ----------

# DBTITLE 1,Recall by typology
display(quality["typologies"])
display(
    plots.bars(
        quality["typologies"], "laundering_type", "instance_recall",
        "Instance recall by typology (own rules)", horizontal=True,
    )
)

# COMMAND ----------

# DBTITLE 1,Precision and alert volume by rule
display(quality["rules"])
display(plots.volume_and_precision(quality["rules"]))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Backtest: candidate pack against the published one
# MAGIC Both packs evaluated over the same silver snapshot with the gold job's own code, in memory
# MAGIC (what `aml backtest --pack <candidate>` reports). A scored pack's alerts are consolidated
# MAGIC per subject and ISO week; its curve shows what each alert threshold would have raised.

# COMMAND ----------

# DBTITLE 1,Backtest: overall and recall by typology
backtest = tuning.backtest(spark, config, data_dir, dbutils.widgets.get("candidate"))
display(backtest["overall"])
display(backtest["typologies"])

# COMMAND ----------

# DBTITLE 1,Precision and recall over the alert threshold
display(backtest["curve"])
title = f"{pack.name} v{pack.version}: precision against recall by alert threshold"
display(plots.threshold_curve(backtest["curve"], title))

# COMMAND ----------

# MAGIC %md
# MAGIC ## What-if: one rule's parameter against recall
# MAGIC Each value re-runs the published pack on the current silver snapshot with the rule's
# MAGIC parameter at that value: for a scored pack the whole pack (a rule's hit is one signal of an
# MAGIC alert), so `alerts` and `alert_precision` are the pack's; for v1 the rule alone. Recall is
# MAGIC over the instances of the typologies the rule targets.

# COMMAND ----------

# DBTITLE 1,Threshold sweep
rule_id, param = dbutils.widgets.get("rule_id"), dbutils.widgets.get("param")
values = tuning.parse_values(dbutils.widgets.get("thresholds"))
sweep = tuning.sweep(spark, config, data_dir, rule_id, param, values)
display(sweep)
current = float(pack.rule(rule_id).param(param))
display(plots.sweep(sweep, rule_id, param, current))
