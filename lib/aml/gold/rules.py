"""The rule kinds as Spark SQL templates: silver rows in, rule hits out.

Each kind turns a :class:`~aml.gold.rulepack.Rule` into one SQL statement over ``{tx}`` (a
DataFrame of silver transactions passed to ``spark.sql`` as a keyword, so no temporary view is
shared between concurrent callers, e.g. streaming micro-batches). Parameters are validated
numbers or quoted strings rendered as SQL literals; amounts stay DECIMAL, so every threshold and
ratio is compared exactly, as RULES.md requires.

Times are compared as epoch seconds (``ts_s``): the data has second resolution, so the
half-open history window of R07, ``[t - 30d, t - 7d)``, is the closed range ending one second
earlier, and ``RANGE BETWEEN w PRECEDING AND CURRENT ROW`` is the trailing window ``[t - w, t]``
with every transaction of the same second inside (ties).

Every statement returns the hit columns :data:`HIT_COLUMNS`; :mod:`aml.gold.evaluation` adds the
rule's identity and the lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aml.config import ConfigError
from aml.gold.rulepack import Rule

HIT_COLUMNS = (
    "transaction_id", "subject_token", "subject_role", "event_ts", "amount", "base_severity",
    "subject_is_pep", "subject_is_high_risk",
)  # fmt: skip
OTHER_SIDE = {"sender": "receiver", "receiver": "sender"}


def literal(value: Any) -> str:
    """A parameter as a SQL literal: exact decimals, or a quoted string."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return format(Decimal(value), "f")
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise ConfigError(f"rule parameter {value!r} is neither a number nor a string")


def _seconds(rule: Rule, name: str) -> int:
    value = rule.param(name)
    if value is None or int(value) != value or int(value) < 0:
        raise ConfigError(f"rule {rule.id}: {name} must be a whole number of seconds, got {value}")
    return int(value)


def party(side: str, alias: str = "") -> str:
    """The subject columns of one side of a transaction, in :data:`HIT_COLUMNS` order."""
    p = f"{alias}." if alias else ""
    return (
        f"{p}{side}_account_token AS subject_token, '{side}' AS subject_role, "
        f"{p}event_ts, {p}amount"
    )


def attributes(side: str, alias: str = "") -> str:
    p = f"{alias}." if alias else ""
    return (
        f"coalesce({p}{side}_is_pep, FALSE) AS subject_is_pep, "
        f"coalesce({p}{side}_customer_risk_rating = 'HIGH', FALSE) AS subject_is_high_risk"
    )


VALID = "transaction_id IS NOT NULL AND event_ts IS NOT NULL AND amount IS NOT NULL"


def large_amount(rule: Rule) -> str:
    """R01: one transfer above a threshold; severity climbs with the amount."""
    gt, high, critical = (
        literal(rule.param(k)) for k in ("amount_gt", "high_amount_gt", "critical_amount_gt")
    )
    return f"""
SELECT transaction_id, {party("sender")},
       CASE WHEN amount > {critical} THEN 'CRITICAL'
            WHEN amount > {high} THEN 'HIGH'
            ELSE {literal(rule.severity)} END AS base_severity,
       {attributes("sender")}
FROM {{tx}}
WHERE {VALID} AND sender_account_token IS NOT NULL AND amount > {gt}
"""


def high_risk_jurisdiction(rule: Rule) -> str:
    """R02: a cross-border transfer where either bank location is on the high-risk list."""
    blacklist = literal(rule.param("blacklist_severity", rule.severity))
    return f"""
SELECT transaction_id, {party("sender")},
       CASE WHEN is_fatf_blacklisted THEN {blacklist} ELSE {literal(rule.severity)} END
         AS base_severity,
       {attributes("sender")}
FROM {{tx}}
WHERE {VALID} AND sender_account_token IS NOT NULL
  AND sender_bank_location <> receiver_bank_location
  AND is_high_risk_jurisdiction
"""


