"""What a scoped evaluation reads of other accounts' rows, and the graph rules' scope.

Four kinds of rule decide a subject's hits on rows of other accounts: the graph rules (R22
bipartite blocks, R23 scatter-gather paths), round trips (R15: the later legs) and the spike to
unseen payees (R27: the payees' own activity). A scoped run reads, for them, the rows of the
accounts a walk from each scoped subject reaches (``aml.gold.evaluation._reached_rows``). And a
change to an edge ``U -> V`` moves graph hits of accounts one edge away from it (a block's hit
edge from a payer of V to a payee of U; a path from a payer of U or to a payee of V), so the
graph rules' scope names U, V and their neighbours (:func:`aml.gold.scope._neighbours`).

The contract is the one every scoped rule keeps: the hits published before, minus those inside
the scope, plus the scoped evaluation's hits, are the hits of a full evaluation after the
change. Here on random dense graphs, where blocks and paths share accounts, with every kind of
change (a row inserted, deleted, moved in time, its amount changed), and untouched components
beside them whose hits the scope must leave alone; and on hand-built cases where a scoped
subject's hits rest on rows that touch neither the change nor the subject.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from tests.unit.gold_rows import DAY, HOUR, LINEAGE, Tx, pack_of, tx_df
from tests.unit.test_gold_rules_v2 import HISTORY, SPIKE, T, seen

from aml.gold import evaluation, scope

PACK = pack_of("R22", "R23", name="v2")
COMPONENTS = 8  # each with its own accounts; changes touch the first half only
CHANGED_COMPONENTS = 4
SEEDS = (11, 18, 22)  # each changes R22 and R23 hits of the changed components
HIT_COLUMNS = (
    "rule_id", "transaction_id", "subject_token", "subject_role", "subject_is_pep",
    "subject_is_high_risk", "unix_seconds(event_ts) AS s",
)  # fmt: skip
POLICIES = {
    "scoped": evaluation.ScopePolicy(),
    "full_pass": evaluation.ScopePolicy(full_pass_share=0.0),
}


def _component(rng: random.Random, c: int) -> list[Tx]:
    """Payers G1 -> middles G2 -> payees G3, amounts near 5,000 (some passed on at 0.80-1.00,
    some not), a few cash rows, within five days: dense enough for blocks and paths."""
    g1, g2, g3 = ([f"c{c}{g}{i}" for i in range(n)] for g, n in (("p", 4), ("m", 4), ("r", 3)))
    flags = {a: (rng.random() < 0.2, rng.random() < 0.2) for a in g1 + g2 + g3}
    rows = []
    pairs = rng.sample([(s, r) for s in g1 for r in g2], 11) + rng.sample(
        [(s, r) for s in g2 for r in g3], 8
    )
    for k, (sender, receiver) in enumerate(pairs):
        late = sender in g2
        rows.append(
            Tx(
                c * 1_000 + k,
                rng.randrange(DAY if late else 0, (5 if late else 3) * DAY),
                str(rng.choice((5000, 4900, 4500, 4100, 3900, 900))),
                sender,
                receiver,
                "Cash Deposit" if rng.random() < 0.08 else "ACH",
                sender_is_pep=flags[sender][0],
                sender_risk="HIGH" if flags[sender][1] else "LOW",
                receiver_is_pep=flags[receiver][0],
                receiver_risk="HIGH" if flags[receiver][1] else "LOW",
            )
        )
    return rows


def _changed(rng: random.Random, rows: list[Tx]) -> tuple[list[Tx], list[Tx]]:
    """(rows after, changed row images): in each changed component, one row deleted, one moved
    by up to 3 days, one re-valued, and one new edge between two of its accounts."""
    after = {row.transaction_id: row for row in rows}
    images: list[Tx] = []
    for c in range(CHANGED_COMPONENTS):
        own = [row for row in rows if row.transaction_id // 1_000 == c]
        gone, moved, valued, template = rng.sample(own, 4)
        del after[gone.transaction_id]
        images.append(gone)
        new_moved = dataclasses.replace(moved, sec=moved.sec + rng.randrange(-3 * DAY, 3 * DAY))
        new_valued = dataclasses.replace(valued, amount=str(rng.choice((5000, 4000, 999))))
        new_edge = dataclasses.replace(
            template,
            transaction_id=c * 1_000 + 500,
            sec=template.sec + rng.randrange(-HOUR, HOUR),
            receiver=rng.choice(own).receiver,
        )
        for old, new in ((moved, new_moved), (valued, new_valued)):
            after[new.transaction_id] = new
            images += [old, new]
        if new_edge.sender != new_edge.receiver:
            after[new_edge.transaction_id] = new_edge
            images.append(new_edge)
    return list(after.values()), images


def _hits(spark, rows_df, scope_df=None, policy=None, pack=PACK) -> set[tuple]:
    hits_df = evaluation.evaluate(spark, rows_df, pack, LINEAGE, scope_df, policy)
    return {tuple(hit) for hit in hits_df.selectExpr(*HIT_COLUMNS).collect()}


@pytest.fixture(scope="module", params=SEEDS)
def graph(request, spark):
    """(hits before, hits after, the scope's rows, after and its scope as frames) for a seed."""
    rng = random.Random(request.param)
    before = [row for c in range(COMPONENTS) for row in _component(rng, c)]
    after, images = _changed(rng, before)
    after_df = tx_df(spark, after)
    scope_df = scope.build_scope(tx_df(spark, images), after_df, PACK).localCheckpoint()
    return (
        _hits(spark, tx_df(spark, before)),
        _hits(spark, after_df),
        scope_df.collect(),
        after_df,
        scope_df,
    )


def _inside(hit: tuple, entries) -> bool:
    rule_id, _, subject, *_, s = hit
    return any(
        e.rule_id == rule_id and e.subject_token == subject and e.lo_s <= s <= e.hi_s
        for e in entries
    )


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_scoped_graph_hits_patch_a_full_rebuild_exactly(spark, graph, policy):
    """full(after) == full(before) - hits inside the scope + scoped(after), flags included, for
    both graph rules, whether they read the neighbourhood or all of silver."""
    full_before, full_after, entries, after_df, scope_df = graph
    for rule_id in ("R22", "R23"):
        changed = {h for h in full_before ^ full_after if h[0] == rule_id}
        assert changed, f"the changes must change some {rule_id} hits"
    scoped = _hits(spark, after_df, scope_df, POLICIES[policy])
    assert all(_inside(hit, entries) for hit in scoped)
    patched = {hit for hit in full_before if not _inside(hit, entries)} | scoped
    assert patched == full_after, (
        f"missing from the patch: {sorted(full_after - patched)}, "
        f"extra in the patch: {sorted(patched - full_after)}"
    )


def test_the_scope_names_the_changed_components_accounts_only(graph):
    """Untouched components keep their hits out of the scope (the graph rules are scoped by
    neighbourhood, not by time span: every component's rows share the same days)."""
    full_before, _, entries, _, _ = graph
    assert all(e.subject_token is not None for e in entries)
    components = {int(e.subject_token[1]) for e in entries}
    assert components == set(range(CHANGED_COMPONENTS))
    untouched = [h for h in full_before if int(h[2][1]) >= CHANGED_COMPONENTS]
    assert untouched, "the untouched components must have graph hits of their own"
    assert not any(_inside(hit, entries) for hit in untouched)


def test_a_scoped_neighbours_own_blocks_and_paths_are_read_in_full(spark):
    """A new edge U -> V puts U's payee R and V's payee C in scope, over their whole interval:
    R's hits from a block of its own (S, S2 paying R and R2) and C's from paths of its own
    (P -> M1 -> C, P -> M2 -> C) rest on rows that touch neither U nor V, nor R or C (S -> R2,
    S2 -> R2; P -> M1, P -> M2): the scoped evaluation must read them."""
    new_edge = Tx(1, 0, "5000", "U", "V")
    rows = [
        Tx(2, 100, "5000", "U", "R"),
        Tx(3, 50, "5000", "V", "C"),
        *[Tx(10 + k, 200 + k, "5000", s, r) for k, (s, r) in
          enumerate((("S", "R"), ("S", "R2"), ("S2", "R"), ("S2", "R2")))],
        Tx(20, 300, "5000", "P", "M1"), Tx(21, 400, "5000", "M1", "C"),
        Tx(22, 310, "5000", "P", "M2"), Tx(23, 410, "5000", "M2", "C"),
    ]  # fmt: skip
    after_df = tx_df(spark, [new_edge, *rows])
    scope_df = scope.build_scope(tx_df(spark, [new_edge]), after_df, PACK).localCheckpoint()
    entries = scope_df.collect()
    full_before, full_after = _hits(spark, tx_df(spark, rows)), _hits(spark, after_df)
    own = {(h[0], h[1], h[2]) for h in full_after if _inside(h, entries)}
    assert {("R22", 10, "R"), ("R22", 12, "R"), ("R23", 21, "C"), ("R23", 23, "C")} <= own
    _assert_patch(spark, full_before, full_after, after_df, scope_df, PACK)


def _assert_patch(spark, full_before, full_after, after_df, scope_df, pack) -> None:
    entries = scope_df.collect()
    patched = {h for h in full_before if not _inside(h, entries)} | _hits(
        spark, after_df, scope_df, pack=pack
    )
    assert patched == full_after, (
        f"missing from the patch: {sorted(full_after - patched)}, "
        f"extra in the patch: {sorted(patched - full_after)}"
    )


def _unrelated_change(spark, rows: list[Tx], change: Tx, pack) -> set[tuple]:
    """A new row of the subject that moves none of its hits puts it in scope; its hits must
    come out of the scoped evaluation as they are. Returns them."""
    after_df = tx_df(spark, [*rows, change])
    scope_df = scope.build_scope(tx_df(spark, [change]), after_df, pack).localCheckpoint()
    full_before = _hits(spark, tx_df(spark, rows), pack=pack)
    full_after = _hits(spark, after_df, pack=pack)
    assert full_before == full_after, "the change must not move any hit"
    _assert_patch(spark, full_before, full_after, after_df, scope_df, pack)
    return full_after


def test_a_scoped_origin_reads_every_leg_of_its_round_trips(spark):
    """A -> B -> C -> D -> A: the third and fourth legs' senders are two and three edges from A
    (the rows of C and D touch neither A's change nor A, save the last leg)."""
    pack = pack_of("R15", name="v2")
    chain = [Tx(1, 100, "10000", "A", "B"), Tx(2, 200, "9500", "B", "C"),
             Tx(3, 300, "9000", "C", "D"), Tx(4, 400, "9000", "D", "A")]  # fmt: skip
    hits = _unrelated_change(spark, chain, Tx(5, 50, "100", "A", "Z"), pack)
    assert {(h[1], h[2]) for h in hits} == {(1, "A"), (2, "A"), (3, "A"), (4, "A")}


@pytest.mark.parametrize("counterparty", ["X", None])
def test_a_scoped_payer_reads_its_payees_own_activity(spark, counterparty):
    """A's spike pays N1 (unseen) and N2, active the day before on a row of its own (with X, or
    with no counterparty token): N2 is seen, so R27 does not hit; read without N2's own row, it
    would."""
    pack = pack_of("R27", name="v2")
    rows = [*HISTORY, *SPIKE, dataclasses.replace(seen(9, T - DAY), receiver=counterparty)]
    hits = _unrelated_change(spark, rows, Tx(8, T - 25 * DAY, "100", "A", "B8"), pack)
    assert hits == set()
