"""``aml notebooks run`` and ``aml cases set``: the analysts' commands.

``notebooks run`` executes the Databricks notebooks locally (exit 1 if any cell failed, the
report says which); ``cases set`` moves an alert's case (exit 3 when the change is refused).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aml.config import load_config

log = logging.getLogger(__name__)
EXIT_REFUSED = 3


def widget_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (name, value); without ``=`` it is a usage error, not an empty value."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _run(args: argparse.Namespace) -> int:
    from aml.notebooks import report
    from aml.spark import build_session

    config = load_config(args.env)
    widgets = dict(args.widget)
    if args.env:
        widgets.setdefault("env", args.env)
    notebooks = report.discover(args.notebooks_dir or report.NOTEBOOKS_DIR, args.only)
    out_dir = args.out or config.run_dir / "notebooks"
    spark = build_session(config, "aml-notebooks")
    runs, path = report.run_all(spark, notebooks, out_dir, widgets)
    for run in runs:
        failed = [c for c in run.cells if c.error]
        state = f"FAILED at cell {failed[0].cell.index}" if failed else "ok"
        print(f"{run.name}: {len(run.cells)} cells, {len(run.images)} plots, {state}")
    print(f"report: {path}")
    return 0 if all(run.ok for run in runs) else 1


def _set_case(args: argparse.Namespace) -> int:
    from aml.gold import cases
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, "aml-cases")
    try:
        row = cases.set_status(spark, config, args.alert_id, args.status, args.reason)
    except cases.CaseError as exc:
        log.error("%s", exc)
        return EXIT_REFUSED
    print(
        f"alert {row['alert_id']}: {row['from_status']} -> {row['status']} by {row['changed_by']}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``aml notebooks run`` and ``aml cases set``."""
    from aml.gold.cases import STATUSES

    notebooks = subparsers.add_parser("notebooks", help="the analysts' notebooks")
    actions = notebooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run", help="run the notebooks locally and write an HTML report with the plots"
    )
    run.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="a notebook (01 or 01_overview); repeatable",
    )
    run.add_argument(
        "--out", type=Path, default=None, help="report folder (default: <run_dir>/notebooks)"
    )
    run.add_argument(
        "--widget",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=widget_pair,
        help="a widget value, e.g. lake=/tmp/lake; repeatable",
    )
    run.add_argument("--notebooks-dir", type=Path, default=None, help=argparse.SUPPRESS)
    run.set_defaults(func=_run)

    case = subparsers.add_parser("cases", help="alert case status (gold.alert_cases)")
    case_actions = case.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_parser = case_actions.add_parser("set", help="move an alert's case to a new status")
    set_parser.add_argument("alert_id")
    set_parser.add_argument("status", type=str.upper, choices=STATUSES[1:])
    set_parser.add_argument("--reason", default=None, help="required to close or reopen")
    set_parser.set_defaults(func=_set_case)
