"""Throw-away encryption keys for a test module's lake (never written anywhere)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet


@dataclass(frozen=True)
class Keys:
    fernet: str
    token: str

    @classmethod
    def new(cls) -> Keys:
        return cls(Fernet.generate_key().decode(), Fernet.generate_key().decode())


@contextmanager
def ephemeral_keys(keys: Keys | None = None) -> Iterator[Keys]:
    """Sets a Fernet key and a token key (new ones, or ``keys``: those of a lake built earlier)
    in the environment for the block (jobs started as subprocesses inside it inherit them),
    and removes them afterwards."""
    keys = keys or Keys.new()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AML_FERNET_KEYS", keys.fernet)
        patch.setenv("AML_TOKEN_KEY", keys.token)
        yield keys
