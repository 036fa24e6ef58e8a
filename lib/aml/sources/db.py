"""Connections to the source OLTP databases, from the environment's ``[sources.<name>]``.

One place builds both the Python DB-API connections (loader, tests, services) and the JDBC
settings Spark's reader uses, so the two cannot drift apart. A source is either
``kind = "postgresql"`` or ``kind = "mysql"`` (MariaDB and MySQL speak the same protocol).
Error messages name host, port, database and user, never the password.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from aml.config import Config

log = logging.getLogger(__name__)

POSTGRES_KINDS = frozenset({"postgresql", "postgres"})
MYSQL_KINDS = frozenset({"mysql", "mariadb"})
JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "org.mariadb.jdbc.Driver"}


class SourceError(RuntimeError):
    """A source database is unreachable or refused an operation (message has no password)."""


def source_kind(config: Config, source_name: str | None = None) -> str:
    """``"postgresql"`` or ``"mysql"`` for a source, whatever spelling the environment uses."""
    src = config.source(source_name)
    kind = str(src.get("kind", src["name"])).lower()
    if kind in POSTGRES_KINDS:
        return "postgresql"
    if kind in MYSQL_KINDS:
        return "mysql"
    raise SourceError(f"source '{src['name']}' has unsupported kind '{kind}' (postgresql or mysql)")


def schema_name(config: Config, source_name: str | None = None) -> str:
    """The schema (MariaDB: database) holding the source tables."""
    return str(config.source(source_name).get("schema", "core"))


def _scrub(message: str, password: str) -> str:
    return message.replace(password, "***") if password else message


def connect(
    config: Config,
    source_name: str | None = None,
    *,
    autocommit: bool = False,
    connect_timeout: int = 10,
) -> Any:
    """A DB-API 2 connection to a source as its configured user.

    PostgreSQL connections are psycopg 3 (``cursor.copy`` streams COPY); MariaDB ones are
    PyMySQL with ``local_infile`` enabled for ``LOAD DATA LOCAL INFILE`` and the session in UTC
    and strict mode, so bad values fail instead of being silently coerced.

    Raises:
        SourceError: the database cannot be reached or refuses the login.
    """
    src = config.source(source_name)
    kind = source_kind(config, source_name)
    password = config.source_password(src["name"])
    where = (
        f"{src['name']} at {src['host']}:{src['port']} "
        f"(database {src['database']}, user {src['user']})"
    )
    try:
        if kind == "postgresql":
            import psycopg

            return psycopg.connect(
                host=src["host"],
                port=int(src["port"]),
                dbname=src["database"],
                user=src["user"],
                password=password,
                connect_timeout=connect_timeout,
                autocommit=autocommit,
                application_name="aml",
            )
        import pymysql

        return pymysql.connect(
            host=src["host"],
            port=int(src["port"]),
            database=src["database"],
            user=src["user"],
            password=password,
            connect_timeout=connect_timeout,
            autocommit=autocommit,
            local_infile=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,"
            "NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
        )
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("psycopg", "pymysql"):
            raise
        reason = " ".join(_scrub(str(exc), password).split())
        if "password" in reason.lower() or "access denied" in reason.lower():
            hint = (
                f"check the password (${src.get('password_env', '')} or "
                f"{config.secrets_dir / (src['name'] + '.password')})"
            )
        else:
            hint = "is it running? (`aml services up`)"
        raise SourceError(f"cannot connect to {where}: {reason}; {hint}") from None


def jdbc_url(config: Config, source_name: str | None = None) -> str:
    """JDBC URL for Spark's reader, e.g. ``jdbc:postgresql://127.0.0.1:55432/aml``.

    MariaDB gets a ``jdbc:mysql:`` URL with ``permitMysqlScheme``: Spark picks its SQL dialect by
    URL prefix, and only the MySQL dialect quotes identifiers with backticks (with no dialect,
    Spark's double quotes make MariaDB read column names as string literals).
    """
    src = config.source(source_name)
    where = f"//{src['host']}:{int(src['port'])}/{src['database']}"
    if source_kind(config, source_name) == "postgresql":
        return f"jdbc:postgresql:{where}"
    return f"jdbc:mysql:{where}?permitMysqlScheme"


def jdbc_properties(config: Config, source_name: str | None = None) -> dict[str, str]:
    """``driver``/``user``/``password`` for ``spark.read.jdbc(url, table, properties=...)``."""
    src = config.source(source_name)
    return {
        "driver": JDBC_DRIVERS[source_kind(config, source_name)],
        "user": str(src["user"]),
        "password": config.source_password(src["name"]),
    }


def schema_sql(kind: str) -> str:
    """The DDL shipped with the package for a source kind (``postgresql`` or ``mysql``)."""
    return resources.files("aml.sources").joinpath("sql", kind, "schema.sql").read_text("utf-8")


def split_statements(script: str) -> list[str]:
    """Splits a MariaDB script on ``;`` at line ends (PyMySQL runs one statement per call).

    Good enough for the shipped DDL, which keeps every statement's ``;`` at a line end and has
    no compound (BEGIN ... END) bodies.
    """
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]


SCHEMA_TABLES = ("customers", "accounts", "transactions", "loaded_files")  # parents first
# the tables whose rows the PostgreSQL schema stamps with ``updated_at`` on every insert and
# update (trigger ``<table>_set_updated_at``, sql/postgresql/schema.sql)
STAMPED_TABLES = ("customers", "accounts", "transactions")


@contextmanager
def stamps_kept(conn: Any, schema: str, table: str) -> Iterator[None]:
    """PostgreSQL: inside the block, statements on ``schema.table`` keep the ``updated_at`` they
    write (the table's stamping trigger is off), for benchmarks and tests that back-date rows.
    The trigger change is part of the caller's transaction: a block that raises is rolled back
    with it, so nothing is left disabled."""
    name, trigger = f"{schema}.{table}", f"{table}_set_updated_at"
    conn.execute(f"ALTER TABLE {name} DISABLE TRIGGER {trigger}")
    yield
    conn.execute(f"ALTER TABLE {name} ENABLE TRIGGER {trigger}")


LOCK_TIMEOUT_S = 15


def _schema_is_current(cur: Any, kind: str, schema: str, mark: str) -> bool:
    """True when the schema carries this script's fingerprint and all its tables exist.

    Checked in the catalog, which takes no table lock: re-running the DDL would queue behind a
    long load (CREATE INDEX / CREATE TRIGGER lock the table even when nothing changes).
    """
    if kind == "postgresql":
        cur.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        )
    else:
        cur.execute(
            "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
            (schema,),
        )
    row = cur.fetchone()
    if row is None or row[0] != mark:
        return False
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name IN (%s, %s, %s, %s)",
        (schema, *SCHEMA_TABLES),
    )
    return int(cur.fetchone()[0]) == len(SCHEMA_TABLES)


def apply_schema(config: Config, source_name: str | None = None) -> None:
    """Creates the source tables, triggers and indexes unless they are already current.

    Idempotent. The script's fingerprint is kept as the schema's comment, so a repeated
    ``aml services up`` costs one catalog query; a changed script is applied again (its
    statements are all IF NOT EXISTS / OR REPLACE), waiting at most LOCK_TIMEOUT_S for locks.
    """
    kind = source_kind(config, source_name)
    schema = schema_name(config, source_name)
    script = schema_sql(kind)
    mark = f"aml source schema {hashlib.sha256(script.encode()).hexdigest()[:16]}"
    name = config.source(source_name)["name"]
    with connect(config, source_name) as conn:
        cur = conn.cursor()
        if _schema_is_current(cur, kind, schema, mark):
            conn.commit()
            log.info("schema %s in %s is up to date", schema, name)
            return
        try:
            if kind == "postgresql":
                from psycopg import sql

                cur.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'")
                cur.execute(script)
                cur.execute(
                    sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                        sql.Identifier(schema), sql.Literal(mark)
                    )
                )
            else:
                cur.execute(f"SET SESSION lock_wait_timeout = {LOCK_TIMEOUT_S}")
                for statement in split_statements(script):
                    cur.execute(statement)
                cur.execute(f"ALTER DATABASE `{schema}` COMMENT = %s", (mark,))
            conn.commit()
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in ("psycopg", "pymysql"):
                raise
            raise SourceError(f"creating schema {schema} in {name} failed: {exc}") from None
    log.info("schema %s created/updated in %s", schema, name)
