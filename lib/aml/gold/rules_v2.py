"""The rule kinds rule pack v2 adds: behavioural baselines and multi-account structures.

Same contract as :mod:`aml.gold.rules`: each kind turns a rule into one SQL statement over
``{tx}`` that returns :data:`aml.gold.rules.HIT_COLUMNS`. Baselines are computed inline, from the
subject's own rows before the trigger (``[t - H, t)`` or ``[t - W - H, t - W)``), so a hit can be
reproduced by hand from silver alone and the incremental path stays exact through
:func:`aml.gold.evaluation.margin`. ``docs/RULES_V2.md`` is the specification; every number is a
parameter in ``conf/rules/rule_pack_v2.toml``.
"""

from __future__ import annotations

from aml.config import ConfigError
from aml.gold import profiles
from aml.gold.rulepack import Rule
from aml.gold.rules import OTHER_SIDE, VALID, _seconds, attributes, flag_all, literal, party

TOKENS = "sender_account_token IS NOT NULL AND receiver_account_token IS NOT NULL"
HIT_SELECT = (
    "SELECT transaction_id, subject_token, subject_role, event_ts, amount, {severity} AS "
    "base_severity, subject_is_pep, subject_is_high_risk"
)


def _hits(rule: Rule, source: str, where: str = "TRUE") -> str:
    return f"{HIT_SELECT.format(severity=literal(rule.severity))} FROM {source} WHERE {where}"


def fan_burst(rule: Rule) -> str:
    """Fan-in / fan-out against the subject's own history.

    Trigger t (any row of the subject): ``n_w`` = distinct counterparties in ``[t - W, t]``,
    ``n_h`` = distinct counterparties in ``[t - W - H, t - W)``; the condition is
    ``n_w >= min_counterparties`` and ``n_w * H > multiplier * W * n_h`` (the window's breadth is
    more than ``multiplier`` times the subject's usual breadth over a window of the same length).
    Flag-all over W.
    """
    side = rule.param("subject")
    window, history = _seconds(rule, "window_seconds"), _seconds(rule, "history_seconds")
    multiplier = literal(rule.param("multiplier"))
    return f"""
WITH rows AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, {party(side)},
         {OTHER_SIDE[side]}_account_token AS counterparty, {attributes(side)}
  FROM {{tx}}
  WHERE {VALID} AND {TOKENS}
),
windows AS (
  SELECT *,
         size(collect_set(counterparty) OVER (PARTITION BY subject_token ORDER BY ts_s
              RANGE BETWEEN {window} PRECEDING AND CURRENT ROW)) AS n_window,
         size(collect_set(counterparty) OVER (PARTITION BY subject_token ORDER BY ts_s
              RANGE BETWEEN {window + history} PRECEDING AND {window + 1} PRECEDING)) AS n_history
  FROM rows
),
triggers AS (
  SELECT *, CASE WHEN n_window >= {literal(rule.param("min_counterparties"))}
                  AND n_window * {history} > {multiplier} * {window} * n_history
             THEN 1 ELSE 0 END AS is_trigger
  FROM windows
),{flag_all(window, "triggers")}
{_hits(rule, "flagged", "is_flagged = 1")}
"""


