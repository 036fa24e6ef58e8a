"""A single-node Apache Kafka 4.x (KRaft, broker and controller in one JVM) from Maven jars.

There is no Kafka distribution to download here, so ``conf/services/kafka-broker-pom.xml`` is
resolved with Maven into ``var/jars/kafka`` (once; again only when the pinned Kafka version
changes) and the broker runs as ``java -cp 'var/jars/kafka/*' kafka.Kafka server.properties``.
``server.properties`` is written from the environment on every start; the storage is formatted
once (``kafka.tools.StorageTool format --standalone``). Topics are created from ``[kafka]`` after
the broker answers an admin client, and auto-creation is off so a typo cannot create a topic.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from pathlib import Path

from aml.config import PROJECT_ROOT, Config
from aml.jars import JarsError, copy_dependencies
from aml.services import base, process
from aml.services.base import ServiceError
from aml.services.service import LOOPBACK, Service

log = logging.getLogger(__name__)

POM_FILE = "kafka-broker-pom.xml"
LOG4J_FILE = "kafka-log4j2.xml"
DEFAULT_JARS_DIR = "var/jars/kafka"
JVM_OPTS = [
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
]
TOOL_JVM_OPTS = ["-Xmx256m", "-Djava.awt.headless=true"]
DEFAULT_PARTITIONS = 3


def conf_file(config: Config, name: str) -> Path:
    """A file of ``conf/services`` from the environment's root, else from the package's project
    (a test environment rooted in a temp dir still finds the pom and the Log4j config)."""
    for root in (config.root, PROJECT_ROOT):
        candidate = root / "conf" / "services" / name
        if candidate.is_file():
            return candidate
    raise ServiceError(f"kafka: conf/services/{name} not found under {config.root}")


def kafka_version(pom: Path) -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text(encoding="utf-8"))
    if not match:
        raise ServiceError(f"kafka: no <kafka.version> property in {pom}")
    return match.group(1).strip()


def java_binary() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return Path(java_home) / "bin" / "java"
    return base.find_binary("java", "openjdk-17-jre-headless")


def resolve_jars(config: Config) -> Path:
    """The broker's classpath folder, resolved with Maven unless it already holds this version."""
    jars_dir = config.path(str(config.section("kafka").get("jars_dir", DEFAULT_JARS_DIR)))
    pom = conf_file(config, POM_FILE)
    version = kafka_version(pom)
    if (jars_dir / f"kafka_2.13-{version}.jar").is_file():
        return jars_dir
    if jars_dir.is_dir():
        for stale in jars_dir.glob("*.jar"):
            stale.unlink()
    jars_dir.mkdir(parents=True, exist_ok=True)
    log.info("resolving Kafka %s jars with Maven into %s (first run only)…", version, jars_dir)
    try:
        copy_dependencies(pom, jars_dir)
    except JarsError as exc:
        raise ServiceError(f"kafka: {exc}") from None
    if not (jars_dir / f"kafka_2.13-{version}.jar").is_file():
        raise ServiceError(f"kafka: Maven resolved {pom} but no kafka_2.13-{version}.jar")
    return jars_dir


class KafkaService(Service):
    name = "kafka"
    start_timeout = 180.0

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.settings = config.section("kafka")
        host, _, port = str(self.settings["bootstrap_servers"]).split(",")[0].rpartition(":")
        self.host = self._client_host(host)
        self.broker_port = int(port)
        self.controller_port = int(self.settings.get("controller_port", 9093))
        self.data_dir = self.dir / "data"
        self.properties = self.dir / "server.properties"
        self.topics = [
            str(self.settings[k])
            for k in ("transactions_topic", "alerts_topic")
            if k in self.settings
        ]
        self.partitions = int(self.settings.get("partitions", DEFAULT_PARTITIONS))

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.broker_port}"

    @property
    def ports(self) -> list[int]:
        return [self.broker_port, self.controller_port]

    @property
    def marker(self) -> str:
        return str(self.properties)

    def _write_properties(self) -> None:
        b, c = self.broker_port, self.controller_port
        lines = [
            "# written by `aml services up` on every start: edits are overwritten",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={LOOPBACK}:{c}",
            f"listeners=PLAINTEXT://{LOOPBACK}:{b},CONTROLLER://{LOOPBACK}:{c}",
            f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{b}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.data_dir}",
            f"num.partitions={self.partitions}",
            "auto.create.topics.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
        ]
        self.properties.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _java(self, jars_dir: Path, main: str, *args: str | Path) -> list[str | Path]:
        log4j = conf_file(self.config, LOG4J_FILE)
        return [
            java_binary(),
            *(JVM_OPTS if main == "kafka.Kafka" else TOOL_JVM_OPTS),
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            f"{jars_dir}/*",
            main,
            *args,
        ]

    def _launch(self) -> None:
        jars_dir = resolve_jars(self.config)
        self._write_properties()
        if not (self.data_dir / "meta.properties").is_file():
            log.info("formatting Kafka storage in %s", self.data_dir)
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            out = base.run_tool(
                self._java(jars_dir, "kafka.tools.StorageTool", "random-uuid"),
                log_file=self.log_file,
                what="kafka random-uuid",
            )
            cluster_id = out.strip().splitlines()[-1].strip() if out.strip() else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id):
                raise ServiceError(
                    f"kafka: unexpected cluster id {cluster_id!r}; see {self.log_file}"
                )
            base.run_tool(
                self._java(
                    jars_dir,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    cluster_id,
                    "-c",
                    self.properties,
                ),
                log_file=self.log_file,
                what="kafka storage format",
            )
        process.spawn(
            self._java(jars_dir, "kafka.Kafka", self.properties),
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.dir,
        )

    def _admin(self):  # noqa: ANN202 - kafka.admin.KafkaAdminClient
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="aml-services", request_timeout_ms=10000
        )

    def _probe(self) -> None:
        if not base.port_open(self.host, self.broker_port):
            raise ServiceError(f"nothing accepts connections on {self.bootstrap} yet")
        admin = self._admin()
        try:
            admin.list_topics()
        finally:
            admin.close()

    def _provision(self) -> None:
        self.ensure_topics()

    def ensure_topics(self) -> None:
        """Creates the environment's topics that the broker lacks (a test's own topics too)."""
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = self._admin()
        try:
            missing = [t for t in self.topics if t not in set(admin.list_topics())]
            for topic in missing:
                log.info("kafka: creating topic %s (%d partitions)", topic, self.partitions)
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(topic, self.partitions, 1)], timeout_ms=30000)
            deadline = time.monotonic() + 30
            while missing and time.monotonic() < deadline:
                time.sleep(0.2)
                missing = [t for t in self.topics if t not in set(admin.list_topics())]
        finally:
            admin.close()

    def check_health(self) -> None:
        if not base.port_open(self.host, self.broker_port):
            raise ServiceError(f"no broker on {self.bootstrap}")
        admin = self._admin()
        try:
            topics = set(admin.list_topics())
        finally:
            admin.close()
        missing = [t for t in self.topics if t not in topics]
        if missing:
            raise ServiceError(f"topics missing: {missing}")
