"""AML transaction-monitoring lakehouse: ingestion, silver, gold rules, streaming, notebooks."""

from __future__ import annotations

__version__ = "0.1.0"
