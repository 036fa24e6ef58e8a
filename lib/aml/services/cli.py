"""``aml services up|down|status [--only postgres,mariadb,kafka]``: the project's local services.

Examples::

    aml services up                    # PostgreSQL 55432, MariaDB 53306, Kafka 9092/9093
    aml services status --only kafka   # exit code 1 when a selected service is down
    aml services down                  # stops them; no process is left behind
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from aml.config import load_config
from aml.services import manager
from aml.services.base import ServiceError

log = logging.getLogger(__name__)


def _add_common(parser: argparse.ArgumentParser, with_timeout: bool = True) -> None:
    parser.add_argument(
        "--only",
        default=None,
        metavar="LIST",
        help=f"comma-separated subset of: {','.join(manager.SERVICE_NAMES)} (default: all)",
    )
    if with_timeout:
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="seconds to wait per service (default: 120, Kafka 180; down: 60)",
        )


def register(subparsers: Any) -> None:
    """Adds ``services`` with its ``up``, ``down`` and ``status`` actions."""
    parser = subparsers.add_parser(
        "services",
        help="start/stop/check the local PostgreSQL, MariaDB and Kafka",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up_p = actions.add_parser("up", help="start (idempotent), provision users, schema and topics")
    _add_common(up_p)
    up_p.set_defaults(func=cmd_up)
    down_p = actions.add_parser("down", help="stop cleanly (TERM, then KILL after the timeout)")
    _add_common(down_p)
    down_p.set_defaults(func=cmd_down)
    status_p = actions.add_parser("status", help="one line per service; non-zero if any is down")
    _add_common(status_p, with_timeout=False)
    status_p.set_defaults(func=cmd_status)


def cmd_up(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "env", None))
    try:
        for st in manager.up(config, args.only, args.timeout):
            print(st.line())
    except ServiceError as exc:
        log.error("services up failed:\n%s", exc)
        return 1
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "env", None))
    try:
        for st in manager.down(config, args.only, args.timeout):
            print(st.line())
    except ServiceError as exc:
        log.error("services down failed:\n%s", exc)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "env", None))
    try:
        statuses = manager.status(config, args.only)
    except ServiceError as exc:
        log.error("%s", exc)
        return 2
    for st in statuses:
        print(st.line())
    return 0 if all(st.running and st.healthy for st in statuses) else 1