def new_account_large(rule: Rule) -> str:
    """A large payment out of line with the sender's own history (each transaction alone).

    Qualifying: ``amount >= min_amount`` (and, with ``cross_border_only``, sender and receiver
    bank locations differ; with ``high_risk_receiver``, the receiver's location is on the
    high-risk list). Condition over the sender's outgoing rows in ``[t - H, t)``: there are none,
    or ``amount >= ratio * max(their amounts)``. With ``new_relationship``, the sender has also
    paid this receiver nothing in ``[t - H, t)``.
    """
    history = _seconds(rule, "history_seconds")
    terms = [VALID, TOKENS, f"amount >= {literal(rule.param('min_amount'))}"]
    if rule.param("cross_border_only", False):
        terms.append("sender_bank_location <> receiver_bank_location")
    if rule.param("high_risk_receiver", False):
        terms.append("receiver_high_risk_status IS NOT NULL")
    source = "candidates c"
    if rule.param("new_relationship", False):
        source = f"""candidates c LEFT ANTI JOIN outgoing p
  ON p.subject_token = c.subject_token AND p.receiver = c.receiver
 AND p.ts_s >= c.ts_s - {history} AND p.ts_s < c.ts_s"""
    return f"""
WITH outgoing AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, {party("sender")},
         receiver_account_token AS receiver, {attributes("sender")},
         CASE WHEN {" AND ".join(terms)} THEN 1 ELSE 0 END AS is_qualifying
  FROM {{tx}}
  WHERE {VALID} AND {TOKENS}
),
baseline AS (
  SELECT *,
         count(*) OVER history AS history_count,
         max(amount) OVER history AS history_max
  FROM outgoing
  WINDOW history AS (PARTITION BY subject_token ORDER BY ts_s
                     RANGE BETWEEN {history} PRECEDING AND 1 PRECEDING)
),
candidates AS (
  SELECT * FROM baseline
  WHERE is_qualifying = 1
    AND (history_count = 0 OR amount >= {literal(rule.param("ratio"))} * history_max)
)
{_hits(rule, source)}
"""


def cash_out_after_inflow(rule: Rule) -> str:
    """Money received and taken out in cash soon after (Cash_Withdrawal).

    x1: a non-cash payment received by account A with ``amount >= min_inflow``. The cash
    withdrawals of A (``payment_type = withdrawal_payment_type``, A the sender) in
    ``(x1, x1 + W]`` must number at least ``min_withdrawals`` and total at least
    ``ratio * x1.amount``. Hits: x1 and those withdrawals (subject role ``account``).
    """
    window = _seconds(rule, "window_seconds")
    return f"""
WITH rows AS (SELECT * FROM {{tx}} WHERE {VALID}),
inflows AS (
  SELECT transaction_id AS inflow_id, receiver_account_token AS account,
         unix_seconds(event_ts) AS ts_s, amount
  FROM rows
  WHERE receiver_account_token IS NOT NULL AND NOT coalesce(is_cash, FALSE)
    AND amount >= {literal(rule.param("min_inflow"))}
),
withdrawals AS (
  SELECT transaction_id, sender_account_token AS account, unix_seconds(event_ts) AS ts_s, amount
  FROM rows
  WHERE sender_account_token IS NOT NULL
    AND payment_type = {literal(rule.param("withdrawal_payment_type"))}
),
matched AS (
  SELECT i.inflow_id, collect_list(w.transaction_id) AS out_ids
  FROM inflows i JOIN withdrawals w
    ON w.account = i.account AND w.ts_s > i.ts_s AND w.ts_s <= i.ts_s + {window}
  GROUP BY i.inflow_id, i.amount
  HAVING count(*) >= {literal(rule.param("min_withdrawals"))}
     AND sum(w.amount) >= {literal(rule.param("ratio"))} * i.amount
),
ids AS (
  SELECT inflow_id AS transaction_id, 'in' AS side FROM matched
  UNION SELECT explode(out_ids) AS transaction_id, 'out' AS side FROM matched
)
SELECT r.transaction_id, receiver_account_token AS subject_token, 'account' AS subject_role,
       r.event_ts, r.amount, {literal(rule.severity)} AS base_severity,
       {attributes("receiver", "r")}
FROM rows r JOIN ids i ON i.transaction_id = r.transaction_id AND i.side = 'in'
UNION
SELECT r.transaction_id, sender_account_token AS subject_token, 'account' AS subject_role,
       r.event_ts, r.amount, {literal(rule.severity)} AS base_severity, {attributes("sender", "r")}
FROM rows r JOIN ids i ON i.transaction_id = r.transaction_id AND i.side = 'out'
"""


