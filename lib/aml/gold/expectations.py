"""Publish-gate suites as named data: ``conf/expectations/<suite>.toml`` loaded and checked.

A suite is a list of Great Expectations expectations, each a GX expectation type, its keyword
arguments and a sentence for the compliance reviewer. Keeping them in TOML (not in Python) lets a
reviewer read and sign off the gate without reading code, and lets a change to the gate show up as
a one-line diff. Every expectation blocks publishing: there is no "warn" level, because a gold
table that breaks one of these is wrong, not merely unusual.

A suite may also declare *derived* columns (``[derived]``: name = Spark SQL expression over the
batch). They cover checks GX cannot express on Spark, such as "the evidence array is not empty"
(``evidence_size = "size(transaction_ids)"``): the gate adds them when the batch lacks them, as a
lazy projection that costs no extra pass.

The suites are registered in a local GX file project (default ``<paths.run>/gx``, i.e.
``var/run/gx``, or ``[gold].gx_dir``), which also holds the Data Docs. Registration happens once
per process and suite version: the context and each suite's checkpoint are cached here.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml.config import Config, ConfigError

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.checkpoint import Checkpoint
    from great_expectations.data_context import AbstractDataContext
    from pyspark.sql import DataFrame

SUITES_DIR = "conf/expectations"
DATASOURCE = "aml_gold_gate"
DOCS_SITE = "local_site"

# One GX context per project folder, and one registered checkpoint per suite version, per process.
_contexts: dict[str, AbstractDataContext] = {}


def expectation_label(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """The name a failed expectation goes by in logs, ``ops.validation_results`` and Data Docs.

    ``expect_column_values_to_not_be_null(alert_id)``: the GX type plus the columns it judges, so
    it names the check precisely without repeating its parameters (which a reviewer reads in the
    suite file).
    """
    if "column" in kwargs:
        columns = [kwargs["column"]]
    elif "column_list" in kwargs:
        columns = list(kwargs["column_list"])
    elif "column_A" in kwargs:
        columns = [kwargs["column_A"], kwargs["column_B"]]
    else:
        columns = []
    return f"{expectation_type}({','.join(str(c) for c in columns)})"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite.

    Attributes:
        type: GX expectation type, e.g. ``expect_column_values_to_not_be_null``.
        kwargs: its keyword arguments (``column``, ``value_set``, ``regex``...).
        description: what it protects, in the reviewer's words.
    """

    type: str
    kwargs: dict[str, Any]
    description: str

    @property
    def label(self) -> str:
        return expectation_label(self.type, self.kwargs)


