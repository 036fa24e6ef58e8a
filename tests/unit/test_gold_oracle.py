"""The Spark rules against the pure-Python reference (:mod:`aml.generate.rulecheck`) on random data,
and incremental (scoped) evaluation against a full rebuild.

The random datasets are small (a few hundred rows among about twenty accounts over 40 days) but
dense: on top of random traffic they plant the shapes each rule looks for with their parameters
drawn at, just inside and just outside every threshold and window edge (amounts in whole pence,
ratio bounds hit exactly, times W and W + 1 s apart, ties at one second).
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from tests.unit.gold_rows import DAY, HOUR, LINEAGE, pack_of
from tests.unit.gold_rows import Tx as Row
from tests.unit.gold_rows import tx_df as rows_df

from aml.generate import rulecheck
from aml.generate.domains import CASH_IN, CASH_OUT, CASH_TYPES, CROSS, DOMESTIC_TYPES, PAYMENT_TYPES
from aml.generate.plan import Tx
from aml.gold import evaluation, scope

ORACLE_RULES = tuple(rulecheck.RULES)  # R01, R03-R09
SEEDS = (3, 17, 29, 2024)
ID_STRIDE = 10_000
W72, W7, W10, W30 = 72 * HOUR, 7 * DAY, 10 * DAY, 30 * DAY
HORIZON = 40 * DAY
NON_CASH = (*DOMESTIC_TYPES, CROSS)
EDGE_CENTS = (799_999, 800_000, 999_999, 1_000_000, 1_000_001, 499_999, 500_000, 99_999, 100_000)


class Planter:
    """Random traffic plus planted rule shapes among ``n`` accounts (all amounts in pence)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = self.rng.randint(15, 25)
        self.txs: list[Tx] = []

    def accounts(self, k: int) -> list[int]:
        return self.rng.sample(range(self.n), k)

    def when(self) -> int:
        if self.txs and self.rng.random() < 0.1:
            return self.rng.choice(self.txs).sec  # a tie with an earlier row
        return self.rng.randrange(0, HORIZON)

    def edge(self, window: int, start: int) -> int:
        """A later time: at the window edge, one second past it, a tie, or somewhere inside."""
        return start + self.rng.choice((window, window + 1, 0, 1, self.rng.randrange(window)))

    def add(self, sec: int, sender: int, receiver: int, cents: int, ptype: int | None = None):
        if sender == receiver or cents <= 0:
            return
        ptype = self.rng.choice(NON_CASH) if ptype is None else ptype
        self.txs.append(Tx(sec, sender, receiver, cents, ptype))

    def ratio(self, base: int, low: int, high: int) -> int:
        """``base`` times a ratio in per cent: exactly at a bound, a penny outside, or inside."""
        return self.rng.choice(
            (
                base * low // 100,
                base * low // 100 - 1,
                base * high // 100,
                base * high // 100 + 1,
                self.rng.randint(base * low // 100, base * high // 100),
            )
        )

    def noise(self) -> None:
        s, r = self.accounts(2)
        cents = self.rng.choice(
            (
                self.rng.choice(EDGE_CENTS),
                self.rng.randint(800_000, 999_999),
                self.rng.randint(10_000, 300_000),
                self.rng.randint(300_000, 1_500_000),
            )
        )
        ptype = self.rng.choice((*NON_CASH, CASH_IN, CASH_IN, CASH_OUT))
        self.add(self.when(), s, r, cents, ptype)

    def round_trip(self) -> None:
        k = self.rng.randint(2, 5)
        path = self.accounts(k)
        first = 20 * self.rng.choice((24_999, 25_000, self.rng.randint(25_000, 75_000)))
        sec = start = self.when()
        for i in range(k):
            cents = first if i == 0 else self.ratio(first, 85, 115)
            if i:
                sec = self.edge(W72, start) if i == k - 1 else sec + self.rng.choice((0, 1, 600))
            self.add(sec, path[i], path[(i + 1) % k], cents)

    def pass_through(self) -> None:
        x, a, y = self.accounts(3)
        deposit = 20 * self.rng.choice((4_999, 5_000, self.rng.randint(5_000, 60_000)))
        sec = self.when()
        self.add(sec, x, a, deposit, CASH_IN)
        ptype = self.rng.choice((*NON_CASH, CASH_OUT, CASH_IN))
        self.add(self.edge(W72, sec), a, y, self.ratio(deposit, 80, 105), ptype)

    def burst(self, window: int, receiving: bool, size: int, amounts, ptype=None) -> None:
        """``size`` rows of one subject within ``window`` (the last one at an edge)."""
        subject, *others = self.accounts(min(size + 1, self.n))
        start = self.when()
        for i in range(size):
            other = others[i % len(others)]
            sec = self.edge(window, start) if i == size - 1 else start + self.rng.randrange(window)
            s, r = (other, subject) if receiving else (subject, other)
            self.add(sec, s, r, amounts(), ptype)

    def spike(self) -> None:
        """A history of 23 m pence around the 30 d and 7 d edges, then a spike of 21 m (+ 1p)."""
        a, b = self.accounts(2)
        t = self.rng.randrange(W30, HORIZON)
        m = self.rng.randint(40_000, 60_000)
        history = (
            t - W30 - self.rng.choice((0, 1)),
            t - self.rng.randint(W7 + 1, W30),
            t - W7 - self.rng.choice((0, 1)),
        )
        for cents, sec in zip((7 * m, 8 * m, 8 * m), history, strict=True):
            self.add(sec, a, b, cents)
        self.add(t, a, b, 21 * m + self.rng.choice((0, 1)))

    def build(self) -> list[Tx]:
        rng = self.rng
        for _ in range(rng.randint(8, 14)):
            self.round_trip()
        for _ in range(rng.randint(4, 8)):
            self.pass_through()
        for _ in range(rng.randint(2, 4)):
            self.burst(W72, True, rng.randint(2, 4), lambda: rng.randint(799_999, 1_000_000))
            self.burst(W7, True, rng.randint(4, 6), lambda: rng.randint(150_000, 300_000), CASH_IN)
            self.burst(W10, True, rng.randint(9, 11), lambda: rng.randint(10_000, 90_000))
            self.burst(W10, False, rng.randint(9, 11), lambda: rng.randint(10_000, 90_000))
            self.spike()
        target = rng.randint(300, 600)
        while len(self.txs) < target:
            self.noise()
        return self.txs


def as_row(i: int, tx: Tx, prefix: str, offset: int) -> Row:
    """A planned transaction as a silver row: id ``offset + i + 1``, tokens ``<prefix>acct<n>``."""
    return Row(
        offset + i + 1,
        tx.sec,
        Decimal(tx.cents).scaleb(-2),
        f"{prefix}acct{tx.sender}",
        f"{prefix}acct{tx.receiver}",
        PAYMENT_TYPES[tx.ptype],
        is_cash=tx.ptype in CASH_TYPES,
    )


DATASETS = {seed: Planter(seed).build() for seed in SEEDS}
Hit = tuple[str, int, str, int]  # rule_id, dataset index, account (token without namespace), s


def changed(txs: list[Tx], seed: int) -> tuple[dict[int, Tx], list[tuple[int, Tx]]]:
    """(new rows by index, change images) of one change set.

    Five changes aimed at rows a rule hits (a round-trip leg's amount, a structuring receipt's
    time, a pass-through's receiver, a smurfing deposit deleted, a fan-in row copied 10 days
    later), then eight at random rows: a time moved by a window (or a window and a second), a
    new sender or receiver, a new payment type, an amount set on a threshold, a delete.
    The images are the old image of every updated or deleted row and the new image of every
    updated or inserted row, as a Delta change feed gives them.
    """
    rng = random.Random(seed)
    new = dict(enumerate(txs))
    images: list[tuple[int, Tx]] = []

    def change(index: int, tx: Tx | None) -> None:
        if index < len(txs):
            images.append((index, txs[index]))
        if tx is None or tx.sender == tx.receiver:
            new.pop(index, None)
        else:
            new[index] = tx
            images.append((index, tx))

    def pick(rule_id: str) -> int:
        changed_rows = {index for index, _ in images}
        hits = sorted(rulecheck.hits(rule_id, txs) - changed_rows)
        return rng.choice(hits or sorted(set(range(len(txs))) - changed_rows))

    leg, structured, out, deleted, fan = (pick(r) for r in ("R08", "R03", "R09", "R04", "R05"))
    change(leg, dataclasses.replace(txs[leg], cents=txs[leg].cents * 13 // 10))
    change(structured, dataclasses.replace(txs[structured], sec=txs[structured].sec + 2 * DAY))
    change(out, dataclasses.replace(txs[out], receiver=(txs[out].receiver + 1) % 15))
    change(deleted, None)
    change(len(txs), dataclasses.replace(txs[fan], sec=txs[fan].sec + W10))
    change(len(txs) + 1, dataclasses.replace(txs[leg], sec=txs[leg].sec + 1))
    shifts = (W72, W72 + 1, W7, W7 + 1, W10, W10 + 1, W30, W30 + 1, 1)
    for k, index in enumerate(rng.sample(sorted(set(new) - {i for i, _ in images}), 8)):
        tx = txs[index]
        change(index, (
            dataclasses.replace(tx, sec=tx.sec + rng.choice((-1, 1)) * rng.choice(shifts)),
            dataclasses.replace(tx, sender=rng.randrange(15)),
            dataclasses.replace(tx, receiver=rng.randrange(15)),
            dataclasses.replace(tx, ptype=rng.choice((CASH_IN, CASH_OUT, CROSS))),
            dataclasses.replace(tx, cents=rng.choice((1_000_000, 800_000, 500_000, 100_000))),
            None,
        )[k % 6])  # fmt: skip
    return new, images


def namespaced(block: int, items) -> list[Row]:
    """Rows of one block: accounts ``b<block>_acct<n>``, ids ``block * ID_STRIDE + index + 1``."""
    return [as_row(i, tx, f"b{block}_", block * ID_STRIDE) for i, tx in items]


def unpack(hit) -> tuple[int, Hit]:
    block, index = divmod(hit.transaction_id - 1, ID_STRIDE)
    account = hit.subject_token.split("_", 1)[1]
    return block, (hit.rule_id, index, account, hit.s)


@pytest.fixture(scope="module")
def batch(spark):
    """Every dataset (block n) and its changed version (block n + len(SEEDS)) evaluated by the
    full pack in one run, and the changed versions evaluated again inside their scope.

    Blocks have their own accounts, so one run is as good as one run per block and much cheaper.
    Returns (block -> full hits, block -> scoped hits, block -> scope rows; a graph rule's rows,
    with no subject, under block 0: they span every block).
    """
    return evaluated_blocks(spark, pack_of())


@pytest.fixture(scope="module")
def blocks_v2(spark):
    """:func:`changed_blocks` for rule pack v2."""
    return changed_blocks(spark, pack_of(name="v2"))


@pytest.fixture(scope="module")
def batch_v2(spark, blocks_v2):
    """:func:`batch` with rule pack v2 (baselines, graph rules scoped by time span)."""
    return evaluated_blocks(spark, pack_of(name="v2"), blocks_v2)


def changed_blocks(spark, pack):
    """Every dataset (block n) and its changed version (block n + len(SEEDS)) as one silver,
    and the scope of the changes (materialised)."""
    rows, images = [], []
    for n, seed in enumerate(SEEDS, 1):
        new, changes = changed(DATASETS[seed], seed)
        rows += namespaced(n, enumerate(DATASETS[seed]))
        rows += namespaced(n + len(SEEDS), sorted(new.items()))
        images += namespaced(n + len(SEEDS), changes)
    tx = rows_df(spark, rows)
    return tx, scope.build_scope(rows_df(spark, images), tx, pack).localCheckpoint()


HIT_KEY_COLUMNS = ("rule_id", "transaction_id", "subject_token", "unix_seconds(event_ts) AS s")


def evaluated_blocks(spark, pack, blocks=None):
    tx, scope_df = blocks or changed_blocks(spark, pack)
    columns = HIT_KEY_COLUMNS
    full: dict[int, set[Hit]] = defaultdict(set)
    for hit in evaluation.evaluate(spark, tx, pack, LINEAGE).selectExpr(*columns).collect():
        block, key = unpack(hit)
        full[block].add(key)
    scoped: dict[int, set[Hit]] = defaultdict(set)
    hits_df = evaluation.evaluate(spark, tx, pack, LINEAGE, scope_df)
    for hit in hits_df.selectExpr(*columns).collect():
        block, key = unpack(hit)
        scoped[block].add(key)
    scopes: dict[int, list] = defaultdict(list)
    for row in scope_df.collect():
        block = int(row.subject_token.split("_", 1)[0][1:]) if row.subject_token else 0
        scopes[block].append(row)
    return full, scoped, scopes


@pytest.mark.parametrize("rule_id", ORACLE_RULES)
@pytest.mark.parametrize("seed", SEEDS)
def test_spark_rules_hit_exactly_what_the_reference_semantics_hit(batch, seed, rule_id):
    full, _, _ = batch
    expected = rulecheck.hits(rule_id, DATASETS[seed])
    actual = {index for rule, index, _, _ in full[SEEDS.index(seed) + 1] if rule == rule_id}
    assert actual == expected, (
        f"only Spark: {sorted(actual - expected)}, only reference: {sorted(expected - actual)}"
    )


def test_random_datasets_exercise_every_rule():
    for rule_id in ORACLE_RULES:
        assert sum(len(rulecheck.hits(rule_id, DATASETS[s])) for s in SEEDS) >= 3, rule_id


@pytest.mark.parametrize("pack", ["v1", "v2"])
@pytest.mark.parametrize("seed", SEEDS)
def test_scoped_evaluation_patches_a_full_rebuild_exactly(request, pack, seed):
    """full(new) == full(old) - old hits of the scoped (rule, subject) in [lo_s, hi_s]
    + scoped(new), compared on (rule_id, transaction_id, subject_token); a scope row without a
    subject (a graph rule's) covers every subject."""
    full, scoped, scopes = request.getfixturevalue("batch" if pack == "v1" else "batch_v2")
    old, new = SEEDS.index(seed) + 1, SEEDS.index(seed) + 1 + len(SEEDS)
    intervals = defaultdict(list)
    for sc in scopes[new]:
        intervals[(sc.rule_id, sc.subject_token.split("_", 1)[1])].append((sc.lo_s, sc.hi_s))
    for sc in scopes[0]:
        intervals[(sc.rule_id, None)].append((sc.lo_s, sc.hi_s))

    def in_scope(hit: Hit) -> bool:
        rule_id, _, account, s = hit
        spans = intervals[(rule_id, account)] + intervals[(rule_id, None)]
        return any(lo <= s <= hi for lo, hi in spans)

    patched = {hit[:3] for hit in full[old] if not in_scope(hit)} | {h[:3] for h in scoped[new]}
    expected = {hit[:3] for hit in full[new]}
    assert full[new] != full[old], "the changes must change some hits"
    assert patched == expected, (
        f"missing from the patch: {sorted(expected - patched)}, "
        f"extra in the patch: {sorted(patched - expected)}"
    )


# Every scoped rule sent to a full pass; and a share between what the changed subjects' rows
# take of these blocks (about half) and the graph rules' spans (all of them): subject rules
# read their scoped rows, graph rules all of silver.
POLICIES = {
    "all_full": evaluation.ScopePolicy(full_pass_share=0.0),
    "mixed": evaluation.ScopePolicy(full_pass_share=0.75),
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_full_pass_cut_to_the_scope_gives_the_scoped_hits(
    spark, blocks_v2, batch_v2, caplog, policy
):
    """The scope policy decides what a scoped rule reads (its scoped rows, or all of silver),
    never which hits it returns."""
    pack = pack_of(name="v2")
    tx, scope_df = blocks_v2
    with caplog.at_level("INFO", logger="aml.gold.evaluation"):
        rows = evaluation.evaluate(spark, tx, pack, LINEAGE, scope_df, POLICIES[policy])
        chosen = {unpack(hit) for hit in rows.selectExpr(*HIT_KEY_COLUMNS).collect()}
    (decision,) = [r.getMessage() for r in caplog.records if "scoped evaluation" in r.message]
    full_pass = decision.rsplit("full pass: ", 1)[1].split(", ")
    if policy == "all_full":
        assert sorted(full_pass) == sorted(r.id for r in pack.enabled)
    else:
        # some rules of the pack took each pass
        assert 0 < len(full_pass) < len(pack.enabled), decision
    # batch_v2's scoped pass read every rule's scoped rows (the default policy)
    _, scoped, _ = batch_v2
    assert chosen == {(block, hit) for block, hits in scoped.items() for hit in hits}


@pytest.mark.parametrize(
    ("policy", "rows", "silver_rows", "full"),
    [
        (evaluation.ScopePolicy(), 10, 10, False),  # the default reads scoped rows, always
        (evaluation.ScopePolicy(full_pass_share=0.3), 30, 100, False),  # at the share: still scoped
        (evaluation.ScopePolicy(full_pass_share=0.3), 31, 100, True),
        (evaluation.ScopePolicy(full_pass_share=0.0), 0, 100, False),  # nothing to read: scoped
        (evaluation.ScopePolicy(full_pass_share=0.0), 1, 100, True),
    ],
)
def test_scope_policy_sends_a_rule_to_a_full_pass_past_its_share(policy, rows, silver_rows, full):
    assert policy.full_pass(rows, silver_rows) is full


@pytest.mark.parametrize(
    ("share", "changed", "silver_rows", "evaluate_all"),
    [
        (1.0, 100, 100, False),  # never: even a change of every row stays scoped
        (0.01, 10, 1000, False),  # at the share: scoped
        (0.01, 11, 1000, True),
        (0.0, 0, 100, False),  # nothing changed: nothing to evaluate in full
        (0.0, 1, 100, True),
    ],
)
def test_scope_policy_evaluates_everything_past_its_changed_share(
    share, changed, silver_rows, evaluate_all
):
    policy = evaluation.ScopePolicy(full_evaluation_share=share)
    assert policy.evaluate_all(changed, silver_rows) is evaluate_all


def test_scope_policy_settings_are_checked():
    assert evaluation.ScopePolicy.from_settings({}) == evaluation.ScopePolicy(0.01, 0.3)
    settings = {"full_pass_share": 1, "full_evaluation_share": 1}
    assert evaluation.ScopePolicy.from_settings(settings) == evaluation.ScopePolicy()
    for name in ("full_pass_share", "full_evaluation_share"):
        with pytest.raises(ValueError, match=f"{name} must be in"):
            evaluation.ScopePolicy.from_settings({name: 1.5})