def new_corridor(rule: Rule) -> str:
    """An established payer turns to new foreign corridors and payees (Behavioural_Change_2).

    Qualifying: the sender's cross-border payments (sender and receiver bank locations differ;
    with ``high_risk_only``, the receiver's location is also on the high-risk list). Trigger t
    (qualifying): at least ``min_counterparties`` distinct receivers of qualifying rows in
    ``[t - W, t]``; over the history ``[t - H, t - W)``, at least ``min_history_count``
    non-qualifying outgoing rows (an established payer), no qualifying row (the corridor is
    new), and, with ``counterparty_ratio``, the window's new foreign payees at least that many
    times the history's distinct payees.
    Flag-all over the qualifying rows in W.
    """
    window, history = _seconds(rule, "window_seconds"), _seconds(rule, "history_seconds")
    qualifying = "sender_bank_location <> receiver_bank_location"
    if rule.param("high_risk_only", False):
        qualifying += " AND receiver_high_risk_status IS NOT NULL"
    frame = "PARTITION BY subject_token ORDER BY ts_s RANGE BETWEEN"
    ratio = ""
    if rule.param("counterparty_ratio") is not None:
        ratio = (
            f" AND n_new >= {literal(rule.param('counterparty_ratio'))} * history_counterparties"
        )
    return f"""
WITH outgoing AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, {party("sender")},
         receiver_account_token AS counterparty, {attributes("sender")},
         CASE WHEN {qualifying} THEN 1 ELSE 0 END AS is_q
  FROM {{tx}}
  WHERE {VALID} AND {TOKENS}
),
windows AS (
  SELECT *,
         size(collect_set(CASE WHEN is_q = 1 THEN counterparty END) OVER (
              {frame} {window} PRECEDING AND CURRENT ROW)) AS n_new,
         coalesce(sum(1 - is_q) OVER ({frame} {history} PRECEDING AND {window + 1} PRECEDING), 0)
           AS history_count,
         coalesce(sum(is_q) OVER ({frame} {history} PRECEDING AND {window + 1} PRECEDING), 0)
           AS history_q,
         size(collect_set(counterparty) OVER (
              {frame} {history} PRECEDING AND {window + 1} PRECEDING)) AS history_counterparties
  FROM outgoing
),
triggers AS (
  SELECT *, CASE WHEN is_q = 1 AND n_new >= {literal(rule.param("min_counterparties"))}
                  AND history_count >= {literal(rule.param("min_history_count"))}
                  AND history_q = 0{ratio}
             THEN 1 ELSE 0 END AS is_trigger
  FROM windows
),{flag_all(window, "triggers")}
{_hits(rule, "flagged", "is_flagged = 1 AND is_q = 1")}
"""


def _edges(rule: Rule) -> str:
    return f"""edges AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, amount,
         sender_account_token AS sender, receiver_account_token AS receiver
  FROM {{tx}}
  WHERE {VALID} AND {TOKENS} AND NOT coalesce(is_cash, FALSE)
    AND sender_account_token <> receiver_account_token
    AND amount >= {literal(rule.param("min_amount"))}
)"""


def _members(source: str, rule: Rule, side: str) -> str:
    """Hits for the ids in ``source`` (``transaction_id``), the subject on ``side``."""
    return f"""
SELECT t.transaction_id, t.{side}_account_token AS subject_token, '{side}' AS subject_role,
       t.event_ts, t.amount, {literal(rule.severity)} AS base_severity, {attributes(side, "t")}
FROM {{tx}} t JOIN (SELECT DISTINCT transaction_id FROM {source}) m
  ON m.transaction_id = t.transaction_id"""


