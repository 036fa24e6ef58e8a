"""A bare SAML-D CSV, loaded with ``aml load --saml-d``, reaches bronze unchanged.

Every bronze row, written back in the SAML-D text format, must equal its line of the file
(ids follow file order), so nothing was coerced, rounded, re-zoned or dropped on the way.
"""

from __future__ import annotations

import shutil

import pytest
from tests.integration.relocate import relocated_lake

from aml.cli import main as aml_main
from aml.config import Config
from aml.generate.generator import generate
from aml.ingest import job
from aml.sources import db


@pytest.fixture(scope="module")
def saml_d_file(tmp_path_factory: pytest.TempPathFactory):
    """A real-format SAML-D file: the generator's transactions.csv alone, no manifest beside it."""
    dataset = tmp_path_factory.mktemp("dataset")
    generate(dataset, rows=20_000, seed=5)
    bare = tmp_path_factory.mktemp("bare") / "SAML-D.csv"
    shutil.copy(dataset / "transactions.csv", bare)
    return bare


@pytest.mark.parametrize("source", ["postgres", "mariadb"])
def test_saml_d_csv_flows_into_bronze_unchanged(
    spark, services: Config, saml_d_file, tmp_path, source, monkeypatch
):
    from pyspark.sql import functions as F

    # the command below reads the overrides file, so it loads into this test's source database
    # (a pytest-xdist worker has its own)
    config, overrides = relocated_lake(services, tmp_path, source=source)
    with db.connect(config, source) as conn:
        cur = conn.cursor()
        cur.execute("TRUNCATE TABLE core.transactions")
        cur.execute("DELETE FROM core.loaded_files")
        conn.commit()
    monkeypatch.setenv("AML_OVERRIDES", str(overrides))
    assert aml_main(["load", "--source", source, "--saml-d", str(saml_d_file)]) == 0
    job.run(spark, config, ["transactions"], source)

    bronze = spark.read.format("delta").load(config.table_path("bronze", "transactions"))
    as_text = (
        bronze.orderBy("transaction_id")
        .select(
            F.concat_ws(
                ",",
                "time",
                F.col("date").cast("string"),
                F.col("sender_account").cast("string"),
                F.col("receiver_account").cast("string"),
                F.col("amount").cast("string"),
                "payment_currency",
                "received_currency",
                "sender_bank_location",
                "receiver_bank_location",
                "payment_type",
                F.col("is_laundering").cast("string"),
                "laundering_type",
            ).alias("line"),
            "transaction_id",
        )
        .collect()
    )
    lines = saml_d_file.read_text().splitlines()
    assert lines[0].startswith("Time,Date,Sender_account")
    assert [r.line for r in as_text] == lines[1:]
    ids = [r.transaction_id for r in as_text]
    assert ids == list(range(ids[0], ids[0] + len(lines) - 1))
    with db.connect(config, source) as conn:
        cur = conn.cursor()
        cur.execute("TRUNCATE TABLE core.transactions")
        cur.execute("DELETE FROM core.loaded_files")
        conn.commit()
