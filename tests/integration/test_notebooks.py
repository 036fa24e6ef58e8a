"""The analysts' notebooks run unchanged on a generated lake, with plots, and leak nothing.

The lake is a copy of the session's (``shared_lake``: generate, PostgreSQL, ingest, silver,
gold); the notebooks then run through the local runner
exactly as ``aml notebooks run`` runs them. The leak check compares every output with the
plaintext account numbers, names and dates of birth of the generated CSVs: only the triage
notebook's decrypt cell, run as an investigator, may show any, and it leaves its audit row.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pyspark.sql import functions as F
from tests.integration.gold_data import GoldLake, SharedLake
from tests.integration.keys import ephemeral_keys

from aml.gold import cases
from aml.notebooks import report
from aml.notebooks.runner import CellRun, NotebookRun

DECRYPT_CELL = "Decrypt the subject's details (investigators only)"
IMAGE_DATA = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
PLOTS = {"01_overview": 3, "04_detection_quality": 4, "05_pipeline_health": 5}
TABLE_ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.DOTALL)
TABLE_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.DOTALL)


@pytest.fixture(scope="module")
def lake(shared_lake: SharedLake, tmp_path_factory) -> Iterator[GoldLake]:
    """A copy of the session's lake (gold built), with its keys set for the module."""
    root = tmp_path_factory.mktemp("notebooks")
    template = shared_lake.lake
    with ephemeral_keys(shared_lake.keys):
        yield template.copy(template.config.with_lake(root / "lake"), root / "dataset")


def widgets(lake: GoldLake, **extra: str) -> dict[str, str]:
    return {
        "lake": lake.config.lake_root,
        "data": str(lake.dataset),
        "thresholds": "25000,50000",  # R18 min_amount of the default pack (v2): 50,000 now
        **extra,
    }


def run_as(user: str, lake: GoldLake, out: Path, only=(), **extra: str):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AML_USER", user)
        return report.run_all(lake.spark, report.discover(only=only), out, widgets(lake, **extra))


@pytest.fixture(scope="module")
def investigator_run(lake: GoldLake, tmp_path_factory) -> tuple[list[NotebookRun], Path]:
    out = tmp_path_factory.mktemp("report")
    return run_as("alice", lake, out, reason="CASE-2026-001", new_status="IN_REVIEW")


