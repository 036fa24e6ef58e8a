"""The life cycle every local service shares: start if needed, wait until ready, provision, stop.

Subclasses say how to initialise, start and probe their server; this class makes ``up``
idempotent (a healthy running service is only re-provisioned, which is harmless), refuses a port
that something else holds, and makes ``down`` leave nothing behind (checked by pid and port).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass

from aml.config import Config, ConfigError
from aml.services import base, process
from aml.services.base import ServiceError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    name: str
    running: bool
    pid: int | None
    port: int
    healthy: bool
    detail: str = ""

    def line(self) -> str:
        state = "running" if self.running else "stopped"
        health = "ok" if self.healthy else "down" if not self.running else "unhealthy"
        pid = self.pid or "-"
        text = f"{self.name:<9} {state:<8} pid={pid:<8} port={self.port:<6} health={health}"
        return f"{text}  {self.detail}" if self.detail else text


def ensure_password(config: Config, source_name: str) -> str:
    """The ``aml`` user's password: from the environment or secrets file, else a new random one
    written to ``<secrets>/<name>.password`` with mode 0600 (never logged)."""
    try:
        existing = config.source_password(source_name)
        if existing:
            return existing
    except ConfigError:
        pass
    config.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = config.secrets_dir / f"{source_name}.password"
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)
    log.info("wrote a new password for '%s' to %s (mode 0600)", source_name, path)
    return password


class Service(ABC):
    """One local server under ``<run_dir>/<name>/`` (data, log, pid file)."""

    name: str = ""
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 120.0
    stop_timeout: float = 60.0

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dir = config.run_dir / self.name
        self.log_file = self.dir / f"{self.name}.log"
        self.pid_file = self.dir / f"{self.name}.pid"

    # --- what subclasses provide -------------------------------------------------------------
    @property
    @abstractmethod
    def ports(self) -> list[int]:
        """Ports the service listens on (the first is the client port)."""

    @property
    @abstractmethod
    def marker(self) -> str:
        """An argument of the server's command line that identifies this instance."""

    @abstractmethod
    def _launch(self) -> None:
        """Initialises on first run and spawns the server (not yet ready)."""

    @abstractmethod
    def _probe(self) -> None:
        """Raises until the server accepts administrative work."""

    @abstractmethod
    def _provision(self) -> None:
        """Idempotently creates users, databases, schema or topics."""

    @abstractmethod
    def check_health(self) -> None:
        """Raises unless the service works as a client would use it."""

    # --- the shared life cycle -----------------------------------------------------------------
    def pid(self) -> int | None:
        return process.owned_pid(self.pid_file, self.marker)

    def start(self) -> bool:
        """Spawns the server unless it already runs; True when it was started now."""
        if self.pid() is not None:
            return False
        for port in self.ports:
            if base.port_open(LOOPBACK, port):
                raise ServiceError(
                    f"{self.name}: port {port} on {LOOPBACK} is already used by "
                    f"{base.port_owner(port)}, not by this project's {self.name} (run dir "
                    f"{self.dir}); stop it or change the port in conf/environments/"
                    f"{self.config.name}.toml"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        log.info("starting %s (logs: %s)", self.name, self.log_file)
        try:
            self._launch()
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServiceError(
                f"{self.name} could not be started: {exc}; see {self.log_file}"
            ) from exc
        return True

    def wait(self, timeout: float | None = None) -> ServiceStatus:
        """Waits until ready, provisions, and verifies as a client would."""
        pid = self.pid()
        if pid is None:
            raise ServiceError(
                f"{self.name} is not running; see {self.log_file}:\n{base.log_tail(self.log_file)}"
            )
        base.wait_ready(
            self.name,
            self._probe,
            timeout=timeout or self.start_timeout,
            alive=lambda: process.pid_alive(pid),
            log_file=self.log_file,
        )
        try:
            self._provision()
            self.check_health()
        except ServiceError:
            raise
        except Exception as exc:  # noqa: BLE001 - driver, config or OS errors alike
            raise ServiceError(f"{self.name} started but is not usable: {exc}") from exc
        return ServiceStatus(self.name, True, pid, self.ports[0], True)

    def up(self, timeout: float | None = None) -> ServiceStatus:
        if not self.start():
            log.info("%s already running (pid %s)", self.name, self.pid())
        return self.wait(timeout)

    def down(self, timeout: float | None = None) -> ServiceStatus:
        """Stops the server and checks that neither a process nor a listening port remains."""
        pid = self.pid()
        if pid is None:
            log.info("%s is not running", self.name)
        else:
            process.stop_process(
                pid, name=self.name, sig=self.stop_signal, timeout=timeout or self.stop_timeout
            )
        leftovers = process.find_pids(self.marker)
        if leftovers:
            raise ServiceError(f"{self.name}: processes {leftovers} still running after stop")
        self.pid_file.unlink(missing_ok=True)
        busy = [p for p in self.ports if base.port_open(LOOPBACK, p)]
        if busy and pid is not None:
            raise ServiceError(f"{self.name} stopped but port(s) {busy} still accept connections")
        return ServiceStatus(self.name, False, None, self.ports[0], False)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        if pid is None:
            busy = base.port_open(LOOPBACK, self.ports[0])
            detail = f"port held by {base.port_owner(self.ports[0])}" if busy else ""
            return ServiceStatus(self.name, False, None, self.ports[0], False, detail)
        try:
            self.check_health()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return ServiceStatus(self.name, True, pid, self.ports[0], False, str(exc)[:200])
        return ServiceStatus(self.name, True, pid, self.ports[0], True)

    def _client_host(self, configured: str) -> str:
        if configured not in (LOOPBACK, "localhost"):
            raise ServiceError(
                f"{self.name}: `aml services` runs local services on {LOOPBACK}, but environment "
                f"'{self.config.name}' points at {configured}"
            )
        return LOOPBACK


class DatabaseService(Service):
    """A source database server: one client port from its ``[sources.<name>]`` settings, its data
    folder under the service's run dir (which also identifies the process)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.source = config.source(self.name)
        self.data_dir = self.dir / "data"
        self.host = self._client_host(self.source["host"])

    @property
    def ports(self) -> list[int]:
        return [int(self.source["port"])]

    @property
    def marker(self) -> str:
        return str(self.data_dir)
