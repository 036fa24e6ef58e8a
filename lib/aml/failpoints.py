"""Named crash points for restartability tests.

``hit("after_bronze_commit")`` kills the process with SIGKILL (no clean-up, like a lost node)
when ``$AML_FAILPOINT`` names that point; otherwise it does nothing. Jobs call it at the
boundaries where a crash is most dangerous (between two commits), so tests can prove a rerun
recovers from exactly there, not only from wherever a timer happened to strike.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


def hit(name: str) -> None:
    if os.environ.get("AML_FAILPOINT") == name:
        log.warning("failpoint %s: killing this process", name)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
