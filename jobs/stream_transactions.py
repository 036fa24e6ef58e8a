"""spark-submit entry point: Kafka into bronze, silver and gold, always on (see aml.stream.job)."""

import sys

from aml.stream.job import main

if __name__ == "__main__":
    sys.exit(main())