def bipartite(rule: Rule) -> str:
    """Many-to-many transfers between two groups (Bipartite, Stacked Bipartite).

    Edges: non-cash transfers between distinct accounts with ``amount >= min_amount``. Edge
    ``e = S -> R`` is a hit when there are edges ``S -> R2``, ``S2 -> R`` and ``S2 -> R2``
    (``S2 <> S``, ``R2 <> R``, and none of S, S2 is R or R2), each within W of e: the four edges
    form a complete 2-by-2 bipartite block around e. Each block edge is a hit twice: once for its
    sender and once for its receiver (role ``sender`` / ``receiver``), since every account of
    the block is a subject to investigate.
    """
    window = _seconds(rule, "window_seconds")
    return f"""
WITH {_edges(rule)},
blocks AS (
  SELECT e.transaction_id
  FROM edges e
  JOIN edges a ON a.sender = e.sender AND a.receiver <> e.receiver
   AND abs(a.ts_s - e.ts_s) <= {window}
  JOIN edges b ON b.receiver = e.receiver AND b.sender <> e.sender
   AND abs(b.ts_s - e.ts_s) <= {window}
  JOIN edges c ON c.sender = b.sender AND c.receiver = a.receiver
   AND abs(c.ts_s - e.ts_s) <= {window}
  WHERE e.receiver <> b.sender AND a.receiver <> e.sender AND a.receiver <> b.sender
    AND e.receiver <> e.sender
)
{_members("blocks", rule, "sender")}
UNION ALL
{_members("blocks", rule, "receiver")}
"""


def scatter_gather(rule: Rule) -> str:
    """One source, several intermediaries, one sink (Scatter-Gather; also layered fans).

    A path is ``x1 = S -> M`` then ``x2 = M -> C`` with ``x1 < x2 <= x1 + W``, S, M, C distinct,
    and ``x2.amount`` within ``[ratio_low, ratio_high] * x1.amount``. A path is a hit (both legs)
    when the paths of the same (S, C) whose first leg is within W of its own go through at least
    ``min_intermediaries`` distinct M. Both legs are hits of the source S (role ``source``)
    and of the sink C (role ``sink``); a leg that is both a source's and a sink's for the same
    account (a ring) is one hit, role ``sink``. The subject's PEP / HIGH-risk flags are its own,
    from the legs on which it is the sender or the receiver.
    """
    window = _seconds(rule, "window_seconds")
    low, high = literal(rule.param("ratio_low")), literal(rule.param("ratio_high"))
    return f"""
WITH {_edges(rule)},
paths AS (
  SELECT x1.sender AS source, x2.receiver AS sink, x1.receiver AS middle,
         x1.transaction_id AS id1, x2.transaction_id AS id2, x1.ts_s AS ts1
  FROM edges x1 JOIN edges x2
    ON x2.sender = x1.receiver AND x2.ts_s > x1.ts_s AND x2.ts_s <= x1.ts_s + {window}
   AND x2.amount BETWEEN {low} * x1.amount AND {high} * x1.amount
  WHERE x2.receiver <> x1.sender
),
qualified AS (
  SELECT p.id1, p.id2, p.source, p.sink
  FROM paths p JOIN paths q
    ON q.source = p.source AND q.sink = p.sink AND abs(q.ts1 - p.ts1) <= {window}
  GROUP BY p.id1, p.id2, p.source, p.sink
  HAVING count(DISTINCT q.middle) >= {literal(rule.param("min_intermediaries"))}
),
legs AS (
  SELECT id1 AS transaction_id, source AS subject_token, 'source' AS subject_role FROM qualified
  UNION SELECT id2, source, 'source' FROM qualified
  UNION SELECT id1, sink, 'sink' FROM qualified
  UNION SELECT id2, sink, 'sink' FROM qualified
),
members AS (
  -- one hit per (transaction, subject): in a ring a leg can be a source's and a sink's at once
  SELECT transaction_id, subject_token, min(subject_role) AS subject_role
  FROM legs GROUP BY transaction_id, subject_token
),
flags AS (
  -- the subject's own PEP / HIGH-risk flags, from any row where it is the sender or receiver
  SELECT account, bool_or(is_pep) AS is_pep, bool_or(is_high_risk) AS is_high_risk
  FROM (SELECT sender_account_token AS account, coalesce(sender_is_pep, FALSE) AS is_pep,
               coalesce(sender_customer_risk_rating = 'HIGH', FALSE) AS is_high_risk
        FROM {{tx}} WHERE transaction_id IN (SELECT transaction_id FROM members)
        UNION ALL
        SELECT receiver_account_token, coalesce(receiver_is_pep, FALSE),
               coalesce(receiver_customer_risk_rating = 'HIGH', FALSE)
        FROM {{tx}} WHERE transaction_id IN (SELECT transaction_id FROM members))
  GROUP BY account
)
SELECT t.transaction_id, m.subject_token, m.subject_role, t.event_ts, t.amount,
       {literal(rule.severity)} AS base_severity,
       coalesce(f.is_pep, FALSE) AS subject_is_pep,
       coalesce(f.is_high_risk, FALSE) AS subject_is_high_risk
FROM {{tx}} t JOIN members m ON m.transaction_id = t.transaction_id
LEFT JOIN flags f ON f.account = m.subject_token
"""


