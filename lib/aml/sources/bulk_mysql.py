"""MariaDB/MySQL bulk loading: ``LOAD DATA LOCAL INFILE`` into a temporary staging table.

A user variable numbers the rows as LOAD DATA reads them, which is file order, so transaction
ids are ``first_id + row_no - 1`` exactly as on PostgreSQL. Keyed files (customers, accounts,
updates) are staged with ``REPLACE`` on a unique key, so the last row of a key in the file wins.
LOAD DATA LOCAL turns bad values into warnings rather than errors, so any warning fails the load.
PyMySQL reads the file itself; it is handed a FIFO that a thread fills from the real file, which
is what lets the load report progress. New transactions are inserted in chunks with a commit
each (InnoDB handles many medium transactions better than one huge one); a re-run skips what a
previous run committed, so the chunking never breaks idempotency.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from aml.sources.csvfiles import CsvTable, LoadError, Progress

log = logging.getLogger(__name__)

STAGE = "aml_stage"
CHUNK_ROWS = 200_000
BLOCK = 1 << 20
TRUE_WORDS = "'1','true','t','yes','y'"
FALSE_WORDS = "'0','false','f','no','n'"
IGNORED_WARNINGS = {1287}  # "... is deprecated" (MySQL 8 on @var := in expressions)


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _feed_fifo(
    src: Path, fifo: str, progress: Progress, stop: threading.Event, errors: list
) -> None:
    """Copies ``src`` into the FIFO once a reader opens it (or gives up when ``stop`` is set)."""
    import errno
    import time

    try:
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO or stop.is_set():
                    return
                time.sleep(0.01)
        os.set_blocking(fd, True)
        with open(fd, "wb", closefd=True) as out, src.open("rb") as fh:
            while block := fh.read(BLOCK):
                out.write(block)
                progress.advance(len(block), block.count(b"\n"))
    except BrokenPipeError:
        errors.append("the database stopped reading the file")
    except OSError as exc:
        errors.append(str(exc))


class MySQLBulk:
    """Loads files into one MariaDB source database over a PyMySQL connection."""

    def __init__(self, conn: Any, schema: str) -> None:
        self.conn = conn
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{q(self.schema)}.{q(name)}"

    def _exec(self, sql: str, params: Any = None) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def truncate(self) -> None:
        for name in ("transactions", "accounts", "customers", "loaded_files"):
            self._exec(f"TRUNCATE TABLE {self.table(name)}")
        self.conn.commit()

    def next_free_id(self) -> int:
        """One past the largest id in use or reserved by a manifest-less file (a reservation
        whose load failed must not be handed out twice)."""
        row = self._exec(
            f"SELECT (SELECT MAX(transaction_id) FROM {self.table('transactions')}), "
            f"(SELECT MAX(first_transaction_id + row_count - 1) FROM {self.table('loaded_files')})"
        ).fetchone()
        return max(int(row[0] or 0), int(row[1] or 0)) + 1

    def find_loaded_file(self, sha256: str) -> int | None:
        row = self._exec(
            f"SELECT first_transaction_id FROM {self.table('loaded_files')} WHERE file_sha256 = %s",
            (sha256,),
        ).fetchone()
        return None if row is None else int(row[0])

    def record_loaded_file(self, sha256: str, name: str, first_id: int, rows: int) -> None:
        self._exec(
            f"INSERT IGNORE INTO {self.table('loaded_files')} (file_sha256, file_name, "
            "first_transaction_id, row_count) VALUES (%s, %s, %s, %s)",
            (sha256, name[-255:], first_id, rows),
        )
        self.conn.commit()

    def _set_clause(self, spec: CsvTable) -> str:
        parts = ["row_no = (@aml_row := @aml_row + 1)"]
        for i, col in enumerate(spec.columns):
            if col in spec.booleans:
                parts.append(
                    f"{q(col)} = CASE WHEN LOWER(@c{i}) IN ({TRUE_WORDS}) THEN 1 "
                    f"WHEN LOWER(@c{i}) IN ({FALSE_WORDS}) THEN 0 ELSE NULL END"
                )
            else:
                parts.append(f"{q(col)} = NULLIF(@c{i}, '')")
        return ", ".join(parts)

    def stage(self, path: Path, spec: CsvTable, progress: Progress, terminator: str) -> int:
        """LOADs the file into a fresh temporary table; returns the number of data lines."""
        keyed = spec.key in spec.columns
        cols = ", ".join(q(c) for c in spec.columns)
        self._exec(f"DROP TEMPORARY TABLE IF EXISTS {STAGE}")
        unique = f", UNIQUE KEY ({q(spec.key)})" if keyed else ""
        self._exec(
            f"CREATE TEMPORARY TABLE {STAGE} "
            f"(row_no BIGINT NOT NULL DEFAULT 0 PRIMARY KEY{unique}) "
            f"ENGINE=InnoDB SELECT {cols} FROM {self.table(spec.table)} LIMIT 0"
        )
        self._exec("SET @aml_row = 0")
        variables = ", ".join(f"@c{i}" for i in range(len(spec.columns)))
        lines = "\\r\\n" if terminator == "\r\n" else "\\n"
        errors: list[str] = []
        stop = threading.Event()
        with tempfile.TemporaryDirectory(prefix="aml-load-") as tmp:
            fifo = os.path.join(tmp, path.name)
            os.mkfifo(fifo, 0o600)
            feeder = threading.Thread(
                target=_feed_fifo, args=(path, fifo, progress, stop, errors), daemon=True
            )
            feeder.start()
            try:
                self._exec(
                    f"LOAD DATA LOCAL INFILE %s {'REPLACE' if keyed else ''} INTO TABLE {STAGE} "
                    "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' "
                    f"ESCAPED BY '' LINES TERMINATED BY '{lines}' IGNORE 1 LINES "
                    f"({variables}) SET {self._set_clause(spec)}",
                    (fifo,),
                )
                warnings = self._exec("SHOW WARNINGS LIMIT 20").fetchall()
            except Exception as exc:
                if type(exc).__module__.startswith("pymysql"):
                    raise LoadError(f"{path}: MariaDB rejected the load: {exc}") from None
                raise
            finally:
                stop.set()
                feeder.join(timeout=30)
        bad = [
            w
            for w in warnings
            if w[0] in ("Warning", "Error") and int(w[1]) not in IGNORED_WARNINGS
        ]
        if bad or errors:
            detail = "; ".join(f"{w[2]}" for w in bad[:5]) or "; ".join(errors)
            raise LoadError(f"{path}: rejected ({detail})")
        return int(self._exec("SELECT @aml_row").fetchone()[0])

    def update_changed(self, spec: CsvTable) -> tuple[int, int]:
        """Applies staged rows to existing ones; returns (rows changed, staged keys unknown)."""
        values = spec.value_columns
        assignments = ", ".join(f"t.{q(c)} = s.{q(c)}" for c in values)
        same = " AND ".join(f"t.{q(c)} <=> s.{q(c)}" for c in values)
        key = q(spec.key)
        changed = self._exec(
            f"UPDATE {self.table(spec.table)} t JOIN {STAGE} s ON t.{key} = s.{key} "
            f"SET {assignments} WHERE NOT ({same})"
        ).rowcount
        unknown = self._exec(
            f"SELECT COUNT(*) FROM {STAGE} s LEFT JOIN {self.table(spec.table)} t "
            f"ON t.{key} = s.{key} WHERE t.{key} IS NULL"
        ).fetchone()[0]
        self.conn.commit()
        return int(changed), int(unknown)

    def insert_new(self, spec: CsvTable) -> int:
        cols = ", ".join(q(c) for c in spec.columns)
        key = q(spec.key)
        src_cols = ", ".join("s." + q(c) for c in spec.columns)
        inserted = self._exec(
            f"INSERT INTO {self.table(spec.table)} ({cols}) SELECT {src_cols} "
            f"FROM {STAGE} s LEFT JOIN {self.table(spec.table)} t ON t.{key} = s.{key} "
            f"WHERE t.{key} IS NULL ORDER BY s.row_no"
        ).rowcount
        self.conn.commit()
        return int(inserted)

    def insert_transactions(self, spec: CsvTable, first_id: int, staged: int, label: str) -> int:
        """Inserts staged rows as ids ``first_id..`` in chunks; existing ids are skipped."""
        cols = ", ".join(q(c) for c in spec.columns)
        src_cols = ", ".join("s." + q(c) for c in spec.columns)
        key = q(spec.key)
        inserted = 0
        progress = Progress(f"{label} (insert)", staged)
        for low in range(1, staged + 1, CHUNK_ROWS):
            high = min(low + CHUNK_ROWS - 1, staged)
            inserted += self._exec(
                f"INSERT INTO {self.table(spec.table)} ({key}, {cols}) "
                f"SELECT %s + s.row_no - 1, {src_cols} FROM {STAGE} s "
                f"LEFT JOIN {self.table(spec.table)} t ON t.{key} = %s + s.row_no - 1 "
                f"WHERE s.row_no BETWEEN %s AND %s AND t.{key} IS NULL ORDER BY s.row_no",
                (first_id, first_id, low, high),
            ).rowcount
            self.conn.commit()
            progress.advance(high - low + 1, high - low + 1)
        return inserted

    def commit(self) -> None:
        self._exec(f"DROP TEMPORARY TABLE IF EXISTS {STAGE}")
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()
