"""spark-submit entry point: ingest, silver and gold in one Spark session (see aml.run)."""

import sys

from aml.run import main

if __name__ == "__main__":
    sys.exit(main())