def _qualifying(rule: Rule) -> str:
    terms = ["TRUE"]
    if rule.param("min_amount") is not None:
        terms.append(f"amount >= {literal(rule.param('min_amount'))}")
    if rule.param("max_amount_lt") is not None:
        terms.append(f"amount < {literal(rule.param('max_amount_lt'))}")
    if rule.param("payment_type") is not None:
        terms.append(f"payment_type = {literal(rule.param('payment_type'))}")
    return " AND ".join(terms)


def _condition(rule: Rule) -> tuple[str, str]:
    """(window aggregates, trigger condition) of a trailing-window rule."""
    aggregates, terms = [], []
    if rule.param("min_count") is not None:
        aggregates.append("count(*) OVER trailing AS n")
        terms.append(f"n >= {literal(rule.param('min_count'))}")
    if rule.param("min_counterparties") is not None:
        aggregates.append("size(collect_set(counterparty) OVER trailing) AS n_counterparties")
        terms.append(f"n_counterparties >= {literal(rule.param('min_counterparties'))}")
    if rule.param("min_total") is not None:
        aggregates.append("sum(amount) OVER trailing AS total")
        terms.append(f"total >= {literal(rule.param('min_total'))}")
    if not terms:
        raise ConfigError(f"rule {rule.id}: a trailing_window rule needs a min_* condition")
    return ", ".join(aggregates), " AND ".join(terms)


def flag_all(window: int, trigger_cte: str) -> str:
    """Flag-all: a qualifying row is a hit when a trigger of its subject lies in ``[q, q + W]``."""
    return f"""
flagged AS (
  SELECT *, max(is_trigger) OVER (
      PARTITION BY subject_token ORDER BY ts_s
      RANGE BETWEEN CURRENT ROW AND {window} FOLLOWING) AS is_flagged
  FROM {trigger_cte}
)"""


def trailing_window(rule: Rule) -> str:
    """R03-R06: a count / distinct counterparties / sum condition over ``[t - W, t]``."""
    side = rule.param("subject")
    window = _seconds(rule, "window_seconds")
    aggregates, condition = _condition(rule)
    return f"""
WITH qualifying AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, {party(side)},
         {OTHER_SIDE[side]}_account_token AS counterparty, {attributes(side)}
  FROM {{tx}}
  WHERE {VALID} AND {side}_account_token IS NOT NULL AND {_qualifying(rule)}
),
windows AS (
  SELECT *, {aggregates} FROM qualifying
  WINDOW trailing AS (PARTITION BY subject_token ORDER BY ts_s
                      RANGE BETWEEN {window} PRECEDING AND CURRENT ROW)
),
triggers AS (
  SELECT *, CASE WHEN {condition} THEN 1 ELSE 0 END AS is_trigger FROM windows
),{flag_all(window, "triggers")}
SELECT transaction_id, subject_token, subject_role, event_ts, amount,
       {literal(rule.severity)} AS base_severity, subject_is_pep, subject_is_high_risk
FROM flagged WHERE is_flagged = 1
"""


