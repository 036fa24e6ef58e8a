"""The keyring: Fernet keys for field encryption and one HMAC key for deterministic tokens.

Two kinds of key with two life cycles:

- **Fernet keys**, newest first. The newest encrypts; all of them decrypt (``MultiFernet``), so
  a rotation can add a key, re-encrypt the tables, and only then drop the old ones.
- **The token key** (HMAC-SHA256). Tokens are join and group keys for silver and gold, so they
  must stay stable: ``aml keys rotate`` never touches it. Changing it means rebuilding silver and
  gold from bronze (every token changes), which is a migration, not a rotation.

Keys come from the environment (``AML_FERNET_KEYS`` comma-separated newest first, plus
``AML_TOKEN_KEY``) or, when neither is set, from ``<secrets>/keyring.json``: git-ignored, mode
0600, refused like ssh refuses a private key when group or others may read it. Nothing here
logs or prints key material; reprs show key ids (first 8 hex digits of the SHA-256 of the raw
key), which identify a key without revealing it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, MultiFernet

from aml.config import Config, ConfigError

FERNET_ENV = "AML_FERNET_KEYS"
TOKEN_ENV = "AML_TOKEN_KEY"
KEY_FILE_NAME = "keyring.json"
FILE_FORMAT = 1
SOURCE_ENV = "environment"

log = logging.getLogger(__name__)


class KeyringError(ConfigError):
    """Keys are missing, malformed or unsafely stored. Messages never contain key material."""


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw(encoded: bytes, what: str) -> bytes:
    """Decodes a urlsafe-base64 32-byte key, with an error that names it but never shows it."""
    try:
        raw = base64.urlsafe_b64decode(encoded)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyringError(f"{what} is not 32 bytes of url-safe base64")
    return raw


def key_id(encoded: bytes) -> str:
    """A key's public name: first 8 hex digits of SHA-256 of the raw key (32 bits: no leak)."""
    return hashlib.sha256(base64.urlsafe_b64decode(encoded)).hexdigest()[:8]


@dataclass(frozen=True)
class KeyEntry:
    """One key, as url-safe base64 bytes (the form ``Fernet`` takes), kept out of reprs."""

    key: bytes = field(repr=False)
    created_at: str | None = None

    @property
    def id(self) -> str:
        return key_id(self.key)

    def __repr__(self) -> str:
        return f"KeyEntry(id={self.id}, created_at={self.created_at})"


@dataclass(frozen=True)
class Rotation:
    """A rotation in progress, persisted in the key file so a crash can be resumed.

    Attributes:
        new_key_id: id of the key the rotation made primary (the keyring's first key).
        started_at: when it began (UTC, ISO 8601).
        done: table name -> Delta version its re-encryption commit produced. A rerun skips a
            table whose current version is still that one (nothing written since).
    """

    new_key_id: str
    started_at: str
    done: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, repr=False)
class Keyring:
    """Fernet keys (newest first) plus the token key, and where they came from."""

    fernet_keys: tuple[KeyEntry, ...]
    token_entry: KeyEntry
    source: str
    rotation: Rotation | None = None

    def __post_init__(self) -> None:
        if not self.fernet_keys:
            raise KeyringError(f"keyring from {self.source} has no Fernet key")
        for i, entry in enumerate(self.fernet_keys):
            _raw(entry.key, f"Fernet key {i + 1} of {self.source}")
        _raw(self.token_entry.key, f"token key of {self.source}")

    @property
    def token_key(self) -> bytes:
        """The raw 32-byte HMAC key, as :func:`aml.crypto.columns.token` takes it."""
        return base64.urlsafe_b64decode(self.token_entry.key)

    @property
    def fernet_key_bytes(self) -> tuple[bytes, ...]:
        """The Fernet keys, newest first: what UDF closures capture (never the Keyring)."""
        return tuple(e.key for e in self.fernet_keys)

    def multifernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.fernet_key_bytes])

    def primary(self) -> Fernet:
        return Fernet(self.fernet_keys[0].key)

    def __repr__(self) -> str:
        ids = ", ".join(e.id for e in self.fernet_keys)
        pending = f", rotation to {self.rotation.new_key_id}" if self.rotation else ""
        token = self.token_entry.id
        return f"Keyring(source={self.source}, fernet=[{ids}], token={token}{pending})"

    __str__ = __repr__


def new_fernet_entry() -> KeyEntry:
    return KeyEntry(Fernet.generate_key(), utc_stamp())


def generate_keyring(source: str) -> Keyring:
    """A fresh keyring: one Fernet key and one token key, both from ``os.urandom``."""
    token = KeyEntry(base64.urlsafe_b64encode(os.urandom(32)), utc_stamp())
    return Keyring((new_fernet_entry(),), token, source)


