"""Incremental JDBC ingestion of the source OLTP tables into bronze Delta tables."""