def gather_scatter(rule: Rule) -> str:
    """Many in, many out through one hub (Gather-Scatter).

    Rows of hub H: its incoming and outgoing non-cash transfers (``amount >= min_amount``).
    Trigger t (any of them): in ``[t - W, t]`` H has at least ``min_senders`` distinct senders
    and ``min_receivers`` distinct receivers, and the outgoing total is within
    ``[ratio_low, ratio_high]`` times the incoming total. Flag-all over W; subject: the hub.
    """
    window = _seconds(rule, "window_seconds")
    low, high = literal(rule.param("ratio_low")), literal(rule.param("ratio_high"))
    frame = (
        f"PARTITION BY subject_token ORDER BY ts_s RANGE BETWEEN {window} PRECEDING AND CURRENT ROW"
    )
    base = (
        f"{VALID} AND {TOKENS} AND NOT coalesce(is_cash, FALSE) "
        "AND sender_account_token <> receiver_account_token "
        f"AND amount >= {literal(rule.param('min_amount'))}"
    )
    return f"""
WITH rows AS (
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, 'in' AS dir,
         sender_account_token AS counterparty, {party("receiver")}, {attributes("receiver")}
  FROM {{tx}} WHERE {base}
  UNION ALL
  SELECT transaction_id, unix_seconds(event_ts) AS ts_s, 'out' AS dir,
         receiver_account_token AS counterparty, {party("sender")}, {attributes("sender")}
  FROM {{tx}} WHERE {base}
),
windows AS (
  SELECT *,
         size(collect_set(CASE WHEN dir = 'in' THEN counterparty END) OVER ({frame})) AS n_in,
         size(collect_set(CASE WHEN dir = 'out' THEN counterparty END) OVER ({frame})) AS n_out,
         coalesce(sum(CASE WHEN dir = 'in' THEN amount END) OVER ({frame}), 0) AS total_in,
         coalesce(sum(CASE WHEN dir = 'out' THEN amount END) OVER ({frame}), 0) AS total_out
  FROM rows
),
triggers AS (
  SELECT *, CASE WHEN n_in >= {literal(rule.param("min_senders"))}
                  AND n_out >= {literal(rule.param("min_receivers"))}
                  AND total_out BETWEEN {low} * total_in AND {high} * total_in
             THEN 1 ELSE 0 END AS is_trigger
  FROM windows
),{flag_all(window, "triggers")}
SELECT transaction_id, subject_token, 'hub' AS subject_role, event_ts, amount,
       {literal(rule.severity)} AS base_severity, subject_is_pep, subject_is_high_risk
FROM flagged WHERE is_flagged = 1
"""


def _days(rule: Rule, name: str) -> int:
    value = rule.param(name)
    if value is None or int(value) != value or int(value) < 0:
        raise ConfigError(f"rule {rule.id}: {name} must be a whole number of days, got {value}")
    return int(value)


