"""PostgreSQL bulk loading: COPY into a temporary staging table, then set-based SQL.

The file is streamed to ``COPY ... FROM STDIN`` in 1 MiB blocks (no per-row round trips). The
staging table's identity column numbers rows in file order, which gives transaction ids
(``first_id + row_no - 1``) without reading the file in Python. From staging: new rows are
inserted with ``ON CONFLICT DO NOTHING`` (a reload is a no-op) and existing rows are updated only
where a value differs, so ``updated_at`` moves exactly for rows that changed. Each file is one
transaction: a failed load leaves the table as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aml.sources.csvfiles import CsvTable, LoadError, Progress, header_length

log = logging.getLogger(__name__)

BLOCK = 1 << 20
CHUNK_ROWS = 500_000
STAGE = "aml_stage"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresBulk:
    """Loads files into one PostgreSQL source schema over a psycopg 3 connection."""

    def __init__(self, conn: Any, schema: str) -> None:
        self.conn = conn
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{q(self.schema)}.{q(name)}"

    def truncate(self) -> None:
        names = ", ".join(
            self.table(t) for t in ("transactions", "accounts", "customers", "loaded_files")
        )
        self.conn.execute(f"TRUNCATE {names}")
        self.conn.commit()

    def next_free_id(self) -> int:
        """One past the largest id in use or reserved by a manifest-less file (a reservation
        whose load failed must not be handed out twice)."""
        row = self.conn.execute(
            f"SELECT (SELECT MAX(transaction_id) FROM {self.table('transactions')}), "
            f"(SELECT MAX(first_transaction_id + row_count - 1) FROM {self.table('loaded_files')})"
        ).fetchone()
        return max(int(row[0] or 0), int(row[1] or 0)) + 1

    def find_loaded_file(self, sha256: str) -> int | None:
        row = self.conn.execute(
            f"SELECT first_transaction_id FROM {self.table('loaded_files')} WHERE file_sha256 = %s",
            (sha256,),
        ).fetchone()
        return None if row is None else int(row[0])

    def record_loaded_file(self, sha256: str, name: str, first_id: int, rows: int) -> None:
        self.conn.execute(
            f"INSERT INTO {self.table('loaded_files')} "
            "(file_sha256, file_name, first_transaction_id, row_count) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (file_sha256) DO NOTHING",
            (sha256, name[-255:], first_id, rows),
        )

    def stage(self, path: Path, spec: CsvTable, progress: Progress) -> int:
        """COPYs the file (after its header) into a fresh temporary table; returns rows copied."""
        cols = ", ".join(q(c) for c in spec.columns)
        self.conn.execute(f"DROP TABLE IF EXISTS {STAGE}")
        self.conn.execute(
            f"CREATE TEMP TABLE {STAGE} AS SELECT {cols} FROM {self.table(spec.table)} WITH NO DATA"
        )
        self.conn.execute(
            f"ALTER TABLE {STAGE} ADD COLUMN row_no BIGINT GENERATED ALWAYS AS IDENTITY"
        )
        cur = self.conn.cursor()
        try:
            with path.open("rb") as fh:
                fh.seek(header_length(path))
                with cur.copy(f"COPY {STAGE} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
                    while block := fh.read(BLOCK):
                        copy.write(block)
                        progress.advance(len(block), block.count(b"\n"))
        except Exception as exc:
            self.conn.rollback()
            if type(exc).__module__.startswith("psycopg"):
                raise LoadError(f"{path}: PostgreSQL rejected the data: {exc}".strip()) from None
            raise
        return int(cur.rowcount)

    def _latest(self, spec: CsvTable) -> str:
        """Staged rows with duplicates of a key reduced to the last one in the file."""
        cols = ", ".join(q(c) for c in spec.columns)
        key = q(spec.key)
        return f"(SELECT DISTINCT ON ({key}) {cols} FROM {STAGE} ORDER BY {key}, row_no DESC)"

    def update_changed(self, spec: CsvTable) -> tuple[int, int]:
        """Applies staged rows to existing ones; returns (rows changed, staged keys unknown)."""
        values = spec.value_columns
        assignments = ", ".join(f"{q(c)} = s.{q(c)}" for c in values)
        target = ", ".join(f"t.{q(c)}" for c in values)
        source = ", ".join(f"s.{q(c)}" for c in values)
        cur = self.conn.execute(
            f"UPDATE {self.table(spec.table)} t SET {assignments} FROM {self._latest(spec)} s "
            f"WHERE t.{q(spec.key)} = s.{q(spec.key)} AND ({target}) IS DISTINCT FROM ({source})"
        )
        changed = int(cur.rowcount)
        unknown = self.conn.execute(
            f"SELECT count(DISTINCT s.{q(spec.key)}) FROM {STAGE} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {self.table(spec.table)} t WHERE t.{q(spec.key)} = s.{q(spec.key)})"
        ).fetchone()[0]
        return changed, int(unknown)

    def insert_new(self, spec: CsvTable) -> int:
        """Inserts staged rows whose key is not in the table yet (keyed files)."""
        cols = ", ".join(q(c) for c in spec.columns)
        cur = self.conn.execute(
            f"INSERT INTO {self.table(spec.table)} ({cols}) "
            f"SELECT {cols} FROM {self._latest(spec)} s ON CONFLICT ({q(spec.key)}) DO NOTHING"
        )
        return int(cur.rowcount)

    def insert_transactions(self, spec: CsvTable, first_id: int, staged: int, label: str) -> int:
        """Inserts staged SAML-D rows as ids ``first_id..``; existing ids are skipped.

        Chunked by row number only to report progress: all chunks share the file's transaction.
        """
        cols = ", ".join(q(c) for c in spec.columns)
        self.conn.execute(f"CREATE INDEX ON {STAGE} (row_no)")
        inserted = 0
        progress = Progress(f"{label} (insert)", staged)
        for low in range(1, staged + 1, CHUNK_ROWS):
            high = min(low + CHUNK_ROWS - 1, staged)
            cur = self.conn.execute(
                f"INSERT INTO {self.table(spec.table)} ({q(spec.key)}, {cols}) "
                f"SELECT %s + row_no - 1, {cols} FROM {STAGE} WHERE row_no BETWEEN %s AND %s "
                f"ORDER BY row_no ON CONFLICT ({q(spec.key)}) DO NOTHING",
                (first_id, low, high),
            )
            inserted += int(cur.rowcount)
            progress.advance(high - low + 1, high - low + 1)
        return inserted

    def commit(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {STAGE}")
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()
