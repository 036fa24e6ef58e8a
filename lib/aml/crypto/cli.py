"""``aml keys init|status|rotate`` and ``aml decrypt``: the key and decrypt commands.

Nothing printed here contains key material: ``status`` shows key ids (a hash prefix) and where
the keys came from; ``decrypt`` prints the clear values an investigator asked for, after the
audit row is written. Exit codes: 0 done, 2 configuration or key problem (via ``aml.cli``),
3 decrypt refused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aml.config import Config, load_config
from aml.crypto.keys import (
    Keyring,
    init_key_file,
    keys_in_environment,
    load_keyring,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

EXIT_DENIED = 3


def _session(config: Config, app_name: str) -> SparkSession:
    from aml.spark import build_session

    return build_session(config, app_name)


def describe(keyring: Keyring) -> list[str]:
    """The lines of ``aml keys status``: ids, dates, roles and rotation state; never keys."""
    source = keyring.source
    if source != "environment":
        mode = stat.S_IMODE(os.stat(source).st_mode)
        source = f"{source} (mode {mode:04o})"
    lines = [f"keys from: {source}", "fernet keys (newest first: the first encrypts, all decrypt):"]
    for i, entry in enumerate(keyring.fernet_keys):
        role = "primary" if i == 0 else "decrypt only"
        lines.append(f"  {entry.id}  created {entry.created_at or 'unknown'}  {role}")
    token = keyring.token_entry
    lines.append(
        f"token key: {token.id}  created {token.created_at or 'unknown'}  "
        "(never rotated: tokens are join keys)"
    )
    if keyring.rotation:
        r = keyring.rotation
        done = ", ".join(f"{t}@v{v}" for t, v in r.done.items()) or "none yet"
        lines.append(
            f"rotation in progress since {r.started_at} to {r.new_key_id}; re-encrypted: {done}. "
            "Run `aml keys rotate` to finish."
        )
    else:
        lines.append("rotation: none in progress")
    return lines


def keys_init(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    path = init_key_file(config, force=args.force)
    print(f"wrote a new keyring to {path} (mode 0600)")
    if keys_in_environment():
        print("note: AML_FERNET_KEYS / AML_TOKEN_KEY are set and take precedence over the file")
    return 0


def keys_status(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    for line in describe(load_keyring(config)):
        print(line)
    return 0


def keys_rotate(args: argparse.Namespace) -> int:
    from aml.crypto.rotate import rotate

    config = load_config(args.env)
    spark = _session(config, "aml-keys-rotate")
    report = rotate(spark, config, keys_out=args.keys_out)
    print(f"new primary key {report.new_key_id}; retired {report.retired_key_ids or 'none'}")
    for table, rows in report.rows_rewritten.items():
        print(f"  {table}: {rows} rows re-encrypted")
    for table in report.skipped:
        print(f"  {table}: no table yet, skipped")
    if args.keys_out:
        print(
            f"the rotated keyring is in {report.key_file}: put its keys into AML_FERNET_KEYS "
            "(see docs/security.md), then delete the file"
        )
    return 0


def decrypt_command(args: argparse.Namespace) -> int:
    from aml.crypto.access import AccessDenied, decrypt

    if bool(args.id) == bool(args.where):
        print("give either --id (one or more) or --where", file=sys.stderr)
        return 2
    config = load_config(args.env)
    spark = _session(config, "aml-decrypt")
    try:
        rows = decrypt(
            spark,
            config,
            args.table,
            args.id or args.where,
            args.column or None,
            args.reason,
            args.user,
            max_rows=args.max_rows,
        )
    except AccessDenied as exc:
        print(f"decrypt refused: {exc}", file=sys.stderr)
        return EXIT_DENIED
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(
        f"{len(rows)} row(s) decrypted; the access is recorded in ops.decrypt_audit",
        file=sys.stderr,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="field-encryption keys: init, status, rotate")
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create the key file (0600) if absent")
    init.add_argument("--force", action="store_true", help="replace an existing key file")
    init.set_defaults(func=keys_init)
    status = actions.add_parser("status", help="key ids, dates and source (never the keys)")
    status.set_defaults(func=keys_status)
    rotate = actions.add_parser(
        "rotate", help="new Fernet key, re-encrypt every _enc column, retire the old keys"
    )
    rotate.add_argument(
        "--keys-out",
        type=Path,
        default=None,
        help="with keys from the environment: file to write the rotated keyring to",
    )
    rotate.set_defaults(func=keys_rotate)

    dec = subparsers.add_parser(
        "decrypt", help="decrypt PII of a few rows (investigators; audited)"
    )
    dec.add_argument(
        "--table", required=True, help="a table of conf/pii.toml, e.g. silver.transactions"
    )
    dec.add_argument("--id", action="append", default=[], help="primary key of a row (repeatable)")
    dec.add_argument("--where", default=None, help="SQL filter instead of --id")
    dec.add_argument(
        "--column", action="append", default=[], help="plaintext column (default: all)"
    )
    dec.add_argument("--reason", required=True, help="why, e.g. a case reference (audited)")
    dec.add_argument("--user", default=None, help="who asks (default: $AML_USER or the OS login)")
    dec.add_argument("--max-rows", type=int, default=1000, help="refuse larger requests")
    dec.set_defaults(func=decrypt_command)
