"""aml.gold.job.HeldSilver: the silver one gold run's hits and profiles read, held once."""

from __future__ import annotations

from tests.unit.gold_rows import Tx, tx_df

from aml.gold.evaluation import RULE_INPUT_COLUMNS
from aml.gold.job import HeldSilver


def _silver(spark, path: str, rows: list[Tx], mode: str) -> None:
    # silver has more columns than the rules read: one the held copy must leave out
    frame = tx_df(spark, rows)
    frame = frame.withColumn("sender_name_enc", frame["payment_type"])
    frame.write.format("delta").mode(mode).save(path)


def test_silver_is_held_once_per_version_with_the_rules_columns_only(spark, tmp_path):
    path = str(tmp_path / "silver")
    _silver(spark, path, [Tx(1, 0, "10", "a", "b"), Tx(None, None, None, None, None)], "overwrite")
    held = HeldSilver(spark, path)
    assert held.version is None  # nothing read before the first use
    first_df = held.at(0)
    assert held.at(0) is first_df  # held, not read again
    assert tuple(first_df.columns) == RULE_INPUT_COLUMNS
    assert first_df.count() == 2

    _silver(spark, path, [Tx(2, 5, "20", "b", "c")], "append")
    second_df = held.at(1)
    assert second_df is not first_df and held.version == 1
    assert sorted(r.transaction_id or 0 for r in second_df.collect()) == [0, 1, 2]

    held.close()
    assert held.version is None
    held.close()  # closing twice is harmless
