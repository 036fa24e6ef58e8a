"""The publish gate: Great Expectations suites run on staged gold tables before they are published.

A gold build writes staging tables, hands them here as DataFrames (suite name -> DataFrame) and
publishes only when :func:`gate` returns. Suites come from ``conf/expectations/<suite>.toml``
(:mod:`aml.gold.expectations`); each run leaves three traces: HTML Data Docs in the local GX
project (``var/run/gx`` by default) for the reviewer, one row per suite in the Delta table
``ops.validation_results`` for audit queries, and a log line per failed expectation.

None of them holds data values: GX is asked for its ``BASIC`` result with no sample of unexpected
values, so only counts and percentages reach its result store, the Data Docs and the ops table (a
sample of failing values could be personal data). It also spares a query per expectation.

Cost, per suite: GX counts the rows in one Spark job, then evaluates every null/set/range/regex
check in one bundled aggregation, plus one shuffle per uniqueness check. Batches are not cached
here: pass DataFrames the job has cached (or can afford to read three times). The Data Docs of
a run are rendered once, after the last suite.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from aml.config import Config
from aml.gold.expectations import (
    DOCS_SITE,
    SuiteSpec,
    gx_context,
    gx_dir,
    load_suite,
    registered_checkpoint,
    with_derived,
)
from aml.ops import append_rows, utcnow

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

SCHEMA = (
    "run_id STRING NOT NULL, job STRING NOT NULL, suite STRING NOT NULL, suite_version INT, "
    "success BOOLEAN NOT NULL, evaluated INT NOT NULL, failed_expectations ARRAY<STRING>, "
    "unexpected_counts MAP<STRING, BIGINT>, docs_path STRING, validated_at TIMESTAMP NOT NULL"
)
# Counts and percentages only: no sample of failing values anywhere GX writes.
RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
}


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one suite on one batch.

    Attributes:
        suite: suite name (``gold_alerts``).
        success: every expectation passed.
        evaluated: expectations evaluated.
        failed: labels of the failed ones, e.g. ``expect_column_values_to_not_be_null(alert_id)``.
        unexpected: failed label -> number of rows that broke it (when GX counted rows).
        docs_path: local path of this suite's Data Docs page for the run.
    """

    suite: str
    success: bool
    evaluated: int
    failed: tuple[str, ...]
    unexpected: Mapping[str, int] | None = None
    docs_path: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of every suite of one run; ``docs_path`` is the Data Docs ``index.html``."""

    run_id: str
    success: bool
    suites: tuple[SuiteResult, ...]
    docs_path: str | None


class ValidationFailed(RuntimeError):
    """Raised by :func:`gate`: at least one suite failed, so nothing may be published.

    ``str()`` names every failed suite and expectation; ``report`` carries the whole outcome.
    """

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        failed = "; ".join(
            f"{s.suite}: {', '.join(s.failed) or 'failed'}" for s in report.suites if not s.success
        )
        docs = f" (Data Docs: {report.docs_path})" if report.docs_path else ""
        super().__init__(f"validation of run {report.run_id} failed: {failed}{docs}")


@contextmanager
def _locked_context(root: Path) -> Iterator[AbstractDataContext]:
    """The GX context of ``root``, held exclusively: one GX project folder serves every job on
    the machine, and runs take turns writing it."""
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield gx_context(root)


def _local_path(url: str | None) -> str | None:
    return unquote(urlparse(url).path) if url else None


def _docs_url(context: AbstractDataContext, resource: Any = None) -> str | None:
    urls = context.get_docs_sites_urls(resource_identifier=resource, site_name=DOCS_SITE)
    return _local_path(urls[0].get("site_url")) if urls else None


def _run_suite(
    context: AbstractDataContext, suite: SuiteSpec, batch_df: DataFrame, run_id: str
) -> tuple[SuiteResult, Any]:
    """Runs one suite; returns its result and GX's identifier of the stored validation result
    (for the Data Docs build)."""
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.monotonic()
    checkpoint = registered_checkpoint(context, suite, RESULT_FORMAT)
    result = checkpoint.run(
        batch_parameters={"dataframe": with_derived(batch_df, suite)},
        run_id=RunIdentifier(run_name=run_id),
    )
    (key, outcome), *_ = result.run_results.items()
    failed, unexpected = [], {}
    for check in outcome.results:
        if check.success:
            continue
        label = check.expectation_config.meta.get("label") or check.expectation_config.type
        failed.append(label)
        if check.result.get("unexpected_count") is not None:
            unexpected[label] = int(check.result["unexpected_count"])
        if check.exception_info and check.exception_info.get("raised_exception"):
            message = str(check.exception_info.get("exception_message", ""))[:300]
            log.warning("suite %s: %s could not be evaluated: %s", suite.name, label, message)
    order = {spec.label: n for n, spec in enumerate(suite.expectations)}
    log.info("suite %s: %s in %.1fs", suite.name, "passed" if outcome.success else "FAILED",
             time.monotonic() - started)  # fmt: skip
    result = SuiteResult(
        suite=suite.name,
        success=bool(outcome.success),
        evaluated=int(outcome.statistics["evaluated_expectations"]),
        failed=tuple(sorted(failed, key=lambda label: order.get(label, len(order)))),
        unexpected=unexpected,
        docs_path=_docs_url(context, key),
    )
    return result, key


def _build_docs(context: AbstractDataContext, keys: list[Any], suites: list[str]) -> None:
    """Renders this run's validation pages, its suites' pages and the index, in one build (a
    build per suite would redo the index, which lists every stored result, once per suite)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    identifiers = [*keys, *(ExpectationSuiteIdentifier(name=name) for name in suites)]
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)


