"""Spark itself talks to the real services: the Kafka source and JDBC from both databases."""

from __future__ import annotations

import json
import uuid

from aml.config import Config
from aml.sources import db


def test_spark_kafka_source_reads_what_kafka_python_produced(spark, services: Config):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    bootstrap = services.section("kafka")["bootstrap_servers"]
    topic = f"aml.test.spark.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        sent = [{"transaction_id": i, "amount": f"{i * 10}.50"} for i in range(50)]
        for event in sent:
            producer.send(
                topic, key=str(event["transaction_id"]).encode(), value=json.dumps(event).encode()
            )
        producer.flush()
        producer.close()
        df = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
        )
        rows = df.selectExpr(
            "CAST(key AS STRING) k", "CAST(value AS STRING) v", "partition", "offset"
        ).collect()
        assert sorted(json.loads(r.v)["transaction_id"] for r in rows) == list(range(50))
        assert all(json.loads(r.v)["transaction_id"] == int(r.k) for r in rows)
        assert {r.partition for r in rows} == {0, 1}
    finally:
        admin.delete_topics([topic])
        admin.close()


def _jdbc_roundtrip(spark, config: Config, source: str) -> list:
    marker = uuid.uuid4().hex[:16]
    with db.connect(config, source) as conn:
        cur = conn.cursor()
        cur.execute("DELETE FROM core.customers WHERE customer_id BETWEEN 990000001 AND 990000003")
        for i, pep in ((1, True), (2, False), (3, False)):
            cur.execute(
                "INSERT INTO core.customers (customer_id, full_name, date_of_birth, country, "
                "risk_rating, is_pep) VALUES (%s, %s, DATE '1970-01-02', 'GB', 'HIGH', %s)",
                (990000000 + i, f"{marker}-{i}", pep),
            )
        conn.commit()
    try:
        return (
            spark.read.jdbc(
                db.jdbc_url(config, source),
                f"(SELECT * FROM core.customers WHERE full_name LIKE '{marker}%') c",
                properties=db.jdbc_properties(config, source),
            )
            .orderBy("customer_id")
            .collect()
        )
    finally:
        with db.connect(config, source) as conn:
            conn.cursor().execute(
                "DELETE FROM core.customers WHERE customer_id BETWEEN 990000001 AND 990000003"
            )
            conn.commit()


def test_spark_jdbc_reads_postgresql(spark, services: Config):
    rows = _jdbc_roundtrip(spark, services, "postgres")
    assert [r.customer_id for r in rows] == [990000001, 990000002, 990000003]
    assert [bool(r.is_pep) for r in rows] == [True, False, False]
    assert str(rows[0].date_of_birth) == "1970-01-02"


def test_spark_jdbc_reads_mariadb(spark, services: Config):
    rows = _jdbc_roundtrip(spark, services, "mariadb")
    assert [r.customer_id for r in rows] == [990000001, 990000002, 990000003]
    assert [bool(r.is_pep) for r in rows] == [True, False, False]
    assert str(rows[0].date_of_birth) == "1970-01-02"