def personal_data(dataset: Path) -> tuple[set[str], set[str]]:
    """(account numbers, names and dates of birth) of the generated data set."""
    accounts: set[str] = set()
    with (dataset / "transactions.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            accounts.update((row["Sender_account"], row["Receiver_account"]))
    with (dataset / "accounts.csv").open(newline="") as fh:
        accounts.update(row["account_number"] for row in csv.DictReader(fh))
    people: set[str] = set()
    with (dataset / "customers.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            people.update((row["full_name"], row["date_of_birth"]))
    return accounts, people


def leaks(text: str, dataset: Path) -> list[str]:
    """Personal values found in ``text`` (embedded PNG data removed: plots are checked apart)."""
    text = IMAGE_DATA.sub("", text)
    accounts, people = personal_data(dataset)
    found = sorted(accounts.intersection(re.findall(r"\d+", text)))
    return found + sorted(v for v in people if v in text or html.escape(v) in text)


def titled(runs: list[NotebookRun], notebook: str, title: str) -> CellRun:
    (run,) = [run for run in runs if run.name == notebook]
    (cell,) = [c for c in run.cells if c.cell.title == title]
    return cell


def decrypt_cell(runs: list[NotebookRun]) -> CellRun:
    return titled(runs, "03_alert_triage", DECRYPT_CELL)


def shown(cell: CellRun) -> str:
    """What the cell displayed (its section also holds its source, which proves nothing)."""
    return "".join(cell.outputs)


def tables(fragment: str) -> list[list[dict[str, str]]]:
    """The HTML tables of a cell's output as rows of ``column -> text``."""
    found = []
    for body in re.findall(r"<table.*?</table>", fragment, re.DOTALL):
        rows = [
            [html.unescape(c).strip() for c in TABLE_CELL.findall(row)]
            for row in TABLE_ROW.findall(body)
        ]
        found.append([dict(zip(rows[0], row, strict=True)) for row in rows[1:]])
    return found


def audit(lake: GoldLake, reason: str) -> list:
    return lake.table("ops", "decrypt_audit").where(F.col("reason") == reason).collect()


def test_every_notebook_runs_end_to_end_into_one_report(investigator_run):
    runs, path = investigator_run
    assert [run.name for run in runs] == [p.stem for p in report.discover()]
    failed = {run.name: [c.error for c in run.cells if c.error] for run in runs if not run.ok}
    assert failed == {}
    page = path.read_text(encoding="utf-8")
    assert all(cell.html in page for run in runs for cell in run.cells)
    stream = titled(runs, "05_pipeline_health", "Stream progress")
    assert "No streaming runs recorded" in shown(stream)  # ops.stream_progress is absent here
    assert "laundering_transactions" in page and "frequent_receivers" in page


def test_detection_quality_backtests_v1_against_v2_and_sweeps_the_scored_pack(
    investigator_run, lake: GoldLake
):
    runs, _ = investigator_run
    gold_alerts = lake.table("gold", "alerts").count()
    notebook = "04_detection_quality"
    overall, typologies = tables(
        shown(titled(runs, notebook, "Backtest: overall and recall by typology"))
    )
    assert list(overall[0]) == ["metric", "candidate (v1)", "published (v2)"]
    by_metric = {row["metric"]: row for row in overall}
    # the published pack re-run in memory raises what gold published
    assert int(by_metric["total_alerts"]["published (v2)"]) == gold_alerts
    assert typologies and list(typologies[0])[:2] == ["laundering_type", "instances"]

    curve_cell = shown(titled(runs, notebook, "Precision and recall over the alert threshold"))
    (curve,) = tables(curve_cell)
    (current,) = [row for row in curve if row["is_current"] == "True"]
    assert int(current["threshold"]) == 100 and int(current["alerts"]) == gold_alerts
    assert "data:image/png;base64," in curve_cell

    (sweep,) = tables(shown(titled(runs, notebook, "Threshold sweep")))
    assert [float(row["threshold"]) for row in sweep] == [25000.0, 50000.0]
    low, now = sweep
    assert int(now["alerts"]) == gold_alerts  # 50,000 is R18's value in the published pack
    assert int(low["alerts"]) >= int(now["alerts"])
    assert int(low["rule_hits"]) >= int(now["rule_hits"])
    assert int(low["instances"]) == int(now["instances"]) > 0  # Single_large, Over-Invoicing
    assert float(low["instance_recall"]) >= float(now["instance_recall"])


def test_each_plot_is_a_non_blank_png_saved_and_embedded(investigator_run):
    runs, path = investigator_run
    page = path.read_text(encoding="utf-8")
    for run in runs:
        assert len(run.images) >= PLOTS.get(run.name, 0), run.name
        for image in run.images:
            assert image.parent == path.parent / "images" and image.stat().st_size > 0
            with Image.open(image) as picture:
                colours = picture.convert("RGB").getcolors(maxcolors=1 << 24)
            assert colours is not None and len(colours) > 10, image.name
            assert f"alt='{image.name}'" in page


def test_no_output_holds_personal_data_except_the_investigators_decrypt_cell(
    investigator_run, lake: GoldLake
):
    runs, path = investigator_run
    cell = decrypt_cell(runs)
    page = path.read_text(encoding="utf-8")
    assert cell.html in page
    assert leaks(page.replace(cell.html, ""), lake.dataset) == []
    assert leaks(cell.html, lake.dataset), "the investigator saw the subject's details"
    rows = audit(lake, "CASE-2026-001")
    assert rows and {(r.user_name, r.role, r.outcome) for r in rows} == {
        ("alice", "investigator", "GRANTED")
    }
    assert "GRANTED" in shown(titled(runs, "03_alert_triage", "Decrypt audit"))


def test_decrypt_cell_as_an_analyst_is_refused_and_audited(lake: GoldLake, tmp_path):
    runs, path = run_as("bob", lake, tmp_path, only=("03",), reason="CASE-2026-002")
    assert runs[0].ok
    assert "Refused" in shown(decrypt_cell(runs))
    assert leaks(path.read_text(encoding="utf-8"), lake.dataset) == []
    rows = audit(lake, "CASE-2026-002")
    assert [(r.user_name, r.role, r.outcome, r.row_count) for r in rows] == [
        ("bob", "analyst", "DENIED", 0)
    ]


def test_pipeline_health_plots_stream_progress_once_a_stream_records_it(lake: GoldLake, tmp_path):
    progress = [
        (f"batch {n}", n, dt.datetime(2026, 1, 1, 0, n), 100 * n, 90 * n) for n in range(1, 4)
    ]
    schema = (
        "query_id STRING, batch_id BIGINT, started_at TIMESTAMP, input_rows BIGINT, rows BIGINT"
    )
    path = lake.config.table_path("ops", "stream_progress")
    lake.spark.createDataFrame(progress, schema).write.format("delta").save(path)
    try:
        runs, _ = run_as("carol", lake, tmp_path, only=("05",))
    finally:
        shutil.rmtree(path)
    cell = titled(runs, "05_pipeline_health", "Stream progress")
    assert cell.error is None and "No streaming runs recorded" not in shown(cell)
    assert "batch 3" in shown(cell) and "data:image/png;base64," in shown(cell)


def test_case_status_changes_are_kept_with_their_history(lake: GoldLake):
    spark, config = lake.spark, lake.config
    untouched_df = lake.table("gold", "alerts").join(
        cases.history(spark, config).select("alert_id"), on="alert_id", how="left_anti"
    )
    alert_id, other_id = [r.alert_id for r in untouched_df.orderBy("alert_id").limit(2).collect()]
    cases.set_status(spark, config, alert_id, "IN_REVIEW", user="bob")
    with pytest.raises(cases.InvalidTransition, match="requires a reason"):
        cases.set_status(spark, config, alert_id, "CLOSED", user="bob")
    cases.set_status(spark, config, alert_id, "ESCALATED", user="bob")
    cases.set_status(spark, config, alert_id, "CLOSED", reason="SAR filed", user="alice")
    with pytest.raises(cases.InvalidTransition, match="cannot move a NEW case to ESCALATED"):
        cases.set_status(spark, config, other_id, "ESCALATED")
    with pytest.raises(cases.UnknownAlert, match="no alert"):
        cases.set_status(spark, config, "0" * 32, "IN_REVIEW")

    history = [
        (r.seq, r.from_status, r.status, r.reason, r.changed_by)
        for r in cases.history(spark, config, alert_id).collect()
    ]
    assert history == [
        (1, "NEW", "IN_REVIEW", None, "bob"),
        (2, "IN_REVIEW", "ESCALATED", None, "bob"),
        (3, "ESCALATED", "CLOSED", "SAR filed", "alice"),
    ]
    assert cases.history(spark, config, other_id).count() == 0  # refusals wrote nothing
    assert cases.status_of(spark, config, alert_id) == ("CLOSED", 3)
    alerts_df = lake.table("gold", "alerts").where(F.col("alert_id").isin(alert_id, other_id))
    statuses = cases.with_case_status(alerts_df, cases.history(spark, config))
    assert {(r.alert_id, r.case_status) for r in statuses.collect()} == {
        (alert_id, "CLOSED"),
        (other_id, "NEW"),
    }
