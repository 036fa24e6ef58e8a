"""A private MariaDB server under ``<run_dir>/mariadb`` for the MySQL-flavoured source.

``--no-defaults`` keeps the system's ``/etc/mysql`` out of it; it listens on 127.0.0.1 only and
on a Unix socket in its own directory. Administration goes through that socket with
``unix_socket`` authentication as the invoking OS user (``mariadb-install-db --user=<os user>``
creates that account), so no administrator password exists anywhere. As root the server is
started with ``--user=mysql`` (MariaDB's own privilege drop) and the data belong to ``mysql``.
``local_infile`` is on for the loader's ``LOAD DATA LOCAL INFILE``.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

from aml.config import Config
from aml.services import base, process
from aml.services.base import ServiceError
from aml.services.service import LOOPBACK, DatabaseService, ensure_password

log = logging.getLogger(__name__)

SYSTEM_USER = "mysql"
PACKAGE = "mariadb-server"
SBIN = (Path("/usr/sbin"), Path("/usr/local/sbin"), Path("/usr/local/mysql/bin"))
MAX_SOCKET_PATH = 100


class MariaDBService(DatabaseService):
    name = "mariadb"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.socket = self.dir / "mariadbd.sock"
        self.os_user = base.system_user(SYSTEM_USER)

    def _admin_name(self) -> str:
        """The MariaDB account of the invoking OS user (unix_socket authentication)."""
        return pwd.getpwuid(os.geteuid()).pw_name

    def _launch(self) -> None:
        mariadbd = base.find_binary("mariadbd", PACKAGE, SBIN)
        if len(str(self.socket)) > MAX_SOCKET_PATH:
            raise ServiceError(f"mariadb: socket path {self.socket} is too long for a Unix socket")
        base.check_reachable(self.dir, self.os_user)
        if not (self.data_dir / "mysql").is_dir():
            self._install_db()
        base.chown_tree(self.dir, self.os_user)
        argv: list[str | Path] = [
            mariadbd,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--bind-address={LOOPBACK}",
            f"--port={self.ports[0]}",
            f"--socket={self.socket}",
            f"--pid-file={self.dir / 'mariadbd.pid'}",
            f"--log-error={self.log_file}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--local-infile=1",
            "--default-time-zone=+00:00",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=256M",
            "--max-allowed-packet=64M",
            "--max-connections=100",
        ]
        if self.os_user is not None:
            argv.append(f"--user={self.os_user.pw_name}")
        process.spawn(argv, log_file=self.log_file, pid_file=self.pid_file, cwd=self.dir)

    def _install_db(self) -> None:
        install_db = base.find_binary("mariadb-install-db", PACKAGE, SBIN)
        log.info("initialising a MariaDB data directory in %s", self.data_dir)
        base.chown_tree(self.dir, self.os_user)
        # --user names the account that owns the files (root: mysql) and also gets a
        # unix_socket login; as non-root that account must be the invoking user itself.
        owner = self.os_user.pw_name if self.os_user else self._admin_name()
        base.run_tool(
            [
                install_db,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                f"--user={owner}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            log_file=self.log_file,
            what="mariadb-install-db",
            cwd=self.dir,
        )

    def _admin(self):  # noqa: ANN202 - pymysql Connection
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket),
            user=self._admin_name(),
            connect_timeout=3,
            autocommit=True,
            charset="utf8mb4",
        )

    def _probe(self) -> None:
        with self._admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")

    def _provision(self) -> None:
        from aml.sources import db

        user, database = self.source["user"], self.source["database"]
        password = ensure_password(self.config, "mariadb")
        with self._admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
            for host in (LOOPBACK, "localhost"):
                cur.execute(
                    f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", (password,)
                )
                cur.execute(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")
            cur.execute("SET GLOBAL local_infile = 1")
        db.apply_schema(self.config, "mariadb")

    def check_health(self) -> None:
        from aml.sources import db

        with db.connect(self.config, "mariadb", connect_timeout=3) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