def _sent_hits(rule: Rule, source: str) -> str:
    """Hits of the ``sides`` rows (:mod:`aml.gold.profiles`) in ``source``: the sender's."""
    return f"""
SELECT transaction_id, account_token AS subject_token, 'sender' AS subject_role, event_ts, amount,
       {literal(rule.severity)} AS base_severity, coalesce(is_pep, FALSE) AS subject_is_pep,
       coalesce(risk_rating = 'HIGH', FALSE) AS subject_is_high_risk
FROM {source}"""


def peer_amount_outlier(rule: Rule) -> str:
    """A payment far above what the sender's peers usually send at most.

    Peers: the accounts of the sender's segment in the payment's ISO week, as
    ``gold.segment_profiles`` has them (the profile CTEs of :mod:`aml.gold.profiles`, with the
    profile parameters among the rule's ``params``, else their defaults). A sent row is a hit
    when the segment has at least ``min_peers`` accounts, at least one of them with sent history
    (so a p99 exists), and ``amount >= max(min_amount, ratio * p99 of sent_amount_max)``.
    Each payment alone; the baseline is history only, the peer group is the week's.
    """
    params = profiles.ProfileParams.from_mapping(rule.params)
    threshold = (
        f"greatest({literal(rule.param('min_amount'))}, "
        f"{literal(rule.param('ratio'))} * g.sent_amount_max_p99)"
    )
    return f"""
WITH {profiles.profile_ctes(params)},
{profiles.segment_ctes("profiles")},
outliers AS (
  SELECT s.*
  FROM sides s
  JOIN profiles p ON p.account_token = s.account_token AND p.week_start = s.week_start
  JOIN segments g ON g.segment_id = p.segment_id AND g.week_start = p.week_start
  WHERE s.is_sent AND g.account_count >= {literal(rule.param("min_peers"))}
    AND g.sent_amount_max_p99 IS NOT NULL AND s.amount >= {threshold}
)
{_sent_hits(rule, "outliers")}
"""


def dormant_wakeup(rule: Rule) -> str:
    """An established account silent for a while that suddenly sends money.

    Activity: the account's valid rows on either side (the profiles' ``sides``). A wake-up is a
    row w of account A with no row of A in ``[w - dormant_days, w)`` but some row before, A's
    first row at or before ``w - min_history_days``. When A's sent rows in ``[w, w + W]`` total
    at least ``min_amount``, each of them is a hit of A (role ``sender``); the wake-up row itself
    only when A sent it.
    """
    dormant = _days(rule, "dormant_days") * 86_400
    history = _days(rule, "min_history_days") * 86_400
    window = _seconds(rule, "window_seconds")
    in_window = (
        "s.account_token = w.account_token AND s.is_sent "
        f"AND s.ts_s BETWEEN w.wake_ts AND w.wake_ts + {window}"
    )
    return f"""
WITH {profiles.sides_cte()},
marked AS (
  SELECT account_token, ts_s,
         min(ts_s) OVER (PARTITION BY account_token) AS first_ts,
         max(ts_s) OVER (PARTITION BY account_token ORDER BY ts_s
                         RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_ts
  FROM sides
),
wakeups AS (
  SELECT DISTINCT account_token, ts_s AS wake_ts FROM marked
  WHERE previous_ts < ts_s - {dormant} AND first_ts <= ts_s - {history}
),
woken AS (
  SELECT w.account_token, w.wake_ts
  FROM wakeups w JOIN sides s ON {in_window}
  GROUP BY w.account_token, w.wake_ts
  HAVING sum(s.amount) >= {literal(rule.param("min_amount"))}
),
flagged AS (SELECT s.* FROM sides s LEFT SEMI JOIN woken w ON {in_window})
{_sent_hits(rule, "flagged")}
"""


KINDS = {
    "fan_burst": fan_burst,
    "new_account_large": new_account_large,
    "cash_out_after_inflow": cash_out_after_inflow,
    "new_corridor": new_corridor,
    "bipartite": bipartite,
    "scatter_gather": scatter_gather,
    "gather_scatter": gather_scatter,
    "peer_amount_outlier": peer_amount_outlier,
    "dormant_wakeup": dormant_wakeup,
}