def velocity_spike(rule: Rule) -> str:
    """R07: ``v7 > m * (hist / 23 * 7)``, evaluated exactly as ``v7 * (H - S) > m * S * hist``.

    Pack v2 may add conditions over the spike window ``[t - S, t]`` (absent, they add nothing,
    as in v1): at least ``min_spike_count`` payments; at least ``min_spike_counterparties``
    distinct receivers; at least ``min_new_counterparties`` receivers not paid in the history
    window; a spike total at least ``history_max_ratio`` times the largest history payment; and
    distinct spike receivers at least ``counterparty_ratio`` times the history's; at least
    ``min_unseen_counterparties`` spike receivers that are themselves unseen
    (:func:`outgoing_with_unseen_payees`), and at least ``min_unseen_amount_share`` of the spike
    total paid in payments that each went to a payee unseen at that payment. A rise spread over
    several new payees, not one large payment to a usual one.
    """
    spike, history = _seconds(rule, "spike_seconds"), _seconds(rule, "history_seconds")
    multiplier = literal(rule.param("multiplier"))
    spike_frame = (
        f"PARTITION BY subject_token ORDER BY ts_s RANGE BETWEEN {spike} PRECEDING AND CURRENT ROW"
    )
    breadth = ""
    if rule.param("min_spike_count") is not None:
        breadth += f" AND count(*) OVER ({spike_frame}) >= {literal(rule.param('min_spike_count'))}"
    if rule.param("min_spike_counterparties") is not None:
        breadth += (
            f" AND size(collect_set(receiver) OVER ({spike_frame})) >= "
            f"{literal(rule.param('min_spike_counterparties'))}"
        )
    if rule.param("history_max_ratio") is not None:
        breadth += (
            f" AND sum(amount) OVER ({spike_frame}) >= "
            f"{literal(rule.param('history_max_ratio'))} * max(amount) OVER history"
        )
    if rule.param("min_new_counterparties") is not None:
        breadth += (
            f" AND size(array_except(collect_set(receiver) OVER ({spike_frame}), "
            "collect_set(receiver) OVER history)) >= "
            f"{literal(rule.param('min_new_counterparties'))}"
        )
    if rule.param("counterparty_ratio") is not None:
        breadth += (
            f" AND size(collect_set(receiver) OVER ({spike_frame})) >= "
            f"{literal(rule.param('counterparty_ratio'))} * "
            "size(collect_set(receiver) OVER history)"
        )
    outgoing = f"outgoing AS ({_sent_rows('{tx}')})"
    if rule.param("min_unseen_counterparties") is not None:
        breadth += (
            f" AND size(collect_set(CASE WHEN is_unseen THEN receiver END) OVER ({spike_frame}))"
            f" >= {literal(rule.param('min_unseen_counterparties'))}"
        )
        outgoing = outgoing_with_unseen_payees(history)
    if rule.param("min_unseen_amount_share") is not None:
        if rule.param("min_unseen_counterparties") is None:
            raise ConfigError(
                f"rule {rule.id}: min_unseen_amount_share needs min_unseen_counterparties"
            )
        breadth += (
            f" AND sum(CASE WHEN is_unseen THEN amount ELSE 0 END) OVER ({spike_frame}) >= "
            f"{literal(rule.param('min_unseen_amount_share'))} * sum(amount) OVER ({spike_frame})"
        )
    return f"""
WITH {outgoing.strip()},
windows AS (
  SELECT *,
         sum(amount) OVER ({spike_frame}) AS spike_total,
         sum(amount) OVER history AS history_total,
         count(*) OVER history AS history_count,
         TRUE{breadth} AS is_broad
  FROM outgoing
  WINDOW history AS (PARTITION BY subject_token ORDER BY ts_s
                     RANGE BETWEEN {history} PRECEDING AND {spike + 1} PRECEDING)
),
triggers AS (
  SELECT *, CASE WHEN history_count >= {literal(rule.param("min_history_count"))}
                  AND spike_total >= {literal(rule.param("min_spike_total"))}
                  AND spike_total * {history - spike} > {multiplier} * {spike} * history_total
                  AND is_broad
             THEN 1 ELSE 0 END AS is_trigger
  FROM windows
),{flag_all(spike, "triggers")}
SELECT transaction_id, subject_token, subject_role, event_ts, amount,
       {literal(rule.severity)} AS base_severity, subject_is_pep, subject_is_high_risk
FROM flagged WHERE is_flagged = 1
"""


def _sent_rows(source: str) -> str:
    """The subject's outgoing rows of ``source`` (a placeholder), as a velocity spike reads them."""
    return f"""
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, {party("sender")},
         receiver_account_token AS receiver, {attributes("sender")}
  FROM {source}
  WHERE {VALID} AND sender_account_token IS NOT NULL
"""


