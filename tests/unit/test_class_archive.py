"""The driver JVM's class-data archive: named for exactly the JDK and jars it fits, used only
when it exists and is turned on, and accepted by the JVM a session starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aml import class_archive
from aml.config import ConfigError, load_config


@pytest.fixture
def jars(tmp_path: Path) -> list[Path]:
    out = []
    for name in ("spark-core_2.13-4.1.1.jar", "delta-spark_2.13-4.0.0.jar"):
        jar = tmp_path / "jars" / name
        jar.parent.mkdir(exist_ok=True)
        jar.write_bytes(b"PK" + name.encode())
        out.append(jar)
    return out


@pytest.fixture
def jdk(tmp_path: Path) -> Path:
    modules = tmp_path / "jdk" / "lib" / "modules"
    modules.parent.mkdir(parents=True)
    modules.write_bytes(b"jimage")
    return modules.parent.parent


def test_the_fingerprint_follows_every_jar_and_the_jdk_and_not_their_order(jars, jdk):
    before = class_archive.fingerprint(jars, jdk)
    assert class_archive.fingerprint(list(reversed(jars)), jdk) == before
    # a jar rewritten with another size, then only touched: both change what the JVM checks
    jars[0].write_bytes(b"PK-longer")
    resized = class_archive.fingerprint(jars, jdk)
    assert resized != before
    stat = jars[0].stat()
    os.utime(jars[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert class_archive.fingerprint(jars, jdk) != resized
    touched = class_archive.fingerprint(jars, jdk)
    assert class_archive.fingerprint(jars[:1], jdk) != touched  # a jar fewer
    (jdk / "lib" / "modules").write_bytes(b"another jimage")
    assert class_archive.fingerprint(jars, jdk) != touched


def test_options_name_the_archive_only_when_it_exists_and_is_on(jars, jdk, tmp_path, monkeypatch):
    monkeypatch.setattr(class_archive, "driver_class_path", lambda config: jars)
    monkeypatch.setattr(class_archive, "java_home", lambda: jdk)
    config = load_config("local").with_settings("jars", dir=str(tmp_path / "resolved"))
    path = class_archive.archive_path(config)
    assert path.parent == tmp_path / "cds" and path.suffix == ".jsa"
    assert class_archive.java_options(config) == ""  # not built yet
    path.parent.mkdir()
    path.write_bytes(b"archive")
    assert class_archive.java_options(config) == f"-XX:SharedArchiveFile={path}"
    off = config.with_settings("jars", class_archive=False)
    assert class_archive.java_options(off) == ""
    # an archive for other jars is never named
    jars[1].write_bytes(b"PK-new-release")
    assert class_archive.java_options(config) == ""


def test_a_setting_that_is_not_a_boolean_stops_the_session_start_with_its_name():
    config = load_config("local").with_settings("jars", class_archive="yes")
    with pytest.raises(ConfigError, match="class_archive"):
        class_archive.java_options(config)


def test_a_session_maps_the_archive_or_its_jvm_does_not_start():
    """With ``-Xshare:on`` a JVM whose archive does not fit its JDK and class path refuses to
    start: the session below starting proves the archive named for these jars is used."""
    config = load_config("local")
    path = class_archive.build(config)  # what bootstrap did (nothing to do when up to date)
    code = (
        "from aml.config import load_config\n"
        "from aml.spark import build_session\n"
        "spark = build_session(load_config('local'), 'cds-check', {'spark.ui.enabled': 'false',"
        " 'spark.driver.extraJavaOptions': '-Xshare:on -Duser.timezone=UTC'})\n"
        "print(spark.conf.get('spark.driver.extraJavaOptions'))\n"
        "print('rows', spark.range(3).count())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"-XX:SharedArchiveFile={path}" in proc.stdout
    assert "rows 3" in proc.stdout
