"""A private PostgreSQL cluster under ``<run_dir>/postgres`` for the source OLTP database.

The cluster is initialised with a random superuser password kept beside the data
(``superuser.password``, mode 0600) and scram-sha-256 authentication, and listens on TCP
127.0.0.1 only (no Unix socket: nothing to clash with a system PostgreSQL). As root, PostgreSQL
refuses to run, so initdb and the server run as the ``postgres`` system user, which owns the run
directory. The ``aml`` role and database are (re)provisioned on every ``up``: the role's password
follows whatever :meth:`Config.source_password` resolves, so an exported
``$AML_POSTGRES_PASSWORD`` takes effect on the next ``up``.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import secrets
import signal
import subprocess
from pathlib import Path

from aml.config import Config
from aml.services import base, process
from aml.services.base import ServiceError
from aml.services.service import LOOPBACK, DatabaseService, ensure_password

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
SETTINGS_FILE = "aml.conf"


def _major(path: str) -> int:
    version = path.split("/")[-2]
    return int(version) if version.isdigit() else 0


def postgres_bindir(data_version: str | None = None) -> Path:
    """Directory holding initdb/postgres.

    An existing cluster needs the major version that created it (``PG_VERSION``); otherwise
    ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/<major>/bin``.
    """
    candidates: list[Path] = []
    if data_version:
        candidates.append(Path(f"/usr/lib/postgresql/{data_version}/bin"))
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    except OSError:
        pass
    versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    candidates += [Path(p) for p in versioned]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            if data_version and directory != candidates[0]:
                log.warning(
                    "postgres: no PostgreSQL %s binaries for the existing cluster; trying %s",
                    data_version,
                    directory,
                )
            return directory
    initdb = base.find_binary("initdb", "postgresql")
    return initdb.parent


class PostgresService(DatabaseService):
    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") would wait for every client to
    # disconnect, so a test holding a connection would turn a clean stop into a SIGKILL.
    stop_signal = signal.SIGINT

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.superuser_password_file = self.dir / "superuser.password"

    def _launch(self) -> None:
        version_file = self.data_dir / "PG_VERSION"
        version = version_file.read_text().strip() if version_file.is_file() else None
        bindir = postgres_bindir(version)
        user = base.system_user(SUPERUSER)
        base.check_reachable(self.dir, user)
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb(bindir, user)
        settings = self.data_dir / SETTINGS_FILE
        settings.write_text(
            "# written by `aml services up` on every start: edits are overwritten\n"
            f"listen_addresses = '{LOOPBACK}'\n"
            f"port = {self.ports[0]}\n"
            "unix_socket_directories = ''\n"
            "timezone = 'UTC'\n"
            "log_timezone = 'UTC'\n"
            "log_statement = 'none'\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n",
            encoding="utf-8",
        )
        base.chown_tree(self.dir, user)
        process.spawn(
            [bindir / "postgres", "-D", self.data_dir],
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.dir,
            user=user,
        )

    def _initdb(self, bindir: Path, user: pwd.struct_passwd | None) -> None:
        log.info("initialising a PostgreSQL cluster in %s", self.data_dir)
        password = secrets.token_urlsafe(24)
        fd = os.open(self.superuser_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        pwfile = self.dir / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        base.chown_tree(self.dir, user)
        try:
            base.run_tool(
                [
                    bindir / "initdb",
                    "-D",
                    self.data_dir,
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                log_file=self.log_file,
                what="initdb",
                user=user,
                cwd=self.dir,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# project settings (ports, loopback only)\n"
                f"include_if_exists = '{SETTINGS_FILE}'\n"
            )

    def _superuser_password(self) -> str:
        try:
            return self.superuser_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ServiceError(
                f"postgres: {self.superuser_password_file} is missing; the cluster in "
                f"{self.data_dir} cannot be administered: stop it and remove {self.dir} to "
                "re-initialise"
            ) from exc

    def _admin(self, dbname: str = "postgres"):  # noqa: ANN202 - psycopg.Connection
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.ports[0],
            dbname=dbname,
            user=SUPERUSER,
            password=self._superuser_password(),
            connect_timeout=3,
            autocommit=True,
            application_name="aml-services",
        )

    def _probe(self) -> None:
        with self._admin() as conn:
            conn.execute("SELECT 1")

    def _provision(self) -> None:
        from psycopg import sql

        from aml.sources import db

        role, database = self.source["user"], self.source["database"]
        password = ensure_password(self.config, "postgres")
        with self._admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone():
                log.info("postgres: creating database %s owned by %s", database, role)
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                        sql.Identifier(database), sql.Identifier(role)
                    )
                )
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET timezone TO 'UTC'").format(sql.Identifier(database))
            )
        db.apply_schema(self.config, "postgres")

    def check_health(self) -> None:
        from aml.sources import db

        with db.connect(self.config, "postgres", connect_timeout=3) as conn:
            conn.cursor().execute("SELECT 1")