@dataclass(frozen=True)
class SuiteSpec:
    """One suite file.

    Attributes:
        name: suite name, also the file stem (``gold_alerts``).
        version: bumped whenever the gate's meaning changes; recorded with every result.
        description: what the suite guards.
        derived: columns added to the batch when missing (name -> Spark SQL expression).
        expectations: the checks, in file order.
    """

    name: str
    version: int
    description: str
    derived: dict[str, str]
    expectations: tuple[ExpectationSpec, ...]

    @property
    def fingerprint(self) -> str:
        """Hash of the whole suite: tells a cached GX suite apart from an edited file."""
        body = {
            "version": self.version,
            "derived": self.derived,
            "expectations": [[e.type, e.kwargs, e.description] for e in self.expectations],
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the batch must have (derived ones excluded: the gate adds those)."""
        seen: dict[str, None] = {}
        for spec in self.expectations:
            for key in ("column", "column_A", "column_B"):
                if key in spec.kwargs:
                    seen[spec.kwargs[key]] = None
            for column in spec.kwargs.get("column_list", ()):
                seen[column] = None
        return tuple(c for c in seen if c not in self.derived)


def load_suite(config: Config, name: str) -> SuiteSpec:
    """Reads and checks ``conf/expectations/<name>.toml``.

    Raises:
        ConfigError: the file is missing, empty, or two expectations share a label (their results
            could not be told apart in the report).
    """
    path = config.root / SUITES_DIR / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.toml"))
        raise ConfigError(f"no expectation suite '{name}' ({path} missing); known: {known}")
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    specs = tuple(
        ExpectationSpec(e["type"], dict(e.get("kwargs", {})), e.get("description", ""))
        for e in data.get("expectation", [])
    )
    labels = [s.label for s in specs]
    duplicated = sorted({label for label in labels if labels.count(label) > 1})
    if not specs or duplicated:
        raise ConfigError(
            f"{path}: needs expectations with distinct labels; repeated: {duplicated}"
        )
    return SuiteSpec(
        name=data.get("suite", name),
        version=int(data["version"]),
        description=data.get("description", ""),
        derived=dict(data.get("derived", {})),
        expectations=specs,
    )


def with_derived(batch_df: DataFrame, suite: SuiteSpec) -> DataFrame:
    """``batch_df`` plus the suite's derived columns it does not have yet (a lazy projection)."""
    from pyspark.sql import functions as F

    missing = {c: F.expr(sql) for c, sql in suite.derived.items() if c not in batch_df.columns}
    return batch_df.withColumns(missing) if missing else batch_df


def to_gx_suite(suite: SuiteSpec) -> gx.ExpectationSuite:
    """The GX suite of a spec.

    Each expectation's GX ``description`` (which Data Docs render in place of GX's own sentence)
    starts with its label, so the page, the log line and the ops row all name a failure the same
    way; the reviewer's sentence follows it.
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = [
        ExpectationConfiguration(
            type=spec.type,
            kwargs=spec.kwargs,
            description=f"{spec.label}: {spec.description}" if spec.description else spec.label,
            meta={"label": spec.label},
        ).to_domain_obj()
        for spec in suite.expectations
    ]
    meta = {"version": suite.version, "fingerprint": suite.fingerprint}
    return gx.ExpectationSuite(
        name=suite.name, expectations=expectations, meta=meta, notes=suite.description or None
    )


def gx_dir(config: Config) -> Path:
    """The local GX project folder: ``[gold].gx_dir``, else ``<paths.run>/gx``."""
    setting = config.data.get("gold", {}).get("gx_dir")
    return config.path(str(setting)) if setting else config.run_dir / "gx"


def gx_context(root: Path) -> AbstractDataContext:
    """The process's GX file context for ``root``, quiet: no analytics, no progress bars."""
    key = str(root)
    if key not in _contexts:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="file", context_root_dir=key)
        context.variables.progress_bars = ProgressBarsConfig(globally=False)  # read in memory
        # Re-created once per process (each suite re-adds its asset): GX 1.24 loses the context
        # of a Spark data source read back from great_expectations.yml as soon as one of its batch
        # definitions is saved (MissingDataContextError on the next run); one made here keeps it.
        context.data_sources.add_or_update_spark(name=DATASOURCE, persist=False)
        _contexts[key] = context
    return _contexts[key]


def registered_checkpoint(
    context: AbstractDataContext, suite: SuiteSpec, result_format: dict[str, Any]
) -> Checkpoint:
    """The suite's checkpoint (whole-DataFrame batch, no actions), registered on every
    call (under the caller's lock): another process may have saved the same suite since, and GX
    refuses to run a checkpoint whose suite differs from the stored one. add_or_update, so a
    rerun or an edited suite file replaces the stored definitions instead of piling up copies.

    GX is told not to persist batches: whether a batch is worth caching is the caller's call.
    The checkpoint has no Data Docs action: the caller renders the pages of all its suites in
    one build (a build per suite would redo the index once per suite).
    """
    import great_expectations as gx

    source = context.data_sources.get(DATASOURCE)
    assets = {asset.name: asset for asset in source.assets}
    asset = assets.get(suite.name) or source.add_dataframe_asset(name=suite.name)
    batch = next(
        (b for b in asset.batch_definitions if b.name == "whole"), None
    ) or asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = context.suites.add_or_update(to_gx_suite(suite))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"gate_{suite.name}",
            validation_definitions=[definition],
            actions=[],
            result_format=result_format,
        )
    )
