# Databricks notebook source
# MAGIC %md
# MAGIC # 03 Alert triage
# MAGIC The queue by effective severity, one alert's evidence, the subject's details for
# MAGIC **investigators only**, and the case's status history.
# MAGIC
# MAGIC Everything is shown by token. Decrypting goes through `aml.crypto.access`: the user
# MAGIC (`$AML_USER`, else the login) must have a role that may decrypt in `conf/access.toml`, and
# MAGIC must give a reason (a case reference). Every attempt, granted or refused, is written to
# MAGIC `ops.decrypt_audit` before any value is decrypted.

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")
dbutils.widgets.text("alert_id", "", "Alert (empty: the top of the queue)")
dbutils.widgets.text("reason", "", "Case reference, required to decrypt")
dbutils.widgets.dropdown(
    "new_status", "KEEP", ["KEEP", "IN_REVIEW", "ESCALATED", "CLOSED"], "Move the case to"
)
dbutils.widgets.text("status_reason", "", "Why (required to close or reopen)")

# COMMAND ----------

import html

from aml.crypto.access import AccessDenied
from aml.gold import cases
from aml.notebooks import triage, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Queue
# MAGIC Open alerts, most severe first (severity after escalation for PEP or high-risk customers).

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT effective_severity, rule_id, count(*) AS alerts
# MAGIC FROM gold_alerts
# MAGIC GROUP BY effective_severity, rule_id
# MAGIC ORDER BY
# MAGIC   array_position(array('LOW', 'MEDIUM', 'HIGH', 'CRITICAL'), effective_severity) DESC,
# MAGIC   rule_id

# COMMAND ----------

display(triage.queue(spark, config))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The alert and its evidence

# COMMAND ----------

alert_id = triage.pick_alert(spark, config, dbutils.widgets.get("alert_id").strip())
print(f"alert {alert_id}")
display(triage.alert(spark, alert_id))
display(triage.evidence(spark, alert_id))

# COMMAND ----------

# DBTITLE 1,Decrypt the subject's details (investigators only)
reason = dbutils.widgets.get("reason").strip()
if not reason:
    displayHTML(
        "<p>Set the <code>reason</code> widget to a case reference to decrypt the subject's "
        "details. Only the investigator role may; every attempt is audited.</p>"
    )
else:
    try:
        display(triage.subject_details(spark, config, alert_id, reason))
    except AccessDenied as refused:
        displayHTML(f"<p><b>Refused:</b> {html.escape(str(refused))}</p>")

# COMMAND ----------

# DBTITLE 1,Decrypt audit
if reason:
    display(triage.audit_rows(spark, config, reason))
else:
    displayHTML("<p>Nothing was decrypted, so there is no audit row for this run.</p>")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Case status
# MAGIC NEW, IN_REVIEW, ESCALATED, CLOSED (with a reason); every change is kept in
# MAGIC `gold.alert_cases` with who made it and when.

# COMMAND ----------

new_status = dbutils.widgets.get("new_status")
if new_status != "KEEP":
    try:
        change = cases.set_status(
            spark, config, alert_id, new_status, dbutils.widgets.get("status_reason")
        )
        print(f"{change['from_status']} -> {change['status']} by {change['changed_by']}")
    except cases.CaseError as refused:
        displayHTML(f"<p><b>Not changed:</b> {html.escape(str(refused))}</p>")
display(cases.history(spark, config, alert_id))

# COMMAND ----------

views.register(spark, config)  # the cases view again, with the change above

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT status, count(*) AS alerts
# MAGIC FROM (SELECT alert_id, max_by(status, seq) AS status
# MAGIC       FROM gold_alert_cases GROUP BY alert_id)
# MAGIC GROUP BY status
# MAGIC ORDER BY status
