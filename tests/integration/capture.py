"""What a block of the test process writes: its log records (at DEBUG, every logger) and its
standard output and error, at both the Python and the file-descriptor level (as pytest's
``caplog`` and ``capfd`` see them), for fixtures that build something once and tests that judge
what the build printed."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Output:
    text: str = ""


@contextlib.contextmanager
def captured_output() -> Iterator[Output]:
    output = Output()
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    python_out, python_err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryFile() as fd_out:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(fd_out.fileno(), 1)
        os.dup2(fd_out.fileno(), 2)
        root.setLevel(logging.DEBUG)
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(python_out), contextlib.redirect_stderr(python_err):
                yield output
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            fd_out.seek(0)
            output.text = "".join(
                (
                    records.getvalue(),
                    python_out.getvalue(),
                    python_err.getvalue(),
                    fd_out.read().decode(errors="replace"),
                )
            )
