"""The streaming job against the real broker: events reach silver and gold, every kind of bad
message is quarantined with its reason, each offset is accounted for once, and kcat (an
independent client) both feeds the topic and reads the alerts back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from pyspark.sql import functions as F
from tests.integration.keys import ephemeral_keys
from tests.integration.stream_env import StreamEnv, kcat, make_stream_env

from aml.config import Config
from aml.generate.generator import generate
from aml.stream import job as stream_job
from aml.stream.contract import encode
from aml.stream.produce import dataset_rows, make_producer, produce, synthetic_rows

MAX_BYTES = 4096
GOOD = {
    "time": "10:35:19",
    "date": "2022-10-09",
    "sender_account": "8724731955",
    "receiver_account": "2769355426",
    "amount": "1459.15",
    "payment_currency": "UK pounds",
    "received_currency": "UK pounds",
    "sender_bank_location": "UK",
    "receiver_bank_location": "UK",
    "payment_type": "Cheque",
    "is_laundering": "0",
    "laundering_type": "Normal_Small_Fan_Out",
}


def _json(tx_id: object, **changes: object) -> bytes:
    fields = {"transaction_id": tx_id, **GOOD, "amount": 1459.15, "is_laundering": 0}
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}).encode()


# (what is wrong, the message value, the reason code it must be quarantined with)
MALFORMED = [
    ("not JSON", b"this is not json", "NOT_JSON"),
    ("not UTF-8", b"\xff\xfe\x00\x81", "NOT_JSON"),
    ("no value (tombstone)", None, "EMPTY_MESSAGE"),
    ("JSON but an array", b"[1, 2, 3]", "NOT_OBJECT"),
    ("amount as a string", _json(900_001, amount="12.50"), "WRONG_TYPE"),
    ("id as a string", _json("abc"), "WRONG_TYPE"),
    ("label as a boolean", _json(900_002, is_laundering=True), "WRONG_TYPE"),
    ("missing receiver", _json(900_003, receiver_account=...), "MISSING_FIELD"),
    ("unknown payment type", _json(900_004, payment_type="Barter"), "UNKNOWN_PAYMENT_TYPE"),
    ("unknown currency", _json(900_005, payment_currency="Doubloons"), "UNKNOWN_CURRENCY"),
    ("impossible date", _json(900_006, date="2022-02-30"), "BAD_DATE"),
    ("negative amount", _json(900_007, amount=-5.0), "NON_POSITIVE_AMOUNT"),
    ("self transfer", _json(900_008, receiver_account=GOOD["sender_account"]), "SELF_TRANSFER"),
    ("oversize field", _json(900_009, sender_bank_location="X" * 100), "OVERSIZE_FIELD"),
    ("oversize message", _json(900_010, note="x" * (MAX_BYTES + 1)), "OVERSIZE_MESSAGE"),
]
KCAT_IDS = (990_001, 990_002, 990_003)


@pytest.fixture(scope="module")
def streamed(spark, services: Config, tmp_path_factory) -> Iterator[tuple[StreamEnv, dict]]:
    """Generated transactions, the malformed messages and three kcat events, streamed once."""
    root = tmp_path_factory.mktemp("stream")
    with ephemeral_keys():
        env = make_stream_env(services, root, max_message_bytes=MAX_BYTES)
        generate(root / "dataset", rows=3000, seed=5)
        sent = produce(env.config, dataset_rows(root / "dataset"), rate=0)
        refs = {}
        producer = make_producer(env.config)
        for what, value, reason in MALFORMED:
            meta = producer.send(env.topic, key=b"bad", value=value).get(timeout=30)
            refs[f"{env.topic}/{meta.partition}/{meta.offset}"] = (what, reason)
        producer.close()
        lines = b"".join(
            b"%s|%s\n" % (GOOD["sender_account"].encode(), encode({**GOOD, "transaction_id": i}))
            for i in KCAT_IDS
        )
        kcat(env, "-P", "-t", env.topic, "-K", "|", data=lines)
        result = stream_job.run(spark, env.config, available_now=True)
        yield env, {"sent": sent.sent, "malformed": refs, "result": result}


def _table(spark, env: StreamEnv, layer: str, name: str):
    return spark.read.format("delta").load(env.config.table_path(layer, name))


def test_bronze_holds_every_offset_exactly_once(spark, streamed) -> None:
    env, facts = streamed
    bronze_df = _table(spark, env, "bronze", "transaction_events")
    expected = sum(env.end_offsets().values())
    assert expected == facts["sent"] + len(MALFORMED) + len(KCAT_IDS)
    assert bronze_df.count() == expected
    assert bronze_df.select("partition", "offset").distinct().count() == expected


def test_every_kind_of_bad_message_is_quarantined_with_its_reason(spark, streamed) -> None:
    env, facts = streamed
    quarantine = {
        r["_source_ref"]: r["reason_code"]
        for r in _table(spark, env, "quarantine", "transactions").collect()
    }
    judged = {ref: (what, quarantine.get(ref)) for ref, (what, _) in facts["malformed"].items()}
    expected = {ref: (what, reason) for ref, (what, reason) in facts["malformed"].items()}
    assert judged == expected
    assert len({reason for _, reason in expected.values()}) >= 8


def test_each_offset_lands_in_exactly_one_of_silver_and_quarantine(spark, streamed) -> None:
    env, _ = streamed
    bronze = {
        f"{r['topic']}/{r['partition']}/{r['offset']}"
        for r in _table(spark, env, "bronze", "transaction_events").collect()
    }
    silver = [r["_source_ref"] for r in _table(spark, env, "silver", "transactions").collect()]
    quarantined = [
        r["_source_ref"] for r in _table(spark, env, "quarantine", "transactions").collect()
    ]
    assert len(silver) == len(set(silver)) and len(quarantined) == len(set(quarantined))
    assert set(silver).isdisjoint(quarantined)
    assert set(silver) | set(quarantined) == bronze


def test_valid_events_from_both_producers_reach_silver_and_gold(spark, streamed) -> None:
    env, facts = streamed
    silver_df = _table(spark, env, "silver", "transactions")
    assert silver_df.count() == facts["sent"] + len(KCAT_IDS)
    assert silver_df.where(F.col("transaction_id").isin(*KCAT_IDS)).count() == len(KCAT_IDS)
    hits_df = _table(spark, env, "gold", "suspicious_transactions")
    assert hits_df.count() > 0
    orphans = hits_df.join(silver_df, on="transaction_id", how="left_anti")
    assert orphans.count() == 0


def test_alerts_published_to_kafka_are_read_back_by_kcat(spark, streamed) -> None:
    env, facts = streamed
    alert_ids = {r["alert_id"] for r in _table(spark, env, "gold", "alerts").collect()}
    out = kcat(env, "-C", "-t", env.alerts_topic, "-o", "beginning", "-e", "-f", "%k\t%s\n")
    messages = dict(line.split("\t", 1) for line in out.decode().splitlines() if line)
    assert set(messages) == alert_ids
    some = json.loads(next(iter(messages.values())))
    assert some["alert_id"] in alert_ids and some["transaction_ids"]
    assert facts["result"]["alerts"] >= len(alert_ids)


def test_a_replay_with_nothing_new_changes_no_table(spark, streamed) -> None:
    env, _ = streamed
    from aml import delta_io

    tables = [("silver", "transactions"), ("gold", "alerts"), ("bronze", "transaction_events")]
    before = {t: delta_io.current_version(spark, env.config.table_path(*t)) for t in tables}
    stream_job.run(spark, env.config, available_now=True)
    after = {t: delta_io.current_version(spark, env.config.table_path(*t)) for t in tables}
    assert after == before


def test_live_events_are_built_while_the_job_runs_and_a_stop_is_clean(spark, streamed) -> None:
    """Events stamped "now" and produced while the job runs reach silver (they are not judged
    against the time the job started), and a stop request ends the job without an error."""
    env, _ = streamed
    first_id = 5_000_000
    stop, result = threading.Event(), {}
    job = threading.Thread(
        target=lambda: result.update(
            stream_job.run(spark, env.config, trigger="1 second", stop=stop)
        )
    )
    job.start()
    try:
        deadline = time.monotonic() + 120
        while not spark.streams.active and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5)
        produce(env.config, synthetic_rows(first_id, seed=2), rate=0, limit=200)
        new_ids = F.col("transaction_id").between(first_id, first_id + 199)
        silver_df = _table(spark, env, "silver", "transactions")
        deadline = time.monotonic() + 300
        while silver_df.where(new_ids).count() < 200 and time.monotonic() < deadline:
            time.sleep(5)
            silver_df = _table(spark, env, "silver", "transactions")
    finally:
        stop.set()
        job.join(timeout=600)
    assert not job.is_alive() and result["events"] == 200
    assert silver_df.where(new_ids).count() == 200
    assert _table(spark, env, "quarantine", "transactions").where(new_ids).count() == 0
