# Databricks notebook source
# MAGIC %md
# MAGIC # 02 Standard analyst queries
# MAGIC The standing questions over `silver.transactions`, by account **token** (never the account
# MAGIC number). Each query is named SQL in `aml.notebooks.queries`, registered as a view of its
# MAGIC own name; the cells below only order and limit it.

# COMMAND ----------

dbutils.widgets.text("env", "", "Environment (empty: $AML_ENV or local)")
dbutils.widgets.text("lake", "", "Lake root (empty: the environment's)")

# COMMAND ----------

from aml.notebooks import queries, views

config = views.open_lake(spark, dbutils.widgets.get("env"), dbutils.widgets.get("lake"))
queries.register(spark)
display(queries.summary(spark))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Labelled laundering transactions
# MAGIC The labels come with the data set; rules never read them.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM laundering_transactions ORDER BY event_ts, transaction_id LIMIT 100

# COMMAND ----------

# MAGIC %md
# MAGIC ## Amounts over 10,000

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM large_transactions ORDER BY amount DESC, transaction_id LIMIT 100

# COMMAND ----------

# MAGIC %md
# MAGIC ## To or from high-risk locations
# MAGIC Mexico, Turkey, Morocco and UAE (SAML-D's list) and the FATF black and grey lists in force.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT coalesce(sender_high_risk_status, receiver_high_risk_status) AS list_status,
# MAGIC        sender_bank_location, receiver_bank_location, count(*) AS transactions,
# MAGIC        sum(amount) AS total_amount
# MAGIC FROM high_risk_location_transactions
# MAGIC GROUP BY 1, 2, 3
# MAGIC ORDER BY transactions DESC

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM high_risk_location_transactions ORDER BY event_ts, transaction_id LIMIT 100

# COMMAND ----------

# MAGIC %md
# MAGIC ## Senders with more than 3 transactions

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM frequent_senders
# MAGIC ORDER BY transactions DESC, sender_account_token
# MAGIC LIMIT 100

# COMMAND ----------

# MAGIC %md
# MAGIC ## Receivers with more than 3 transactions

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT * FROM frequent_receivers
# MAGIC ORDER BY transactions DESC, receiver_account_token
# MAGIC LIMIT 100
