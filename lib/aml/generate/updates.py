"""``updates.csv`` of an increment: corrected versions of earlier transactions.

Core banking systems do correct posted transactions (a mistyped amount, a cheque booked as ACH);
the lakehouse must upsert them by ``transaction_id``. An update is a full replacement row (id + the
12 SAML-D columns) of the row's *current* version, i.e. after all earlier increments' updates.

Only rows between two ordinary population accounts with ``Is_laundering`` 0 are corrected: never a
laundering row (labels must not change), never a hard negative or the quiet history of a
behavioural-change instance (a corrected amount could move them across a rule edge and silently
falsify the ground truth). Those all use injected accounts, so the account test covers them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aml.generate.domains import DOMESTIC_TYPES, HEADER, PAYMENT_TYPES
from aml.generate.normal import MAX_NORMAL_CENTS, MIN_CENTS

_STRINGS = pacsv.ConvertOptions(
    column_types={name: pa.string() for name in HEADER}, strings_can_be_null=False
)
_ID_STRINGS = pacsv.ConvertOptions(
    column_types={"transaction_id": pa.int64(), **{name: pa.string() for name in HEADER}}
)
_BLOCK = pacsv.ReadOptions(block_size=1 << 22, use_threads=False)  # bounded RSS
_DOMESTIC = [PAYMENT_TYPES[i] for i in DOMESTIC_TYPES]


def _select(files: list[tuple[Path, int]], wanted: np.ndarray) -> pa.Table:
    """Rows whose id is in ``wanted`` from transaction files given as (path, first id)."""
    parts = []
    for path, first_id in files:
        next_id = first_id
        with pacsv.open_csv(path, read_options=_BLOCK, convert_options=_STRINGS) as reader:
            for batch in reader:
                ids = next_id + np.arange(batch.num_rows, dtype=np.int64)
                next_id += batch.num_rows
                keep = np.isin(ids, wanted, assume_unique=True)
                if keep.any():
                    table = pa.Table.from_batches([batch]).filter(pa.array(keep))
                    parts.append(table.add_column(0, "transaction_id", pa.array(ids[keep])))
    if not parts:
        return pa.table(
            {
                "transaction_id": pa.array([], pa.int64()),
                **{name: pa.array([], pa.string()) for name in HEADER},
            }
        )
    return pa.concat_tables(parts)


def _apply_earlier(current: pa.Table, update_files: list[Path]) -> pa.Table:
    """Replaces selected rows by their latest version from earlier updates files."""
    for path in update_files:
        earlier = pacsv.read_csv(path, convert_options=_ID_STRINGS)
        hit = pc.is_in(earlier["transaction_id"], current["transaction_id"])
        earlier = earlier.filter(hit)
        if earlier.num_rows:
            stale = pc.is_in(current["transaction_id"], earlier["transaction_id"])
            current = pa.concat_tables([current.filter(pc.invert(stale)), earlier])
    return current


def _correct(rows: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Changes the amount (by up to 10 %) or, for domestic non-cash rows, the payment type."""
    if rows.num_rows == 0:
        return rows
    amounts = np.array([round(float(x) * 100) for x in rows["Amount"].to_pylist()], np.int64)
    ptypes = rows["Payment_type"].to_pylist()
    change_type = (rng.random(rows.num_rows) < 0.4) & np.isin(ptypes, _DOMESTIC)
    factor = rng.uniform(0.90, 1.10, rows.num_rows)
    new_cents = np.clip(np.round(amounts * factor), MIN_CENTS, MAX_NORMAL_CENTS).astype(np.int64)
    new_cents = np.where(new_cents == amounts, amounts + 1, new_cents)
    shift = rng.integers(1, len(_DOMESTIC), rows.num_rows)
    new_amount, new_type = [], []
    for i, (cents, ptype) in enumerate(zip(amounts, ptypes, strict=True)):
        if change_type[i]:
            new_type.append(_DOMESTIC[(_DOMESTIC.index(ptype) + int(shift[i])) % len(_DOMESTIC)])
            new_amount.append(f"{cents // 100}.{cents % 100:02d}")
        else:
            new_type.append(ptype)
            c = int(new_cents[i])
            new_amount.append(f"{c // 100}.{c % 100:02d}")
    rows = rows.set_column(rows.schema.get_field_index("Amount"), "Amount", pa.array(new_amount))
    index = rows.schema.get_field_index("Payment_type")
    return rows.set_column(index, "Payment_type", pa.array(new_type))


def build_updates(
    files: list[tuple[Path, int]],
    update_files: list[Path],
    last_id: int,
    share: float,
    injected_numbers: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    """Picks ~``share`` of ids ``1..last_id`` and returns their corrected full rows.

    Args:
        files: earlier transactions files with the id of their first row, in id order.
        update_files: earlier updates files, oldest first.
        last_id: highest existing transaction id.
        share: fraction of earlier ids to correct.
        injected_numbers: account numbers of injected (instance) accounts, never corrected.
        rng: the increment's update stream.
    """
    want = int(round(share * last_id))
    if want == 0 or last_id == 0:
        return _select([], np.empty(0, np.int64))
    draw = min(last_id, int(want * 1.3) + 10)  # ~10 % of candidates are filtered out below
    candidates = np.sort(rng.choice(last_id, size=draw, replace=False) + 1)
    rows = _apply_earlier(_select(files, candidates), update_files)
    injected = pa.array(injected_numbers.astype(str))
    ok = pc.and_(
        pc.equal(rows["Is_laundering"], "0"),
        pc.invert(
            pc.or_(
                pc.is_in(rows["Sender_account"], injected),
                pc.is_in(rows["Receiver_account"], injected),
            )
        ),
    )
    rows = rows.filter(ok).sort_by("transaction_id")
    keep = np.sort(rng.permutation(rows.num_rows)[:want])
    return _correct(rows.take(pa.array(keep, pa.int64())), rng)
