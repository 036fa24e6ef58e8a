"""A class-data-sharing archive for the Spark driver JVM: every job process starts warmer.

Each job process (``aml run``, ``aml build gold``, a notebook's kernel, spark-submit in client
mode) starts a JVM that loads, verifies and links some 20,000 classes of Spark, Delta and their
dependencies before its first query, and again for the first Delta read and the first rule
evaluation. The JDK's application class-data sharing (AppCDS, JEP 350: a dynamic archive written
with ``-XX:ArchiveClassesAtExit`` and mapped with ``-XX:SharedArchiveFile``) stores those classes
already parsed and verified; a process that maps the archive skips that work (measured:
``bench/bench_class_archive.py``, docs/BENCHMARKS.md).

:func:`build` writes the archive once per machine (``aml jars archive``, run by
``scripts/bootstrap.sh``): a training process runs a small workload of what job processes do
first (:func:`_workload`: Delta writes, merges, change-feed reads; windowed SQL over synthetic
silver-shaped rows; Arrow to pandas) and its JVM writes the classes it loaded when it exits.
:func:`java_options` then adds the archive to every session :func:`aml.spark.build_session`
starts. It maps the JVM's start and first queries, not the rule pack's evaluation, whose first
run in a process is the JIT compiler's time (docs/BENCHMARKS.md).

The archive is only valid for the JDK and the exact jars it was written with; the JVM checks
them and, on any mismatch, prints one warning and runs without it. To avoid that, the file's name
carries a fingerprint of the JDK and of every jar on the driver's class path (name, size, mtime):
a new JDK, pyspark or resolved jar set makes :func:`java_options` find nothing, and the next
``aml jars archive`` (bootstrap) writes a new one. Sessions work the same without an archive,
only slower to start. ``[jars] class_archive = false`` turns it off.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from aml.config import Config

log = logging.getLogger(__name__)

SUFFIX = ".jsa"
_ERROR = re.compile(r"^[\w.]*(Error|Exception)\b")
# Bumped when the training workload changes enough to be worth a new archive.
TRAINING_VERSION = 2
# The training run's JVM writes its archive as it exits: how long to wait for that.
DUMP_TIMEOUT_S = 300
TRAIN_TIMEOUT_S = 1_200


class ArchiveError(RuntimeError):
    """The training run failed or its JVM wrote no archive."""


def enabled(config: Config) -> bool:
    """``[jars] class_archive`` (default true), for resolved jars only: with ``mode =
    "packages"`` Spark's resolver picks the jars at start, so no archive can match them."""
    jars = config.section("jars")
    value = jars.get("class_archive", True)
    if not isinstance(value, bool):
        from aml.config import ConfigError

        raise ConfigError(f"[jars] class_archive must be true or false, got {value!r}")
    return value and jars.get("mode", "local") == "local"


def archive_dir(config: Config) -> Path:
    """Beside the resolved jars (git-ignored ``var/``): ``<jars dir>/../cds``."""
    from aml.jars import jar_dir

    return jar_dir(config).parent / "cds"


def java_home() -> Path:
    """The JDK that ``spark-submit`` starts: ``$JAVA_HOME``, else the ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return Path(home)
    java = shutil.which("java")
    if not java:
        raise FileNotFoundError("no JDK: set JAVA_HOME or put java on PATH")
    return Path(java).resolve().parent.parent


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def fingerprint(class_path: Iterable[Path], jdk: Path) -> str:
    """Hash of what the archive is valid for: the JDK's class library (``lib/modules``) and every
    jar on the driver's class path, by name, size and modification time (what the JVM checks)."""
    digest = hashlib.sha256(f"training {TRAINING_VERSION}\n".encode())
    modules = jdk / "lib" / "modules"
    digest.update(f"{jdk.resolve()}|{_stamp(modules) if modules.exists() else '-'}\n".encode())
    for jar in sorted(Path(p) for p in class_path):
        digest.update(f"{_stamp(jar)}\n".encode())
    return digest.hexdigest()[:16]


def driver_class_path(config: Config) -> list[Path]:
    """pyspark's own jars (the JVM's class path) and the resolved ``spark.jars``."""
    from aml.jars import jar_dir, pyspark_jars_dir, spark_jars

    return [*pyspark_jars_dir().glob("*.jar"), *spark_jars(jar_dir(config))]


