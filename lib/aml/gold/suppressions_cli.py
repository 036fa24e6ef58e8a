"""``aml suppressions list|check|token``: read, validate and write entries of the allow-list.

The allow-list (:mod:`aml.gold.suppressions`) names subjects by token, so an analyst needs a way
to get an account's token without the account number ever entering the file, the logs or the
output: ``token`` computes it with the environment's token key and prints only the token.
``check`` is stricter than the gold job's loader, because the loader's silent cases (a typo in
``[[suppression]]``, a rule id the pack does not have, the example's placeholder token) are
entries that suppress nothing while their author believes they do. ``list`` shows token
prefixes only: enough to tell entries apart, not a join key to copy elsewhere.

Exit codes: 0 done, 2 invalid file, bad input or missing keys (``ConfigError`` via ``aml.cli``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import hmac
import logging
import re
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from aml.gold.suppressions import AllowList, Suppression

log = logging.getLogger(__name__)

TOKEN_PREFIX = 8
# What silver accepts as an account (conf/checks/transactions.toml, BAD_ACCOUNT): a value of
# another shape is never in silver, so its token would match nothing.
ACCOUNT_SHAPE = re.compile(r"^[0-9]{1,10}$")
PLACEHOLDER_TOKEN = "0" * 64
STDIN = "-"
TOP_LEVEL_KEYS = frozenset({"suppression"})


def account_token(account: str, key: bytes) -> str:
    """The token silver gives ``account`` (:func:`aml.crypto.columns.token` in plain Python)."""
    return hmac.new(key, account.encode("utf-8"), hashlib.sha256).hexdigest()


def today_utc() -> dt.date:
    """Today in UTC: hits are matched on their UTC event date, so expiry is judged in UTC too."""
    return dt.datetime.now(dt.UTC).date()


def status(entry: Suppression, as_of: dt.date) -> str:
    """``expired`` (``expires`` is inclusive, so the day after it), ``pending`` or ``active``."""
    if entry.expires < as_of:
        return "expired"
    if entry.valid_from > as_of:
        return "pending"
    return "active"


def read(config: Config) -> tuple[Path, dict[str, Any] | None, AllowList]:
    """The environment's allow-list file, its raw document (``None`` when absent) and its list.

    Decoding and shape errors become ``ConfigError`` here (the loader would raise a
    ``TOMLDecodeError`` or an ``AttributeError``), so every command exits 2 with the file named.
    Messages never quote the file's values: a mistaken entry may hold an account number.
    """
    from aml.gold import suppressions

    file = suppressions.path(config)
    if not file.exists():
        return file, None, suppressions.AllowList()
    try:
        with file.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:  # the message is a position, never content
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    unknown = sorted(set(document) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"{file}: unknown top-level keys {unknown}: entries are [[suppression]] tables"
        )
    entries = document.get("suppression", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            f"{file}: write each entry as a [[suppression]] table (an array of tables)"
        )
    return file, document, suppressions.parse(document, str(file))


def problems(
    allow_list: AllowList, document: dict[str, Any], rule_ids: set[str] | None
) -> list[str]:
    """What ``check`` refuses beyond the loader: entries that would silently suppress nothing.

    Args:
        allow_list: the parsed list.
        document: the raw TOML, for the rules as written (the loader takes any list as is).
        rule_ids: the rule ids of the environment's pack, or ``None`` to skip that check.
    """
    from aml.gold.suppressions import ALL_RULES

    found = []
    for raw, entry in zip(document.get("suppression", []), allow_list.entries, strict=True):
        name = f"suppression {entry.id!r}"
        if not entry.id.strip():
            found.append("a suppression has an empty id")
        rules = raw["rules"] if isinstance(raw["rules"], list) else [raw["rules"]]
        if not rules:
            found.append(f'{name}: rules is empty (use "*" for all rules)')
        if not all(isinstance(r, str) for r in rules):
            found.append(f'{name}: rules must be strings such as "R13"')
        elif rule_ids is not None:
            unknown = sorted(r for r in rules if r != ALL_RULES and r not in rule_ids)
            if unknown:
                found.append(f"{name}: rules {unknown} are not in the environment's rule pack")
        if entry.subject_token == PLACEHOLDER_TOKEN:
            found.append(
                f"{name}: subject_token is the example's placeholder; compute the subject's "
                "token with `aml suppressions token --account -`"
            )
    return found


def list_command(args: argparse.Namespace) -> int:
    """Prints the entries sorted by id, one line each, the reason last (it is the long one)."""
    config = load_config(args.env)
    file, document, allow_list = read(config)
    if document is None:
        print(f"{file}: absent, so the allow-list is empty and nothing is suppressed")
        return 0
    as_of = args.as_of or today_utc()
    print(f"{file}: {len(allow_list.entries)} entries, status as of {as_of} (UTC)")
    if not allow_list.entries:
        return 0
    header = ("ID", "RULES", "OWNER", "VALID_FROM", "EXPIRES", "STATUS", "TOKEN", "REASON")
    rows = [header] + [
        (
            e.id,
            ",".join(e.rules),
            e.owner,
            str(e.valid_from),
            str(e.expires),
            status(e, as_of),
            e.subject_token[:TOKEN_PREFIX],
            " ".join(e.reason.split()),  # a multi-line reason must not break the table
        )
        for e in sorted(allow_list.entries, key=lambda e: e.id)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Validates the file before a gold run loads it; errors raise ``ConfigError`` (exit 2).

    Expired entries and an unscored pack are warnings, not errors: the list is still correct,
    it just does nothing there.
    """
    from aml.gold import rulepack

    config = load_config(args.env)
    file, document, allow_list = read(config)
    if document is None:
        print(f"{file}: absent, so the allow-list is empty and nothing is suppressed: OK")
        return 0
    pack = rulepack.load(config)
    # an unscored pack (v1) does not apply the list, so its rule ids say nothing about it
    rule_ids = {rule.id for rule in pack.rules} if pack.is_scored else None
    found = problems(allow_list, document, rule_ids)
    if found:
        raise ConfigError(f"{file}: " + "; ".join(found))
    if not pack.is_scored:
        log.warning(
            "the environment's rule pack %s %s is not scored: gold does not apply the allow-list",
            pack.name,
            pack.version,
        )
    as_of = args.as_of or today_utc()
    for entry in allow_list.entries:
        if status(entry, as_of) == "expired":
            log.warning(
                "suppression %r expired on %s: it covers no new hits; extend or remove it",
                entry.id,
                entry.expires,
            )
    print(
        f"{file}: {len(allow_list.entries)} entries, fingerprint {allow_list.fingerprint()}: OK "
        "(a changed fingerprint makes the next gold run a full rebuild)"
    )
    return 0


