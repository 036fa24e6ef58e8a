"""``aml generate``: write a SAML-D-compatible dataset, or append the next daily increment.

Examples::

    aml generate --rows 1000000 --seed 42            # -> <data_dir>/saml_d
    aml generate --out var/data/demo --rows 200000
    aml generate --out var/data/demo --increment      # next day + updates.csv

User errors (bad date, a folder that is not a dataset) are logged and return exit code 2 without
a traceback; only unexpected failures propagate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("aml.generate")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from exc


def _positive_int(value: str) -> int:
    number = int(value.replace("_", ""))
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {value}")
    return number


def register(subparsers: Any) -> None:
    """Adds the ``generate`` sub-command to the ``aml`` parser."""
    parser = subparsers.add_parser(
        "generate",
        help="generate a synthetic SAML-D dataset (or its next daily increment)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="dataset folder (default: <data_dir>/saml_d of the environment)",
    )
    parser.add_argument(
        "--rows",
        type=_positive_int,
        default=200_000,
        help="rows in transactions.csv (default 200000)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default 42; with --increment: derived from the dataset)",
    )
    parser.add_argument(
        "--start-date", type=_date, default=None, help="first date, YYYY-MM-DD (default 2022-10-07)"
    )
    parser.add_argument(
        "--days",
        type=_positive_int,
        default=None,
        help="calendar days covered (default: ~29.6k rows a day, 35-321 days)",
    )
    parser.add_argument(
        "--laundering-rate",
        type=float,
        default=None,
        help="target share of laundering rows (default 0.001)",
    )
    parser.add_argument(
        "--increment",
        action="store_true",
        help="append the next day to an existing dataset in --out",
    )
    parser.set_defaults(func=run)


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return Path(args.out)
    from aml.config import load_config

    return load_config(getattr(args, "env", None)).data_dir / "saml_d"


def run(args: argparse.Namespace) -> int:
    """Executes ``aml generate``; returns the process exit code."""
    from aml.generate.generator import DEFAULT_RATE, DEFAULT_START, generate
    from aml.generate.increment import DatasetError, generate_increment

    out = _out_dir(args)
    try:
        if args.increment:
            manifest = generate_increment(out, seed=args.seed)
            print(
                f"{out}/increments/{manifest['increment']:04d}: {manifest['rows']} rows "
                f"(ids {manifest['first_transaction_id']}-{manifest['last_transaction_id']}), "
                f"{manifest['updates']} updates"
            )
            return 0
        rate = DEFAULT_RATE if args.laundering_rate is None else args.laundering_rate
        manifest = generate(
            out,
            args.rows,
            seed=42 if args.seed is None else args.seed,
            start_date=args.start_date or DEFAULT_START,
            laundering_rate=rate,
            days=args.days,
        )
    except DatasetError as exc:
        log.error("%s (generate a dataset first, without --increment)", exc)
        return 2
    except ValueError as exc:
        log.error("%s", exc)
        log.debug("details", exc_info=True)
        return 2
    except OSError as exc:
        log.error("cannot write %s: %s", out, exc)
        return 2
    print(
        f"{out}: {manifest['rows']} rows, {manifest['start_date']}..{manifest['end_date']}, "
        f"{manifest['laundering_rows']} laundering rows in "
        f"{sum(manifest['instances'].values())} instances"
    )
    return 0