def archive_path(config: Config) -> Path:
    """Where the archive for this JDK and these jars lives (whether or not it exists yet)."""
    key = fingerprint(driver_class_path(config), java_home())
    return archive_dir(config) / f"driver-{key}{SUFFIX}"


def java_options(config: Config) -> str:
    """The driver JVM options that map the archive, or ``""`` (none built for these jars and
    this JDK, or turned off). A missing JDK or jar folder is not its error to report: the
    session start that follows fails with it.

    Raises:
        ConfigError: ``[jars] class_archive`` is not a boolean.
    """
    if not enabled(config):
        return ""
    try:
        path = archive_path(config)
    except Exception as exc:  # a missing JDK or jar dir fails later, with the real error
        log.debug("no class archive: %s", exc)
        return ""
    if not path.is_file():
        log.info("no class-data archive at %s: `aml jars archive` writes one", path)
        return ""
    return f"-XX:SharedArchiveFile={path}"


# --- training --------------------------------------------------------------------------------

_TYPES = ("Cheque", "Credit card", "Debit card", "Cross-border", "Cash Deposit", "Cash Withdrawal")
_PLACES = ("UK", "UK", "UK", "Spain", "Turkey", "Mexico")


def synthetic_rows(n: int = 1_500, accounts: int = 100) -> list[tuple]:
    """Silver-shaped rows (the columns the rules read) over 90 days, random but fixed (seeded):
    senders with many rows each, for the training's windows and aggregates. Tokens are made
    up."""
    import random

    rng = random.Random(7)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        sender, receiver = rng.sample(range(accounts), 2)
        kind = rng.choice(_TYPES)
        place = rng.choice(_PLACES)
        rows.append((
            i + 1, t0 + dt.timedelta(seconds=rng.randrange(90 * 86_400)),
            Decimal(rng.randrange(100, 3_000_000)) / 100, kind, kind.startswith("Cash"),
            f"acct-{sender:04d}", f"acct-{receiver:04d}", "UK", place,
            place in ("Turkey", "Mexico"), place == "Mexico", sender % 50 == 0,
            ("LOW", "MEDIUM", "HIGH")[sender % 3], receiver % 50 == 0, "LOW",
        ))  # fmt: skip
    return rows