def _account(value: str) -> str | None:
    """The account text from the argument or, for ``-``, standard input; ``None`` if malformed.

    On a terminal, ``-`` prompts without echo, so the number stays out of the scrollback too.
    """
    if value != STDIN:
        text = value
    elif sys.stdin.isatty():
        text = getpass.getpass("account number: ")
    else:
        text = sys.stdin.readline()
    text = text.strip()
    return text if ACCOUNT_SHAPE.match(text) else None


def token_command(args: argparse.Namespace) -> int:
    """Prints the account's token on stdout (so it pipes) and the token key's id on stderr (so
    the analyst can tell it was computed with the key the environment's silver uses)."""
    from aml.crypto.keys import load_keyring

    config = load_config(args.env)
    account = _account(args.account)
    if account is None:  # never echo the value: it may be a real account number, mistyped
        print(
            "the account must be 1 to 10 digits, as silver accepts it (the value is not shown)",
            file=sys.stderr,
        )
        return 2
    keyring = load_keyring(config)
    if len(account) > 1 and account.startswith("0"):
        print(
            "note: the account has leading zeros; silver tokenizes the text as received, so this "
            "token matches only events that carried them (database sources store numbers and "
            "never do)",
            file=sys.stderr,
        )
    print(account_token(account, keyring.token_key))
    print(f"token key {keyring.token_entry.id} from {keyring.source}", file=sys.stderr)
    return 0


def _date(text: str) -> dt.date:
    """``--as-of`` parser: argparse reports the bad value as a usage error (exit 2)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``aml suppressions list|check|token`` to the ``aml`` parser."""
    parser = subparsers.add_parser(
        "suppressions", help="allow-list of known-good patterns: list, check, token"
    )
    actions = parser.add_subparsers(dest="suppressions_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the entries, their status and token prefixes")
    listing.add_argument(
        "--as-of", type=_date, default=None, help="judge expiry on this date (default: today UTC)"
    )
    listing.set_defaults(func=list_command)
    check = actions.add_parser("check", help="validate the file (exit 2 on an error)")
    check.add_argument(
        "--as-of", type=_date, default=None, help="warn of entries expired by this date"
    )
    check.set_defaults(func=check_command)
    tok = actions.add_parser(
        "token", help="an account's token, for a subject_token (never prints the account)"
    )
    tok.add_argument(
        "--account",
        required=True,
        metavar="N",
        help="the account number, or - to read it from standard input (prompted without echo "
        "on a terminal), which keeps it out of the shell history and the process list",
    )
    tok.set_defaults(func=token_command)