def outgoing_with_unseen_payees(history: int) -> str:
    """The ``outgoing`` CTE with ``is_unseen``: the payee has no row of its own, as sender or
    receiver with any counterparty, in ``[x - H, x)`` before the payment x (rows at x's second
    are not before it). The subject's rows come from ``{first}``, the payees' from ``{tx}`` (all
    of silver in a scoped run: a payee is another account). One sort of the payees' rows with
    the payments as probes, instead of a range join per payment (a merchant payee has many)."""
    return f"""
payments AS ({_sent_rows("{first}")}),
activity AS (
  SELECT sender_account_token AS account, unix_seconds(event_ts) AS ts_s,
         CAST(NULL AS BIGINT) AS probe_id
  FROM {{tx}}
  WHERE {VALID} AND sender_account_token IN (SELECT receiver FROM payments)
  UNION ALL
  SELECT receiver_account_token, unix_seconds(event_ts), CAST(NULL AS BIGINT)
  FROM {{tx}}
  WHERE {VALID} AND receiver_account_token IN (SELECT receiver FROM payments)
  UNION ALL
  SELECT receiver, ts_s, transaction_id FROM payments WHERE receiver IS NOT NULL
),
probes AS (
  SELECT probe_id, count(CASE WHEN probe_id IS NULL THEN 1 END) OVER (
      PARTITION BY account ORDER BY ts_s
      RANGE BETWEEN {history} PRECEDING AND 1 PRECEDING) = 0 AS is_unseen
  FROM activity
),
outgoing AS (
  SELECT p.*, coalesce(u.is_unseen, FALSE) AS is_unseen
  FROM payments p LEFT JOIN (SELECT * FROM probes WHERE probe_id IS NOT NULL) u
    ON u.probe_id = p.transaction_id
)"""


def rapid_pass_through(rule: Rule) -> str:
    """R09: a cash deposit into A, then a non-cash payment out of A at a similar amount."""
    window = _seconds(rule, "window_seconds")
    low, high = literal(rule.param("ratio_low")), literal(rule.param("ratio_high"))
    return f"""
WITH rows AS (SELECT * FROM {{tx}} WHERE {VALID}),
pairs AS (
  SELECT d.transaction_id AS deposit_id, o.transaction_id AS out_id
  FROM rows d JOIN rows o
    ON o.sender_account_token = d.receiver_account_token
   AND unix_seconds(o.event_ts) > unix_seconds(d.event_ts)
   AND unix_seconds(o.event_ts) <= unix_seconds(d.event_ts) + {window}
   AND o.amount BETWEEN {low} * d.amount AND {high} * d.amount
  WHERE d.payment_type = {literal(rule.param("deposit_payment_type"))}
    AND d.amount >= {literal(rule.param("min_deposit"))}
    AND d.receiver_account_token IS NOT NULL
    AND NOT o.is_cash
)
SELECT transaction_id, receiver_account_token AS subject_token, 'account' AS subject_role,
       event_ts, amount, {literal(rule.severity)} AS base_severity, {attributes("receiver")}
FROM rows WHERE transaction_id IN (SELECT deposit_id FROM pairs)
UNION
SELECT transaction_id, sender_account_token AS subject_token, 'account' AS subject_role,
       event_ts, amount, {literal(rule.severity)} AS base_severity, {attributes("sender")}
FROM rows WHERE transaction_id IN (SELECT out_id FROM pairs)
"""


