"""spark-submit entry point: bronze into silver and quarantine (see aml.silver.job)."""

import sys

from aml.silver.job import main

if __name__ == "__main__":
    sys.exit(main())
