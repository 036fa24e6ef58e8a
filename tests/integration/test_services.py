"""``aml services``: idempotent start, status, a real Kafka round trip, and a clean stop."""

from __future__ import annotations

import argparse
import socket
import time
import uuid

import pytest

from aml.config import Config
from aml.services import cli, manager, process
from aml.services.base import ServiceError, find_binary, port_open

pytestmark = pytest.mark.integration


def _pids(config: Config) -> dict[str, int | None]:
    return {st.name: st.pid for st in manager.status(config)}


def test_up_twice_keeps_the_same_healthy_processes(services: Config) -> None:
    before = _pids(services)
    again = manager.up(services)
    assert {st.name: st.pid for st in again} == before
    assert all(st.running and st.healthy for st in manager.status(services))


def test_status_reports_every_service_running(
    services: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.cmd_status(argparse.Namespace(env=None, only=None))
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == ["postgres", "mariadb", "kafka"]
    assert all(" running " in line and "health=ok" in line for line in lines)


def test_kafka_has_the_configured_topics_with_three_partitions(services: Config) -> None:
    from kafka import KafkaConsumer

    kafka = services.section("kafka")
    consumer = KafkaConsumer(bootstrap_servers=kafka["bootstrap_servers"])
    try:
        for topic in (kafka["transactions_topic"], kafka["alerts_topic"]):
            assert consumer.partitions_for_topic(topic) == {0, 1, 2}
    finally:
        consumer.close()


def test_kafka_round_trip_with_idempotent_producer(services: Config) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    bootstrap = services.section("kafka")["bootstrap_servers"]
    topic = f"aml.test.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
        meta = producer.send(topic, key=b"txn-1", value=b'{"amount": "12600000.00"}').get(30)
        producer.close()
        assert meta.offset == 0
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"aml-test-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            consumer_timeout_ms=30_000,
        )
        try:
            record = next(iter(consumer))
        finally:
            consumer.close()
        assert (record.key, record.value) == (b"txn-1", b'{"amount": "12600000.00"}')
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_up_refuses_a_port_held_by_another_process(isolated_config: Config) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", int(isolated_config.source("postgres")["port"])))
    holder.listen()
    try:
        with pytest.raises(ServiceError, match="already used by"):
            manager.up(isolated_config, only="postgres")
    finally:
        holder.close()


def test_missing_binary_names_the_debian_package() -> None:
    with pytest.raises(ServiceError, match="apt-get install mariadb-server"):
        find_binary("no-such-mariadbd", "mariadb-server")


def test_down_leaves_no_process_and_no_port_behind(
    isolated_config: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = manager.up(isolated_config)
    assert all(st.healthy for st in started)
    pids = {st.name: st.pid for st in started}
    svcs = manager.services(isolated_config)
    ports = [port for svc in svcs for port in svc.ports]
    families = {pid for pid in pids.values() if pid for pid in process.process_family(pid)}

    manager.down(isolated_config)

    assert not [p for p in families if process.pid_alive(p)]
    assert not [svc.name for svc in svcs if process.find_pids(svc.marker)]
    assert not [port for port in ports if port_open("127.0.0.1", port)]
    assert cli.cmd_status(argparse.Namespace(env=None, only=None)) == 0  # shared ones untouched
    capsys.readouterr()
    monkeypatch.setattr(cli, "load_config", lambda env=None: isolated_config)
    assert cli.cmd_status(argparse.Namespace(env=None, only=None)) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(" stopped " in line for line in lines)


def test_a_server_that_cannot_start_points_at_its_log(isolated_config: Config) -> None:
    manager.up(isolated_config, only="postgres")
    manager.down(isolated_config, only="postgres")
    svc = manager.services(isolated_config, only="postgres")[0]
    conf = svc.data_dir / "postgresql.conf"  # type: ignore[attr-defined]
    conf.write_text(conf.read_text() + "\nthis is not a setting\n")
    start = time.monotonic()
    with pytest.raises(ServiceError) as failure:
        manager.up(isolated_config, only="postgres", timeout=60)
    assert str(svc.log_file) in str(failure.value)
    assert time.monotonic() - start < 30  # noticed the exit, did not wait for the timeout
    assert svc.pid() is None
