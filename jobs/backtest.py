"""spark-submit entry point: a candidate rule pack against the published one (aml.gold.backtest)."""

import sys

from aml.gold.backtest import main

if __name__ == "__main__":
    sys.exit(main())