def _workload(config: Config, root: Path) -> None:
    """What a job process does first, at small scale, so its classes are in the archive: Delta
    writes, updates, deletes, a MERGE, a change-feed and a versioned read; SQL with range
    windows, aggregates, joins and explodes, materialised frames; Arrow to pandas.

    (Not the rule pack itself: measured, a cold process's first evaluation of the pack takes as
    long with the archive as without, its time being the JIT compiler's, while training on it
    took three times as long.)"""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from aml import delta_io, frames
    from aml.gold.evaluation import RULE_INPUT_SCHEMA
    from aml.spark import build_session

    spark = build_session(config, "aml-class-archive", {"spark.ui.enabled": "false"})
    silver = str(root / "silver")
    spark.createDataFrame(synthetic_rows(), RULE_INPUT_SCHEMA).write.format("delta").save(silver)
    table = DeltaTable.forPath(spark, silver)
    table.update(F.col("transaction_id") % 97 == 0, {"amount": F.col("amount") + 1})
    table.delete(F.col("transaction_id") % 101 == 0)
    upto = delta_io.current_version(spark, silver)
    feed_df = delta_io.change_feed(spark, silver, 0, upto).localCheckpoint()
    feed_df.groupBy("_change_type").count().collect()
    tx_df = frames.materialise(spark.read.format("delta").option("versionAsOf", upto).load(silver))
    try:
        hits_df = spark.sql(
            """
            WITH w AS (
              SELECT *, SUM(amount) OVER (
                  PARTITION BY sender_account_token ORDER BY unix_seconds(event_ts)
                  RANGE BETWEEN 604800 PRECEDING AND CURRENT ROW) AS week_total,
                size(collect_set(receiver_account_token) OVER (
                  PARTITION BY sender_account_token)) AS payees,
                ROW_NUMBER() OVER (PARTITION BY sender_account_token ORDER BY event_ts) AS n
              FROM {tx})
            SELECT sha2(concat_ws('|', 'R', CAST(w.transaction_id AS STRING)), 256) AS hit_id,
              w.transaction_id, w.sender_account_token AS subject_token, w.event_ts,
              w.week_total, w.payees, p.p99, p.types,
              explode(array('sender', 'receiver')) AS side
            FROM w JOIN (
              SELECT receiver_bank_location,
                percentile_approx(amount, 0.99) AS p99, collect_set(payment_type) AS types
              FROM {tx} GROUP BY receiver_bank_location) p
              ON w.receiver_bank_location = p.receiver_bank_location
            WHERE w.week_total > 10000 OR w.n = 1 OR w.is_cash
            """,
            tx=tx_df,
        ).join(feed_df.select("transaction_id").distinct(), "transaction_id", "left_anti")
        hits = str(root / "hits")
        hits_df.dropDuplicates(["hit_id"]).write.format("delta").save(hits)
        stored_df = spark.read.format("delta").load(hits)
        even = F.abs(F.hash("hit_id")) % 2 == 0
        delta_io.merge_upsert_delete(
            spark, hits, stored_df.where(even), stored_df.where(~even).limit(5), "hit_id",
            stored_df.columns,
        )  # fmt: skip
        stored_df.groupBy("subject_token").agg(F.max("week_total")).toPandas()
    finally:
        frames.release(tx_df)
    # the parent waits for this JVM to exit (it writes the archive then)
    print(f"jvm-pid {spark._jvm.java.lang.ProcessHandle.current().pid()}", flush=True)
    spark.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(config: Config, force: bool = False) -> Path:
    """Writes the archive for this JDK and these jars, unless it exists (``force``: again).

    The training process runs :func:`_workload` with ``-XX:ArchiveClassesAtExit`` pointing at a
    temporary file; once its JVM has exited the file is renamed into place, so a killed build
    never leaves an archive that looks complete. Archives of other fingerprints are removed.

    Raises:
        ArchiveError: the training process failed or its JVM wrote no archive.
    """
    path = archive_path(config)
    if path.is_file() and not force:
        log.info("class-data archive up to date: %s", path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    log.info("training the driver JVM's class-data archive (about two minutes, once)")
    with tempfile.TemporaryDirectory(prefix="aml-cds-") as tmp:
        env = {**os.environ, "AML_CLASS_ARCHIVE_DUMP": str(partial)}
        proc = subprocess.run(
            [sys.executable, "-m", "aml.class_archive", config.name, tmp],
            env=env,
            capture_output=True,
            text=True,
            timeout=TRAIN_TIMEOUT_S,
            check=False,
        )
        pids = [
            int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("jvm-pid ")
        ]
        if proc.returncode != 0 or not pids:
            partial.unlink(missing_ok=True)
            log_file = path.parent / "training.log"
            log_file.write_text(proc.stderr)
            # the exception's own line (a Spark error is followed by its whole plan)
            errors = [line for line in proc.stderr.splitlines() if _ERROR.match(line)]
            raise ArchiveError(
                f"the class-archive training run failed (exit {proc.returncode}): "
                f"{errors[-1] if errors else 'no error line'}; its output: {log_file}"
            )
        deadline = time.monotonic() + DUMP_TIMEOUT_S
        while _alive(pids[0]) and time.monotonic() < deadline:
            time.sleep(0.5)
    if _alive(pids[0]) or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise ArchiveError("the training run's JVM wrote no class-data archive")
    partial.rename(path)
    for old in path.parent.glob(f"driver-*{SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    log.info("class-data archive %s (%.0f MB) in %.0fs", path, path.stat().st_size / 2**20,
             time.monotonic() - started)  # fmt: skip
    return path


def dump_option() -> str:
    """Set in the training process only (by :func:`build`): where its JVM writes the archive."""
    target = os.environ.get("AML_CLASS_ARCHIVE_DUMP")
    return f"-XX:ArchiveClassesAtExit={target}" if target else ""


def _train(env: str, root: str) -> int:
    from aml.config import load_config

    logging.basicConfig(level=logging.WARNING)
    _workload(load_config(env), Path(root))
    return 0


if __name__ == "__main__":
    sys.exit(_train(*sys.argv[1:3]))