def validate(
    spark: SparkSession,
    config: Config,
    run_id: str,
    job: str,
    batches: Mapping[str, DataFrame],
    update_docs: bool = True,
) -> ValidationReport:
    """Runs every suite on its batch, updates the Data Docs and records one ops row per suite.

    Args:
        spark: the job's session (writes ``ops.validation_results``).
        config: environment; suites come from ``conf/expectations``, the GX folder from
            :func:`gx_dir`.
        run_id: the gold run; it names the Data Docs pages of this validation.
        job: the job name recorded with the results.
        batches: suite name -> DataFrame to judge (pass cached DataFrames to avoid re-reading
            them; a suite is one pass over its batch).
        update_docs: render this run's Data Docs pages (once, after the last suite); False
            renders them only when a suite failed (the streaming job's choice: once per
            micro-batch, the build would cost more than the validation).

    Returns:
        The report; it does not raise on failed expectations (that is :func:`gate`'s job).

    Raises:
        ConfigError: a batch names a suite without a file in ``conf/expectations``.
    """
    suites = {name: load_suite(config, name) for name in batches}
    root = gx_dir(config)
    root.mkdir(parents=True, exist_ok=True)
    with _locked_context(root) as context:
        runs = [
            _run_suite(context, suites[name], batch_df, run_id)
            for name, batch_df in batches.items()
        ]
        results = tuple(result for result, _ in runs)
        if runs and (update_docs or not all(r.success for r in results)):
            _build_docs(context, [key for _, key in runs], [r.suite for r in results])
        report = ValidationReport(
            run_id=run_id,
            success=all(r.success for r in results),
            suites=results,
            docs_path=_docs_url(context),
        )
    validated_at = utcnow()
    rows = [
        {
            "run_id": run_id,
            "job": job,
            "suite": r.suite,
            "suite_version": suites[r.suite].version,
            "success": r.success,
            "evaluated": r.evaluated,
            "failed_expectations": list(r.failed),
            "unexpected_counts": dict(r.unexpected or {}) or None,
            "docs_path": r.docs_path or report.docs_path,
            "validated_at": validated_at,
        }
        for r in results
    ]
    if rows:
        append_rows(spark, config.table_path("ops", "validation_results"), SCHEMA, rows)
    return report


DOCS_POLICIES = ("on_failure", "always")


def docs_always(config: Config) -> bool:
    """``[gold] data_docs``: ``"on_failure"`` (default: render a run's Data Docs pages only when
    a suite failed; ``aml validation docs`` renders them on demand) or ``"always"``."""
    policy = config.data.get("gold", {}).get("data_docs", "on_failure")
    if policy not in DOCS_POLICIES:
        from aml.config import ConfigError

        raise ConfigError(f"[gold] data_docs = {policy!r}: choose from {', '.join(DOCS_POLICIES)}")
    return policy == "always"


def render_docs(config: Config) -> str | None:
    """Renders the Data Docs of every stored validation result and suite; returns the index
    page's path (None when nothing was ever validated here)."""
    root = gx_dir(config)
    if not root.is_dir():
        return None
    with _locked_context(root) as context:
        context.build_data_docs(site_names=[DOCS_SITE])
        return _docs_url(context)


def _cmd_docs(args: Any) -> int:
    from aml.config import load_config

    path = render_docs(load_config(args.env))
    if path is None:
        log.error("no validation results yet: run `aml build gold` first")
        return 1
    print(f"Data Docs: {path}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validation", help="the gold gate's Great Expectations results (Data Docs on demand)"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    docs = actions.add_parser("docs", help="render the Data Docs of every stored validation")
    docs.set_defaults(func=_cmd_docs)


def gate(
    spark: SparkSession,
    config: Config,
    run_id: str,
    job: str,
    batches: Mapping[str, DataFrame],
    update_docs: bool = True,
) -> ValidationReport:
    """:func:`validate`, then refuse to publish on any failure.

    Raises:
        ValidationFailed: at least one expectation failed; one error line per failure is logged
            first, with the number of offending rows where GX counted them (never their values).
    """
    report = validate(spark, config, run_id, job, batches, update_docs)
    for suite in report.suites:
        for label in suite.failed:
            count = (suite.unexpected or {}).get(label)
            rows = f" ({count} rows)" if count is not None else ""
            log.error("run %s: %s failed %s%s", run_id, suite.suite, label, rows)
    if not report.success:
        raise ValidationFailed(report)
    log.info("run %s: %d suites passed (%s)", run_id, len(report.suites), report.docs_path)
    return report
