"""The one SparkSession factory of the project.

Only jobs' ``main()``, the notebooks' first cell and the test fixture call :func:`build_session`;
library functions take a ``SparkSession`` or a DataFrame. Settings come from two places, in order:
``spark-conf/spark-defaults.conf`` (shared by every environment) and ``[spark.conf]`` of the named
environment in ``conf/environments``. Under ``spark-submit`` the launcher's own settings (master,
``--jars``, ``--conf``) win: the factory does not override what is already set.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aml import class_archive, jars
from aml.config import PROJECT_ROOT, Config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

SPARK_CONF_DIR = PROJECT_ROOT / "spark-conf"


def read_properties(path: Path) -> dict[str, str]:
    """Parses a ``spark-defaults.conf``-style file (``key  value`` lines, ``#`` comments)."""
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        props[key] = value.strip()
    return props


def add_driver_option(settings: dict[str, str], option: str) -> None:
    """Appends one JVM option to the driver's ``spark.driver.extraJavaOptions`` in ``settings``."""
    settings["spark.driver.extraJavaOptions"] = (
        settings.get("spark.driver.extraJavaOptions", "") + " " + option
    ).strip()


def session_settings(config: Config, app_name: str) -> dict[str, str]:
    """All settings the factory applies, as one dict (pure: testable without a JVM)."""
    settings = read_properties(SPARK_CONF_DIR / "spark-defaults.conf")
    spark_section = config.section("spark")
    settings.update({k: str(v) for k, v in spark_section.get("conf", {}).items()})
    settings["spark.app.name"] = app_name
    if "master" in spark_section:
        settings["spark.master"] = spark_section["master"]
    log4j = SPARK_CONF_DIR / "log4j2.properties"
    if log4j.is_file():
        add_driver_option(settings, f"-Dlog4j2.configurationFile=file:{log4j}")
    jar_settings = config.section("jars")
    if jar_settings.get("mode", "local") == "packages":
        settings["spark.jars.packages"] = ",".join(jars.packages())
    else:
        settings["spark.jars"] = ",".join(str(j) for j in jars.spark_jars(jars.jar_dir(config)))
    return settings


LAUNCHER_OWNED = ("spark.master", "spark.jars", "spark.jars.packages", "spark.submit.pyFiles")


def under_spark_submit() -> bool:
    """True when ``spark-submit`` launched this Python process (it owns master and jars then)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_session(
    config: Config, app_name: str = "aml", extra: Mapping[str, str] | None = None
) -> SparkSession:
    """Builds (or returns the active) Delta-enabled SparkSession for an environment.

    Args:
        config: the resolved environment.
        app_name: Spark application name, shown in the UI and event logs.
        extra: settings that win over both files (tests use it for temp dirs).

    Returns:
        The session, with UTC time zone and the Delta extension and catalog.
    """
    from pyspark.sql import SparkSession

    # Python workers must run the interpreter that has the project installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    driver_host = config.section("spark").get("conf", {}).get("spark.driver.host")
    if driver_host:
        os.environ.setdefault("SPARK_LOCAL_IP", driver_host)
    settings = session_settings(config, app_name)
    settings.update(extra or {})
    # the driver JVM maps the class-data archive (aml.class_archive), or writes it when this is
    # the archive's training run
    cds = class_archive.dump_option() or class_archive.java_options(config)
    if cds and not under_spark_submit():
        add_driver_option(settings, cds)
    builder = SparkSession.builder
    for key, value in settings.items():
        if key in LAUNCHER_OWNED and under_spark_submit():
            continue
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("spark %s session '%s' on %s", spark.version, app_name, spark.sparkContext.master)
    return spark
