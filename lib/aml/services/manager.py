"""The library API behind ``aml services``: bring the local services up, down, or report them.

``up`` first spawns every selected service that is not running and only then waits for each, so
the three start-ups overlap (Kafka's JVM is the slow one). A failure of one service does not
stop the others from being brought up; all failures are raised together at the end. A server
this call started but that never became ready is stopped again, so a failed ``up`` leaves no
half-started process behind (its log says why).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from aml.config import Config
from aml.services.base import ServiceError
from aml.services.kafka import KafkaService
from aml.services.mariadb import MariaDBService
from aml.services.postgres import PostgresService
from aml.services.service import Service, ServiceStatus

log = logging.getLogger(__name__)

SERVICES: dict[str, type[Service]] = {
    "postgres": PostgresService,
    "mariadb": MariaDBService,
    "kafka": KafkaService,
}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)


def parse_only(value: str | Iterable[str] | None) -> list[str]:
    """Service names from ``--only a,b`` (all when empty), in the canonical order."""
    if value is None:
        return list(SERVICE_NAMES)
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = {item.strip().lower() for item in items if item.strip()}
    unknown = sorted(wanted - set(SERVICE_NAMES))
    if unknown:
        raise ServiceError(f"unknown service(s) {unknown}; known: {', '.join(SERVICE_NAMES)}")
    return [name for name in SERVICE_NAMES if name in wanted] or list(SERVICE_NAMES)


def services(config: Config, only: str | Iterable[str] | None = None) -> list[Service]:
    """Service objects for the selection (construction validates their settings)."""
    return [SERVICES[name](config) for name in parse_only(only)]


def _raise_all(failures: dict[str, str]) -> None:
    if failures:
        raise ServiceError("\n".join(f"{name}: {msg}" for name, msg in failures.items()))


def up(
    config: Config, only: str | Iterable[str] | None = None, timeout: float | None = None
) -> list[ServiceStatus]:
    """Starts (if needed), waits for, and provisions the selected services. Idempotent.

    Raises:
        ServiceError: one line per service that could not be brought up.
    """
    selected = services(config, only)
    failures: dict[str, str] = {}
    started: set[str] = set()
    for svc in selected:
        try:
            if svc.start():
                started.add(svc.name)
            else:
                log.info("%s already running (pid %s)", svc.name, svc.pid())
        except ServiceError as exc:
            failures[svc.name] = str(exc)
    results = []
    for svc in selected:
        if svc.name in failures:
            continue
        try:
            results.append(svc.wait(timeout))
        except ServiceError as exc:
            failures[svc.name] = str(exc)
            if svc.name in started:  # do not leave a half-started server behind
                with contextlib.suppress(ServiceError):
                    svc.down()
    _raise_all(failures)
    return results


def down(
    config: Config, only: str | Iterable[str] | None = None, timeout: float | None = None
) -> list[ServiceStatus]:
    """Stops the selected services (Kafka first) and checks nothing of them is left."""
    failures: dict[str, str] = {}
    results = []
    for svc in reversed(services(config, only)):
        try:
            results.append(svc.down(timeout))
        except ServiceError as exc:
            failures[svc.name] = str(exc)
    _raise_all(failures)
    return list(reversed(results))


def status(config: Config, only: str | Iterable[str] | None = None) -> list[ServiceStatus]:
    """One :class:`ServiceStatus` per selected service (never raises for a stopped one)."""
    return [svc.status() for svc in services(config, only)]
