"""Throw-away encryption keys for a test module's lake (never written anywhere)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet


@contextmanager
def ephemeral_keys() -> Iterator[None]:
    """Sets a new Fernet key and token key in the environment for the block (jobs started as
    subprocesses inside it inherit them), and removes them afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AML_FERNET_KEYS", Fernet.generate_key().decode())
        patch.setenv("AML_TOKEN_KEY", Fernet.generate_key().decode())
        yield
