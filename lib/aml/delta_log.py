"""A Delta table's row count, version and last commit from its transaction log, with no Spark job.

Every file Delta adds carries statistics with its ``numRecords`` (and a deletion vector its
``cardinality``), so the table's row count is the sum over the current snapshot's files: the
files added and not removed since the newest checkpoint, replayed from the checkpoint (Parquet)
and the JSON commits after it. Reading a few small log files takes milliseconds where a Spark
``count()`` per table costs a job each (the overview notebook's status table reads every table of
the lake).

Only local lakes are read this way; :func:`snapshot` returns None for a remote URI (s3a://,
abfss://), a path that is not a Delta table, or a snapshot with a file whose statistics are
missing (written with statistics collection off): callers then count with Spark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class Snapshot:
    version: int
    rows: int
    files: int
    last_commit_utc: datetime  # naive UTC, as Spark's session time zone gives it


def _local_dir(path: str) -> Path | None:
    parsed = urlparse(path)
    if parsed.scheme not in ("", "file"):
        return None
    log = Path(parsed.path if parsed.scheme else path) / "_delta_log"
    return log if log.is_dir() else None


def _checkpoint(log: Path) -> tuple[int, list[Path]]:
    """(version, parquet parts) of the newest classic checkpoint, or (-1, []) without one."""
    last = log / "_last_checkpoint"
    if not last.is_file():
        return -1, []
    info = json.loads(last.read_text())
    version, parts = int(info["version"]), info.get("parts")
    if parts:
        files = [log / f"{version:020d}.checkpoint.{n:010d}.{parts:010d}.parquet"
                 for n in range(1, parts + 1)]  # fmt: skip
    else:
        files = [log / f"{version:020d}.checkpoint.parquet"]
    if not all(f.is_file() for f in files):
        return -1, []  # e.g. a v2 checkpoint (UUID-named): replay every commit instead
    return version, files


def _key(action: dict[str, Any]) -> tuple[str, str]:
    """A file's identity in the snapshot: its path and its deletion vector (a delete through a
    deletion vector removes (path, old vector) and adds (path, new vector) in one commit)."""
    dv = action.get("deletionVector") or {}
    return action["path"], f"{dv.get('storageType')}{dv.get('pathOrInlineDv')}@{dv.get('offset')}"


def _records(add: dict[str, Any]) -> int | None:
    stats = add.get("stats")
    if not stats:
        return None
    n = json.loads(stats).get("numRecords")
    if n is None:
        return None
    deleted = (add.get("deletionVector") or {}).get("cardinality") or 0
    return int(n) - int(deleted)


def _commits(log: Path) -> list[Path]:
    """The log's commit files (``<20-digit version>.json``), oldest first."""
    return sorted(log.glob("[0-9]" * 20 + ".json"))


def newest_version(path: str) -> int | None:
    """The table's newest committed version: its highest ``<version>.json`` commit file, or None
    (a remote URI, or no commit). A commit file is written whole, under its final name, by the
    commit itself (an atomic rename or put-if-absent), and the newest one is never removed by
    the log's clean-up, so this is the version a read of the table sees now."""
    log = _local_dir(path)
    commits = _commits(log) if log is not None else []
    return int(commits[-1].stem) if commits else None


def snapshot(path: str) -> Snapshot | None:
    """The current snapshot's row count, file count, version and last commit, or None (above)."""
    log = _local_dir(path)
    if log is None:
        return None
    commits = _commits(log)
    if not commits:
        return None
    start, parts = _checkpoint(log)
    live: dict[tuple[str, str], int | None] = {}
    if parts:
        import pyarrow.parquet as pq

        for part in parts:
            table = pq.read_table(part, columns=["add"]).column("add").to_pylist()
            for add in table:
                if add is not None:
                    live[_key(add)] = _records(add)
    last_ms = 0
    for commit in (c for c in commits if int(c.stem) > start):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live[_key(action["add"])] = _records(action["add"])
            elif "remove" in action:
                live.pop(_key(action["remove"]), None)
            elif "commitInfo" in action:
                last_ms = int(action["commitInfo"].get("timestamp", last_ms))
    if not last_ms:  # the newest commit is in the checkpoint: its file time is the commit's
        last_ms = int(commits[-1].stat().st_mtime * 1000)
    if any(n is None for n in live.values()):
        return None
    committed = datetime.fromtimestamp(last_ms / 1000, UTC).replace(tzinfo=None)
    return Snapshot(int(commits[-1].stem), sum(live.values()), len(live), committed)
