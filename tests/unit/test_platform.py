"""Environments, the JVM dependency manifest and the Spark session factory."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import pytest

from aml import jars
from aml.config import ConfigError, load_config
from aml.spark import read_properties, session_settings


def test_unknown_environment_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: .*local"):
        load_config("nope")


def test_password_comes_from_the_environment_before_the_secret_file(monkeypatch, tmp_path):
    config = load_config("local")
    data = {**config.data, "paths": {**config.data["paths"], "secrets": str(tmp_path)}}
    config = replace(config, data=data)
    monkeypatch.delenv("AML_POSTGRES_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="AML_POSTGRES_PASSWORD") as err:
        config.source_password("postgres")
    assert "aml services up" in str(err.value)
    (tmp_path / "postgres.password").write_text("from-file\n")
    assert config.source_password("postgres") == "from-file"
    monkeypatch.setenv("AML_POSTGRES_PASSWORD", "from-env")
    assert config.source_password("postgres") == "from-env"


def test_written_overrides_give_a_subprocess_the_same_environment(tmp_path):
    from aml.services.isolated import isolated_config, scratch

    isolated = isolated_config(load_config("local"))  # other ports, paths and lake
    try:
        config = isolated.with_lake(tmp_path / "lake").with_settings("gold", rule_pack="v1")
        path = config.write_overrides(tmp_path / "overrides.toml")
        again = load_config("local", overrides=path)
        assert again.data == config.data
        assert again.source("postgres")["port"] != load_config("local").source("postgres")["port"]
        assert again.table_path("gold", "alerts") == f"{tmp_path}/lake/gold/alerts"
    finally:
        scratch(isolated).rmdir()


def test_unknown_source_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown source 'oracle'"):
        load_config("local").source("oracle")


def test_manifest_yields_the_packages_coordinates():
    coords = jars.packages()
    artifacts = {c.split(":")[1] for c in coords}
    assert {
        "delta-spark_4.1_2.13",
        "spark-sql-kafka-0-10_2.13",
        "postgresql",
        "mariadb-java-client",
    } <= artifacts
    assert all(len(c.split(":")) == 3 and "${" not in c for c in coords)
    assert not any(c.startswith("org.apache.spark:spark-sql_") for c in coords)  # provided


@pytest.mark.parametrize(
    ("file_name", "artifact"),
    [
        ("jackson-core-2.20.0.jar", "jackson-core"),
        ("delta-spark_4.1_2.13-4.4.0.jar", "delta-spark_4.1_2.13"),
        ("spark-sql-kafka-0-10_2.13-4.1.1.jar", "spark-sql-kafka-0-10_2.13"),
        ("netty-codec-native-quic-4.2.7.Final-linux-x86_64.jar", "netty-codec-native-quic"),
        ("hive-exec-2.3.10-core.jar", "hive-exec"),
    ],
)
def test_artifact_name_strips_the_version(file_name, artifact):
    assert jars.artifact_name(file_name) == artifact


def test_resolved_jars_exclude_what_pyspark_ships_and_include_the_kafka_extras():
    config = load_config("local")
    chosen = jars.spark_jars(jars.jar_dir(config))
    names = {jars.artifact_name(j) for j in chosen}
    shipped = {jars.artifact_name(j) for j in jars.pyspark_jars_dir().glob("*.jar")}
    assert not names & shipped
    assert {
        "delta-spark_4.1_2.13",
        "spark-sql-kafka-0-10_2.13",
        "spark-token-provider-kafka-0-10_2.13",
        "kafka-clients",
        "commons-pool2",
        "postgresql",
        "mariadb-java-client",
    } <= names


def test_missing_jars_folder_tells_how_to_resolve(tmp_path):
    with pytest.raises(jars.JarsError, match="aml jars resolve"):
        jars.spark_jars(tmp_path / "none")


def test_settings_merge_defaults_environment_and_jar_mode():
    config = load_config("local")
    settings = session_settings(config, "t")
    defaults = read_properties(config.root / "spark-conf" / "spark-defaults.conf")
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert settings["spark.sql.extensions"] == defaults["spark.sql.extensions"]
    assert settings["spark.master"] == "local[2]"
    assert "delta-spark_4.1_2.13" in settings["spark.jars"]
    packaged = replace(config, data={**config.data, "jars": {"mode": "packages"}})
    pk = session_settings(packaged, "t")
    assert "spark.jars" not in pk
    assert "io.delta:delta-spark_4.1_2.13" in pk["spark.jars.packages"]


def test_session_is_utc_delta_enabled_and_uses_this_python(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    worker_python = (
        spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
    )
    assert worker_python == sys.executable
    ts = spark.sql("SELECT CAST(TIMESTAMP'2024-01-01 00:00:00' AS LONG) AS s").first()["s"]
    assert ts == 1704067200


def test_delta_table_is_written_and_read_back_with_time_travel(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "tt")
    spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING").write.format("delta").save(path)
    updates = spark.createDataFrame([(2, "B"), (3, "c"), (None, None)], "id INT, v STRING")
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(updates.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    v0 = {
        tuple(r) for r in spark.read.format("delta").option("versionAsOf", 0).load(path).collect()
    }
    v1 = {tuple(r) for r in spark.read.format("delta").load(path).collect()}
    assert v0 == {(1, "a"), (2, "b")}
    assert v1 == {(1, "a"), (2, "B"), (3, "c"), (None, None)}
    history = DeltaTable.forPath(spark, path).history().select("version", "operation").collect()
    assert {(r.version, r.operation) for r in history} == {(0, "WRITE"), (1, "MERGE")}
