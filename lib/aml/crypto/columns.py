"""PII column functions: deterministic tokens in native Spark, Fernet encryption in Arrow UDFs.

The silver job calls them as transformations, tokens first (they need the plaintext)::

    silver_df = (
        conformed_df
        .transform(with_tokenized, ["sender_account", "receiver_account"], keyring.token_key)
        .transform(with_encrypted, ["sender_account", "receiver_account"], keyring)
    )

or :func:`aml.crypto.pii.protect`, which does both from ``conf/pii.toml``.

Values are protected in their string form (``CAST(c AS STRING)``: dates as ``YYYY-MM-DD``,
numbers without padding), so a BIGINT account number in one table and the same number as a
STRING in another get the same token. Complex values are protected as their JSON.

Where the keys live at run time:

- Fernet keys travel only inside the UDF closure (pickled into the task, never shown by
  ``explain``, the UI, a conf or a column).
- The token key is in the plan: HMAC needs it, and a native expression can only take it as
  literals (the key XOR-ed with the HMAC pads, which is the key in all but name). ``explain`` and
  the SQL UI hide them when ``spark.sql.redaction.string.regex`` matches :data:`REDACTION_REGEX`;
  analysis error messages print plans unredacted, so text from a failed job must go through
  :func:`redact` before it is stored or logged. The trade: native tokens run at Spark's speed and
  optimise (filters, joins) like any column, where a UDF would cost ~1 µs a value in Python.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, BinaryType, MapType, StringType, StructType

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from aml.crypto.keys import Keyring

ENC_SUFFIX = "_enc"
TOKEN_SUFFIX = "_token"
# How Spark prints a 64-byte binary literal (an HMAC pad): 0x + 128 hex digits.
REDACTION_REGEX = r"0x[0-9A-Fa-f]{128}"
_HMAC_BLOCK = 64


def redact(text: str) -> str:
    """Removes HMAC pad literals from text that may contain a Spark plan (error messages)."""
    return re.sub(REDACTION_REGEX, "0x<redacted>", text)


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104 inner and outer pads of a key (keys longer than a block are hashed first)."""
    if not key:
        raise ValueError("token key is empty")
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def _as_column(col: Column | str) -> Column:
    return F.col(col) if isinstance(col, str) else col


def token(col: Column | str, key: bytes) -> Column:
    """HMAC-SHA256 of the value's UTF-8 string form, lowercase hex; null stays null.

    Equal to ``hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()``, built from
    ``sha2``/``unhex``/``concat`` so it needs no Python worker: HMAC(k, m) =
    SHA256((k ^ opad) || SHA256((k ^ ipad) || m)).
    """
    ipad, opad = _hmac_pads(key)
    message = F.encode(_as_column(col).cast("string"), "UTF-8")
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), message), 256))
    return F.sha2(F.concat(F.lit(opad), inner), 256)


def _encryptor(key: bytes) -> Callable[[pa.Array], pa.Array]:
    """The per-batch encryption function; the closure carries the one key it needs."""

    def encrypt_batch(values: pa.Array) -> pa.Array:
        # One Fernet and one timestamp per Arrow batch (Fernet stamps seconds anyway). Each
        # distinct value of the batch is encrypted once, so equal values share a token within
        # a batch: this reveals nothing new, as the deterministic _token column already shows
        # equality everywhere, and it saves ~5 µs per repeat (dates of birth, names, accounts
        # of busy customers). Cost when nothing repeats: one dict lookup (~0.1 µs).
        fernet = Fernet(key)
        now = int(time.time())
        cache: dict[str, str] = {}

        def enc(v: str) -> str:
            return fernet.encrypt_at_time(v.encode("utf-8"), now).decode("ascii")

        out = [
            None if v is None else (cache.get(v) or cache.setdefault(v, enc(v)))
            for v in values.to_pylist()
        ]
        return pa.array(out, type=pa.string())

    return encrypt_batch


def _decryptor(keys: Sequence[bytes]) -> Callable[[pa.Array], pa.Array]:
    def decrypt_batch(values: pa.Array) -> pa.Array:
        return pa.array(_decrypt_list(values.to_pylist(), keys), type=pa.string())

    return decrypt_batch


