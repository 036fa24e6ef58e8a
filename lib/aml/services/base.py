"""Binaries, system users, ports, one-shot tools and readiness waits shared by the services.

Every failure is a :class:`ServiceError` whose message says what to do (which package to
install, which port is taken by whom, which log to read), because the CLI prints it as is.
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0


class ServiceError(RuntimeError):
    """A local service cannot be started, checked or stopped; the message says what to do."""


def find_binary(name: str, package: str, extra_dirs: Iterable[Path] = ()) -> Path:
    """Locates an executable on PATH or in ``extra_dirs`` (sbin and versioned dirs are not on PATH
    for every user), or says which Debian package provides it."""
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found:
        return Path(found)
    raise ServiceError(f"'{name}' not found: install it with `apt-get install {package}`")


def system_user(name: str) -> pwd.struct_passwd | None:
    """The account a root-started service must run as (``None`` when not root: run as oneself).

    PostgreSQL refuses to run as root and MariaDB should not, so as root the Debian system users
    created by their packages own the data directories and run the servers.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise ServiceError(
            f"running as root but there is no '{name}' system user to run the service as; "
            "`apt-get install postgresql mariadb-server` creates it"
        ) from exc


def chown_tree(path: Path, user: pwd.struct_passwd | None) -> None:
    """Gives ``path`` and everything below it to ``user`` (no-op when not root)."""
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)
    os.lchown(path, user.pw_uid, user.pw_gid)


def check_reachable(path: Path, user: pwd.struct_passwd | None) -> None:
    """Fails early when a system user cannot traverse to ``path`` (e.g. a 0700 home or pytest's
    temp root): the server would otherwise die with a less obvious permission error."""
    if user is None:
        return
    groups = {user.pw_gid, *os.getgrouplist(user.pw_name, user.pw_gid)}
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_uid == user.pw_uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise ServiceError(
                f"the '{user.pw_name}' system user cannot enter {parent}; "
                f"use a run directory it can reach or `chmod o+x {parent}`"
            )


def run_tool(
    argv: Sequence[str | Path],
    *,
    log_file: Path,
    what: str,
    user: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> str:
    """Runs a one-shot command (initdb, install-db, storage format); its output goes to
    ``log_file`` too, and a failure raises with the output's tail and the log's path."""
    proc = subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
    )
    with log_file.open("a", encoding="utf-8") as out:
        out.write(f"--- {what}: {' '.join(map(str, argv))}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise ServiceError(f"{what} failed (exit {proc.returncode}); see {log_file}:\n{tail}")
    return proc.stdout


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str:
    """Best-effort description of who listens on ``port`` (for error messages)."""
    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "another process"
    users = re.findall(r'\(\("([^"]+)",pid=(\d+)', out)
    return ", ".join(f"{prog} (pid {pid})" for prog, pid in users) or "another process"


def log_tail(path: Path, lines: int = 12) -> str:
    """Last lines of a log file, indented, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def wait_ready(
    name: str,
    probe: Callable[[], None],
    *,
    timeout: float,
    alive: Callable[[], bool],
    log_file: Path,
) -> None:
    """Retries ``probe`` until it stops raising, the process dies, or ``timeout`` passes.

    Raises:
        ServiceError: naming the last probe error and pointing at the service's log.
    """
    start = last = time.monotonic()
    while True:
        try:
            probe()
            log.info("%s is ready (%.1f s)", name, time.monotonic() - start)
            return
        except Exception as exc:  # noqa: BLE001 - any probe failure means "not yet"
            error = f"{type(exc).__name__}: {exc}".strip()
        now = time.monotonic()
        if not alive():
            raise ServiceError(
                f"{name} exited during start-up ({error}); see {log_file}:\n{log_tail(log_file)}"
            )
        if now - start >= timeout:
            raise ServiceError(
                f"{name} not ready after {timeout:.0f} s ({error}); see {log_file}:\n"
                f"{log_tail(log_file)}"
            )
        if now - last >= PROGRESS_EVERY_S:
            log.info("waiting for %s (%d s)…", name, now - start)
            last = now
        time.sleep(0.5)
