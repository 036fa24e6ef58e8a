"""Kafka connection settings from ``[kafka]`` for both clients: kafka-python and Spark's source.

Plain text on loopback by default. A site with SASL and/or TLS adds ``[kafka.security]``::

    [kafka.security]
    protocol = "SASL_SSL"            # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism = "SCRAM-SHA-512" # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
    sasl_username = "aml-stream"
    sasl_password_env = "AML_KAFKA_PASSWORD"   # the password itself never lives in conf/
    ssl_cafile = "/etc/aml/kafka-ca.pem"       # PEM bundle of the brokers' CA

The same section serves the producer, the alert publisher and the Spark source, so the three can
never disagree about how to reach the cluster.
"""

from __future__ import annotations

import os
from typing import Any

from aml.config import Config, ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def kafka_section(config: Config) -> dict[str, Any]:
    return config.section("kafka")


def bootstrap_servers(config: Config) -> str:
    return str(kafka_section(config)["bootstrap_servers"])


def _security(config: Config) -> dict[str, Any]:
    security = dict(kafka_section(config).get("security", {}))
    protocol = str(security.get("protocol", "PLAINTEXT")).upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"[kafka.security] protocol must be one of {PROTOCOLS}, not {protocol}")
    security["protocol"] = protocol
    if protocol.startswith("SASL"):
        mechanism = str(security.get("sasl_mechanism", "PLAIN")).upper()
        if mechanism not in LOGIN_MODULES:
            raise ConfigError(
                f"[kafka.security] sasl_mechanism must be one of {list(LOGIN_MODULES)}"
            )
        env = str(security.get("sasl_password_env", "AML_KAFKA_PASSWORD"))
        password = os.environ.get(env)
        if not security.get("sasl_username") or password is None:
            raise ConfigError(
                f"[kafka.security] {protocol} needs sasl_username and the password in ${env}"
            )
        security.update(sasl_mechanism=mechanism, password=password)
    return security


def python_client_settings(config: Config) -> dict[str, Any]:
    """Keyword arguments for kafka-python's producers, consumers and admin client."""
    security = _security(config)
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(config),
        "security_protocol": security["protocol"],
    }
    if security["protocol"].startswith("SASL"):
        settings.update(
            sasl_mechanism=security["sasl_mechanism"],
            sasl_plain_username=str(security["sasl_username"]),
            sasl_plain_password=security["password"],
        )
    if security["protocol"].endswith("SSL") and security.get("ssl_cafile"):
        settings["ssl_cafile"] = str(security["ssl_cafile"])
    return settings


def spark_options(config: Config) -> dict[str, str]:
    """``kafka.*`` options of Spark's Kafka source and sink (the Java client's settings)."""
    security = _security(config)
    options = {
        "kafka.bootstrap.servers": bootstrap_servers(config),
        "kafka.security.protocol": security["protocol"],
    }
    if security["protocol"].startswith("SASL"):
        module = LOGIN_MODULES[security["sasl_mechanism"]]
        user = str(security["sasl_username"]).replace('"', '\\"')
        secret = security["password"].replace('"', '\\"')
        options.update(
            {
                "kafka.sasl.mechanism": security["sasl_mechanism"],
                "kafka.sasl.jaas.config": (
                    f'{module} required username="{user}" password="{secret}";'
                ),
            }
        )
    if security["protocol"].endswith("SSL") and security.get("ssl_cafile"):
        options.update(
            {
                "kafka.ssl.truststore.type": "PEM",
                "kafka.ssl.truststore.location": str(security["ssl_cafile"]),
            }
        )
    return options
