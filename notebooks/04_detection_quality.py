# Databricks notebook source
# MAGIC %md
# MAGIC # 04 Detection quality and tuning
# MAGIC Recall by typology and precision and alert volume by rule, measured against the generated
# MAGIC data set's ground truth and labels (`aml.gold.evaluate`, the code behind `aml evaluate`);
# MAGIC then a what-if sweep of one rule's threshold, evaluated with the rule pack's own code on a
# MAGIC copy of the rule. The sweep writes nothing.

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")
dbutils.widgets.text("data", "", "Data set with ground_truth.csv (empty: <data>/saml_d)")
dbutils.widgets.dropdown("rule_id", "R01", ["R01", "R03"], "Rule to sweep")
dbutils.widgets.text("param", "amount_gt", "Parameter to sweep (R03: min_amount)")
dbutils.widgets.text("thresholds", "2500,5000,10000,25000,100000,250000", "Values to try")

# COMMAND ----------

from aml.gold import rulepack
from aml.notebooks import plots, tuning, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))
data_dir = tuning.dataset_dir(config, dbutils.widgets.get("data"))
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
# MAGIC ## What-if: one rule's threshold against recall
# MAGIC Each value re-runs the rule on the current silver snapshot with that parameter; recall is
# MAGIC over the instances of the typologies the rule targets.

# COMMAND ----------

# DBTITLE 1,Threshold sweep
rule_id, param = dbutils.widgets.get("rule_id"), dbutils.widgets.get("param")
values = tuning.parse_values(dbutils.widgets.get("thresholds"))
sweep = tuning.sweep(spark, config, data_dir, rule_id, param, values)
display(sweep)
current = float(rulepack.load(config).rule(rule_id).param(param))
display(plots.sweep(sweep, rule_id, param, current))
