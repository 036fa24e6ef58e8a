"""JVM dependencies of the Spark jobs, from the one manifest ``spark-conf/pom.xml``.

Spark's own ``spark.jars.packages`` runs Ivy against the internet at session start, which fails
on air-gapped clusters. So the manifest is resolved once with Maven into a git-ignored folder and
the files are handed to Spark as ``spark.jars``. Maven also pulls copies of jars pyspark already
ships (Hadoop client, Jackson, Log4j, Parquet); loading two versions of those breaks the driver,
so :func:`spark_jars` drops every artifact that pyspark's ``jars/`` already holds.

The same manifest yields the coordinates for ``spark.jars.packages`` (:func:`packages`), for users
whose clusters can reach Maven Central.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from aml import class_archive
from aml.class_archive import ArchiveError
from aml.config import PROJECT_ROOT, Config, ConfigError, load_config

log = logging.getLogger(__name__)

SPARK_POM = PROJECT_ROOT / "spark-conf" / "pom.xml"
_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_JAR_NAME = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z][\w.]*)*)\.jar$")


class JarsError(RuntimeError):
    """The JVM dependencies are not resolved or cannot be resolved."""


def packages(pom: Path = SPARK_POM) -> list[str]:
    """Maven coordinates (``group:artifact:version``) of the non-provided dependencies."""
    root = ET.parse(pom).getroot()
    props_el = root.find("m:properties", _NS)
    props = {
        el.tag.split("}", 1)[1]: (el.text or "").strip()
        for el in (list(props_el) if props_el is not None else [])
    }

    def expand(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], text)

    coords = []
    for dep in root.iterfind("m:dependencies/m:dependency", _NS):
        if (dep.findtext("m:scope", default="", namespaces=_NS) or "") == "provided":
            continue
        group, artifact, version = (
            expand(dep.findtext(f"m:{tag}", default="", namespaces=_NS))
            for tag in ("groupId", "artifactId", "version")
        )
        coords.append(f"{group}:{artifact}:{version}")
    return coords


def artifact_name(jar: Path | str) -> str:
    """``jackson-core-2.20.0.jar`` -> ``jackson-core`` (the name without its version)."""
    name = Path(jar).name
    match = _JAR_NAME.match(name)
    return match.group("artifact") if match else name.removesuffix(".jar")


def pyspark_jars_dir() -> Path:
    import pyspark  # local import: keeps `aml --help` fast

    return Path(pyspark.__file__).parent / "jars"


def resolve(out_dir: Path, pom: Path = SPARK_POM, force: bool = False) -> Path:
    """Runs Maven to copy the runtime dependencies of ``pom`` into ``out_dir``.

    Idempotent: an existing, non-empty folder is kept unless ``force``. Maven writes into a
    temporary sibling that is renamed at the end, so a killed run never leaves half a folder
    that later looks complete.
    """
    if out_dir.is_dir() and any(out_dir.glob("*.jar")) and not force:
        log.info("jars already resolved in %s", out_dir)
        return out_dir
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("resolving %s with Maven into %s", pom.name, out_dir)
    copy_dependencies(pom, tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    log.info("resolved %d jars", len(list(out_dir.glob("*.jar"))))
    return out_dir


def copy_dependencies(pom: Path, out_dir: Path, timeout: float = 900) -> None:
    """``mvn dependency:copy-dependencies`` of a manifest's runtime scope into ``out_dir``.

    Raises:
        JarsError: Maven is missing or failed (the message ends with Maven's last lines).
    """
    mvn = shutil.which("mvn")
    if not mvn:
        raise JarsError("Maven (`mvn`) is not on PATH; install it (apt-get install maven)")
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={out_dir}"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise JarsError(f"Maven could not resolve {pom}:\n{tail}")


def spark_jars(jar_dir: Path) -> list[Path]:
    """Jars to hand to Spark: the resolved ones minus artifacts pyspark already ships."""
    if not jar_dir.is_dir() or not any(jar_dir.glob("*.jar")):
        raise JarsError(
            f"no resolved jars in {jar_dir}; run `aml jars resolve` (needs Maven) first"
        )
    shipped = {artifact_name(j) for j in pyspark_jars_dir().glob("*.jar")}
    return sorted(j for j in jar_dir.glob("*.jar") if artifact_name(j) not in shipped)


def jar_dir(config: Config) -> Path:
    return config.path(config.section("jars")["dir"])


def _cmd_jars(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    try:
        if args.jars_command == "resolve":
            resolve(jar_dir(config), force=args.force)
            return 0
        if args.jars_command == "packages":
            print(",".join(packages()))
            return 0
        if args.jars_command == "archive":
            if not class_archive.enabled(config):
                log.info("[jars] class_archive = false: no class-data archive")
                return 0
            print(class_archive.build(config, force=args.force))
            return 0
        print(",".join(str(j) for j in spark_jars(jar_dir(config))))
        return 0
    except (JarsError, ConfigError, ArchiveError) as exc:
        log.error("%s", exc)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jars", help="resolve and list the Spark JVM dependencies")
    parser.add_argument(
        "jars_command",
        choices=("resolve", "list", "packages", "archive"),
        help="resolve: Maven into the jars dir; list: spark.jars value; "
        "packages: spark.jars.packages value; archive: the driver JVM's class-data archive "
        "(aml.class_archive: job processes start faster)",
    )
    parser.add_argument(
        "--force", action="store_true", help="re-resolve (rebuild the archive) even if present"
    )
    parser.set_defaults(func=_cmd_jars)