def key_file_path(config: Config) -> Path:
    return config.secrets_dir / KEY_FILE_NAME


def keys_in_environment(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get(FERNET_ENV) or env.get(TOKEN_ENV))


def keyring_from_environment(environ: Mapping[str, str] | None = None) -> Keyring:
    """Both variables or neither: half a keyring in the environment is a mistake, not a hint
    to look elsewhere (mixing sources would silently pair keys from different deployments)."""
    env = os.environ if environ is None else environ
    fernet_text, token_text = env.get(FERNET_ENV, ""), env.get(TOKEN_ENV, "")
    if not fernet_text or not token_text:
        missing = TOKEN_ENV if fernet_text else FERNET_ENV
        raise KeyringError(
            f"${missing} is not set: set both ${FERNET_ENV} and ${TOKEN_ENV} or neither"
        )
    keys = [k.strip() for k in fernet_text.split(",") if k.strip()]
    entries = tuple(KeyEntry(k.encode()) for k in keys)
    for i, entry in enumerate(entries):
        _raw(entry.key, f"${FERNET_ENV} entry {i + 1}")
    _raw(token_text.strip().encode(), f"${TOKEN_ENV}")
    return Keyring(entries, KeyEntry(token_text.strip().encode()), SOURCE_ENV)


def check_permissions(path: Path) -> None:
    """Refuses a key file that group or others can access (as ssh does for private keys)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyringError(
            f"permissions {mode:04o} for '{path}' are too open: a key file must be accessible by "
            f"its owner only. Run: chmod 600 {path}"
        )


def _entry(data: Mapping[str, Any], what: str) -> KeyEntry:
    if not isinstance(data, Mapping) or not isinstance(data.get("key"), str):
        raise KeyringError(f"{what} has no 'key' string")
    return KeyEntry(data["key"].encode(), data.get("created_at"))


def read_key_file(path: Path) -> Keyring:
    """Loads ``keyring.json`` after checking its permissions."""
    if not path.is_file():
        raise KeyringError(
            f"no keys: set ${FERNET_ENV} and ${TOKEN_ENV}, or create {path} with `aml keys init`"
        )
    check_permissions(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # message has no file content
        raise KeyringError(f"{path} is not valid JSON") from exc
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise KeyringError(f"{path}: not a keyring file of format {FILE_FORMAT}")
    entries = tuple(_entry(e, f"{path} fernet key") for e in data.get("fernet_keys") or [])
    rot = data.get("rotation")
    try:
        rotation = (
            Rotation(str(rot["new_key_id"]), str(rot["started_at"]), dict(rot.get("done") or {}))
            if rot
            else None
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyringError(f"{path}: malformed rotation mark") from exc
    return Keyring(entries, _entry(data.get("token_key"), f"{path} token key"), str(path), rotation)


def write_key_file(path: Path, keyring: Keyring) -> Keyring:
    """Writes the keyring atomically (temp file 0600, fsync, rename) and returns it re-sourced.

    Atomic replacement is what makes rotation crash-safe: a reader sees the old file or the new
    one, never half of either.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data: dict[str, Any] = {
        "format": FILE_FORMAT,
        "fernet_keys": [
            {"key": e.key.decode(), "created_at": e.created_at} for e in keyring.fernet_keys
        ],
        "token_key": {
            "key": keyring.token_entry.key.decode(),
            "created_at": keyring.token_entry.created_at,
        },
        "rotation": None,
    }
    if keyring.rotation:
        r = keyring.rotation
        data["rotation"] = {
            "new_key_id": r.new_key_id,
            "started_at": r.started_at,
            "done": dict(r.done),
        }
    fd, tmp = tempfile.mkstemp(prefix=".keyring-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return replace(keyring, source=str(path))


def load_keyring(config: Config, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring jobs use: the environment if it has keys, else the key file.

    Jobs call it at the start of each run (a streaming job, per micro-batch): reading a small file
    is cheap, and it is how a job picks up a rotation without a restart.
    """
    if keys_in_environment(environ):
        return keyring_from_environment(environ)
    return read_key_file(key_file_path(config))


def init_key_file(config: Config, force: bool = False) -> Path:
    """Creates ``<secrets>/keyring.json`` (0600, folder 0700); refuses to replace one unless
    ``force``, because replacing keys makes every encrypted value and token unreadable."""
    path = key_file_path(config)
    if path.exists() and not force:
        raise KeyringError(f"{path} exists; refusing to overwrite keys (use --force to replace)")
    existed = path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not existed:
        os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
    elif stat.S_IMODE(path.parent.stat().st_mode) & 0o077:
        log.warning("%s is accessible by group or others; chmod 700 it", path.parent)
    write_key_file(path, generate_keyring(str(path)))
    return path