def round_trip(rule: Rule) -> str:
    """R08: chains x1..xk (A -> B -> ... -> A), k in [min_legs, max_legs], within W of x1.

    ``{first}`` holds the candidate first legs (all rows, or the scoped subjects' rows); the
    later legs come from ``{tx}``. Each level extends the open chains by one leg; a leg whose
    receiver is A closes the chain, any other receiver must be new to the chain. A self-transfer
    A -> A is never a first leg: its B would be A, and the chain's accounts must be distinct until
    it closes (RULES.md), so A -> A, A -> A is not a round trip. The subject's
    PEP / high-risk flags come from the first legs of its chains.
    """
    window = _seconds(rule, "window_seconds")
    low, high = literal(rule.param("leg_ratio_low")), literal(rule.param("leg_ratio_high"))
    min_legs, max_legs = int(rule.param("min_legs")), int(rule.param("max_legs"))
    if not 2 <= min_legs <= max_legs:
        raise ConfigError(f"rule {rule.id}: need 2 <= min_legs <= max_legs")
    tokens = "sender_account_token IS NOT NULL AND receiver_account_token IS NOT NULL"
    ctes = [
        f"""legs AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, amount,
         sender_account_token AS sender, receiver_account_token AS receiver
  FROM {{tx}} WHERE {VALID} AND {tokens}
)""",
        f"""level1 AS (
  SELECT sender_account_token AS origin,
         array(sender_account_token, receiver_account_token) AS path,
         array(transaction_id) AS ids, receiver_account_token AS last_receiver,
         unix_seconds(event_ts) AS first_ts, unix_seconds(event_ts) AS last_ts,
         amount AS first_amount, {attributes("sender")}
  FROM {{first}}
  WHERE {VALID} AND {tokens} AND amount >= {literal(rule.param("min_amount"))}
    AND sender_account_token <> receiver_account_token
)""",
    ]
    closed = []
    for k in range(2, max_legs + 1):
        ctes.append(
            f"""level{k} AS (
  SELECT c.origin, array_append(c.path, l.receiver) AS path,
         array_append(c.ids, l.transaction_id) AS ids, l.receiver AS last_receiver,
         c.first_ts, l.ts_s AS last_ts, c.first_amount, c.subject_is_pep,
         c.subject_is_high_risk
  FROM level{k - 1} c JOIN legs l
    ON l.sender = c.last_receiver
   AND l.ts_s > c.last_ts AND l.ts_s <= c.first_ts + {window}
   AND l.amount BETWEEN {low} * c.first_amount AND {high} * c.first_amount
  WHERE {"TRUE" if k == 2 else "c.last_receiver <> c.origin"}
    AND (l.receiver = c.origin OR NOT array_contains(c.path, l.receiver))
)"""
        )
        if k >= min_legs:
            closed.append(
                f"SELECT origin, ids, subject_is_pep, subject_is_high_risk FROM level{k} "
                "WHERE last_receiver = origin"
            )
    ctes.append(f"closed AS ({' UNION ALL '.join(closed)})")
    ctes.append(
        """members AS (
  SELECT origin, transaction_id, bool_or(subject_is_pep) AS subject_is_pep,
         bool_or(subject_is_high_risk) AS subject_is_high_risk
  FROM (SELECT origin, explode(ids) AS transaction_id, subject_is_pep, subject_is_high_risk
        FROM closed)
  GROUP BY origin, transaction_id
)"""
    )
    separator = ",\n"
    return f"""
WITH {separator.join(ctes)}
SELECT t.transaction_id, m.origin AS subject_token, 'sender' AS subject_role,
       t.event_ts, t.amount, {literal(rule.severity)} AS base_severity,
       m.subject_is_pep, m.subject_is_high_risk
FROM members m JOIN {{tx}} t ON t.transaction_id = m.transaction_id
"""


KINDS: dict[str, Callable[[Rule], str]] = {
    "large_amount": large_amount,
    "high_risk_jurisdiction": high_risk_jurisdiction,
    "trailing_window": trailing_window,
    "velocity_spike": velocity_spike,
    "round_trip": round_trip,
    "rapid_pass_through": rapid_pass_through,
}


def sql(rule: Rule) -> str:
    """The SQL of one rule (placeholders ``{tx}``, and ``{first}`` for the kinds that read other
    accounts' rows: :func:`aml.gold.evaluation.reads_other_accounts`)."""
    from aml.gold.rules_v2 import KINDS as V2_KINDS

    kinds = {**KINDS, **V2_KINDS}
    try:
        template = kinds[rule.kind]
    except KeyError as exc:
        raise ConfigError(
            f"rule {rule.id}: unknown kind {rule.kind!r}; known: {sorted(kinds)}"
        ) from exc
    return template(rule)
