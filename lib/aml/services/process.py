"""Detached server processes: spawn, identify, and stop them without leaving anything behind.

The services are plain processes started detached (their own session, so they outlive the CLI).
A pid file alone is not trusted: a pid is only "ours" while the process is alive, not a zombie,
and its command line still names the service's own data directory or properties file. That
makes a stale pid file after a reboot harmless and lets ``down`` find a server whose pid file
was lost. Stopping escalates from the server's clean-shutdown signal to SIGKILL of everything
it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aml.services.base import PROGRESS_EVERY_S, ServiceError

log = logging.getLogger(__name__)

# Popen objects of the services this process started: kept so that they are reaped (no zombie
# counted as "running") and so that Python does not warn about still-running children.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    argv: Sequence[str | Path],
    *,
    log_file: Path,
    pid_file: Path,
    cwd: Path,
    user: pwd.struct_passwd | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Starts a detached server process writing stdout/stderr to ``log_file``; returns its pid."""
    log.debug("starting: %s", " ".join(map(str, argv)))
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    _CHILDREN[proc.pid] = proc
    pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
    # Popen can return before /proc shows the new program's argv (seen with java): wait for
    # it, or the marker check in owned_pid() would briefly not recognise the server.
    deadline = time.monotonic() + 5
    while not cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc.pid


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (zombies count as dead; own children are reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cmdline(pid: int) -> list[str]:
    """The argv of a process (empty when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _matches(args: list[str], marker: str) -> bool:
    return any(a == marker or a.endswith("=" + marker) for a in args)


def find_pids(marker: str) -> list[int]:
    """Live processes one of whose arguments is ``marker`` (or ``--opt=<marker>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if _matches(cmdline(pid), marker) and pid_alive(pid):
                pids.append(pid)
    return sorted(pids)


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The service's pid: from its pid file if that process is really it, else by command line."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    if pid is not None and pid_alive(pid) and _matches(cmdline(pid), marker):
        return pid
    found = find_pids(marker)
    return found[0] if found else None


def _proc_stats() -> dict[int, list[str]]:
    """``/proc/<pid>/stat`` fields after the command name (state, ppid, pgrp, ...) by pid."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text(errors="replace")
            except OSError:
                continue
            stats[int(entry.name)] = text.rsplit(")", 1)[-1].split()
    return stats


def process_family(pid: int) -> set[int]:
    """``pid``, its descendants and its process group: everything a server may leave behind
    (PostgreSQL's children call setsid(), so the group alone would miss them)."""
    stats = _proc_stats()
    family = {pid} | {p for p, f in stats.items() if int(f[2]) == pid and f[0] != "Z"}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, fields in stats.items():
            if int(fields[1]) == parent and child not in family and fields[0] != "Z":
                family.add(child)
                frontier.append(child)
    return family


def wait_gone(pids: Callable[[], list[int]], timeout: float, what: str) -> bool:
    """Polls until ``pids()`` is empty; logs progress; False on timeout."""
    start = last = time.monotonic()
    while pids():
        now = time.monotonic()
        if now - start >= timeout:
            return False
        if now - last >= PROGRESS_EVERY_S:
            log.info("waiting for %s to stop (%d s)…", what, now - start)
            last = now
        time.sleep(0.2)
    return True


def stop_process(pid: int, *, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
    """Asks a server to shut down cleanly, escalating to SIGKILL of its whole process group.

    Raises:
        ServiceError: something of the group is still alive after SIGKILL.
    """
    family = process_family(pid)

    def remaining() -> list[int]:
        family.update(process_family(pid) if pid_alive(pid) else ())
        return sorted(p for p in family if pid_alive(p))

    log.info("stopping %s (pid %d)", name, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if wait_gone(remaining, timeout, name):
        return
    log.warning("%s did not stop within %d s: sending SIGKILL to its process group", name, timeout)
    for target in remaining():
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)
    if not wait_gone(remaining, 10, name):
        raise ServiceError(f"{name}: processes {remaining()} survived SIGKILL")
