"""spark-submit entry point: incremental JDBC ingestion into bronze (see aml.ingest.job)."""

import sys

from aml.ingest.job import main

if __name__ == "__main__":
    sys.exit(main())
