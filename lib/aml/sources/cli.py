"""``aml load``: bulk-load a dataset, its increments, or a bare SAML-D CSV into a source database.

Examples::

    aml load                                                # <data_dir>/saml_d into [ingest].source
    aml load --dataset var/data/saml_d                      # customers, accounts, transactions
    aml load --dataset var/data/saml_d --increment 0001     # that increment only
    aml load --dataset var/data/saml_d --all-increments     # every increment, in order
    aml load --source mariadb --saml-d SAML-D.csv --truncate
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from aml.config import load_config
from aml.sources.csvfiles import LoadError
from aml.sources.db import SourceError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Adds the ``load`` sub-command."""
    parser = subparsers.add_parser(
        "load",
        help="bulk-load generated or SAML-D data into a source database",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source",
        default=None,
        help="source in the environment: postgres or mariadb (default: [ingest].source)",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--dataset",
        type=Path,
        metavar="DIR",
        help="a dataset written by `aml generate` (default: <data_dir>/saml_d)",
    )
    what.add_argument("--saml-d", type=Path, metavar="FILE", help="a bare SAML-D CSV (no manifest)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--increment",
        action="append",
        metavar="NNNN",
        help="load increments/NNNN only (repeatable; comma lists accepted)",
    )
    which.add_argument(
        "--all-increments", action="store_true", help="load every increment, in order"
    )
    parser.add_argument(
        "--truncate", action="store_true", help="empty the source tables first (destructive)"
    )
    parser.set_defaults(func=cmd_load)


def cmd_load(args: argparse.Namespace) -> int:
    from aml.sources.loader import load

    config = load_config(getattr(args, "env", None))
    dataset = args.dataset
    if dataset is None and args.saml_d is None:
        dataset = config.data_dir / "saml_d"
    increments = [
        n.strip() for item in (args.increment or []) for n in item.split(",") if n.strip()
    ]
    try:
        results = load(
            config,
            args.source,
            dataset=dataset,
            saml_d=args.saml_d,
            increments=increments,
            all_increments=args.all_increments,
            truncate=args.truncate,
        )
    except (LoadError, SourceError) as exc:
        log.error("load failed: %s", exc)
        return 1
    for result in results:
        print(result.summary())
    return 0
