"""The ``aml`` command: one entry point, one sub-command module per concern.

Each concern module exposes ``register(subparsers)`` which adds its sub-command(s) and sets
``func`` (a callable taking the parsed arguments and returning an exit code). Heavy imports
(pyspark, great_expectations) happen inside those functions, so ``aml --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from aml import __version__
from aml.config import ConfigError

# Modules that contribute sub-commands, in help order.
COMMAND_MODULES = (
    "aml.services.cli",
    "aml.jars",
    "aml.cluster",
    "aml.generate.cli",
    "aml.sources.cli",
    "aml.ingest.job",
    "aml.ingest.reconcile",
    "aml.build",
    "aml.run",
    "aml.gold.evaluate",
    "aml.gold.validate",
    "aml.gold.suppressions_cli",
    "aml.gold.backtest",
    "aml.stream.produce",
    "aml.stream.job",
    "aml.crypto.cli",
    "aml.pipeline",
    "aml.notebooks.cli",
)

log = logging.getLogger("aml")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aml", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"aml {__version__}")
    parser.add_argument(
        "--env", default=None, help="environment in conf/environments (default: $AML_ENV or local)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "kafka", "urllib3", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def job_main(
    prog: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    execute: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """The ``main()`` of a ``jobs/*.py`` spark-submit entry: the job's own arguments plus
    ``--env`` and ``-v``, logging set up, then the same ``execute`` the ``aml`` command runs."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--env", default=None, help="environment in conf/environments")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    return execute(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        log.error("configuration: %s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
