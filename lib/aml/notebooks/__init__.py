"""Analysts' notebooks: the logic behind ``notebooks/*.py`` and their local runner.

The notebooks are Databricks source files that only read widgets and call this package, so the
same queries, plots and access checks serve Databricks and ``aml notebooks run``.
"""
