"""spark-submit entry point: silver into gold rule hits and alerts (see aml.gold.job)."""

import sys

from aml.gold.job import main

if __name__ == "__main__":
    sys.exit(main())