def _rotator(keys: Sequence[bytes]) -> Callable[[pa.Array], pa.Array]:
    def rotate_batch(values: pa.Array) -> pa.Array:
        multi = MultiFernet([Fernet(k) for k in keys])
        out = [None if v is None else multi.rotate(v.encode()).decode() for v in values.to_pylist()]
        return pa.array(out, type=pa.string())

    return rotate_batch


def _decrypt_list(tokens: Iterable[str | None], keys: Sequence[bytes]) -> list[str | None]:
    multi = MultiFernet([Fernet(k) for k in keys])
    out: list[str | None] = []
    for t in tokens:
        if t is None:
            out.append(None)
            continue
        try:
            out.append(multi.decrypt(t.encode()).decode("utf-8"))
        except InvalidToken:
            # Fail loudly: a silent null would hide a lost key or a corrupted value.
            raise InvalidToken(
                "a value is not decryptable with any key of the keyring (lost or retired key?)"
            ) from None
    return out


def _string_form(df: DataFrame, col_name: str) -> Column:
    dtype = df.schema[col_name].dataType
    if isinstance(dtype, BinaryType):
        raise TypeError(f"column {col_name} is binary: encrypt its text form instead")
    if isinstance(dtype, StructType | ArrayType | MapType):
        return F.to_json(df[col_name])
    return df[col_name].cast("string")


def _check_columns(df: DataFrame, columns: Sequence[str], suffix: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns not in the DataFrame: {missing}")
    clashing = [c + suffix for c in columns if c + suffix in df.columns]
    if clashing:
        raise ValueError(f"columns already present: {clashing}")


def with_encrypted(df: DataFrame, columns: Sequence[str], keyring: Keyring) -> DataFrame:
    """Replaces each column ``c`` by ``c_enc``, a Fernet token of its string form, in place.

    Encryption uses the keyring's newest key; the token decrypts with plain
    ``Fernet(key).decrypt``. Only the listed columns travel to Python (scalar Arrow UDFs: a
    ``mapInArrow`` would ship every column of a wide silver row there and back).
    """
    _check_columns(df, columns, ENC_SUFFIX)
    # Deterministic in Spark's sense (decrypting gives the same value), which Delta's UPDATE and
    # MERGE require; a retried task producing different ciphertext is harmless.
    encrypt = F.arrow_udf(_encryptor(keyring.fernet_key_bytes[0]), StringType())
    wanted = set(columns)
    return df.select(
        *[
            encrypt(_string_form(df, c)).alias(c + ENC_SUFFIX) if c in wanted else df[c]
            for c in df.columns
        ]
    )


def with_tokenized(df: DataFrame, columns: Sequence[str], key: bytes) -> DataFrame:
    """Adds ``c_token`` (see :func:`token`) for each column; the plaintext column stays."""
    _check_columns(df, columns, TOKEN_SUFFIX)
    return df.withColumns({c + TOKEN_SUFFIX: token(df[c], key) for c in columns})


def decrypt_column(col: Column | str, keyring: Keyring) -> Column:
    """The plaintext (STRING) of a ``_enc`` column, decrypted by any key of the keyring.

    For the audited path only (:func:`aml.crypto.access.decrypt`); a value no key decrypts fails
    the task rather than becoming null.
    """
    decrypt = F.arrow_udf(_decryptor(keyring.fernet_key_bytes), StringType())
    return decrypt(_as_column(col))


def decrypt_values(tokens: Iterable[str | None], keyring: Keyring) -> list[str | None]:
    """Driver-side decryption of collected tokens (nulls stay null)."""
    return _decrypt_list(tokens, keyring.fernet_key_bytes)


def rotate_column(col: Column | str, keyring: Keyring) -> Column:
    """``MultiFernet.rotate`` of each token: re-encrypted under the newest key, original
    timestamp kept. Used by :mod:`aml.crypto.rotate` inside a Delta UPDATE."""
    rotate = F.arrow_udf(_rotator(keyring.fernet_key_bytes), StringType())
    return rotate(_as_column(col))
