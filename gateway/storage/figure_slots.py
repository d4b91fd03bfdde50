"""The fold of the bureau's figure slots: each kept figure's rows of slots other than 0 summed
into its slot-0 row, so the rows stay a few per key however many backends wrote them.

On PostgreSQL each backend's triggers write a slot of their own (migration 0037) so concurrent
workers do not queue on one row; the slots only add rows, never change a figure, so folding them
is housekeeping, run after the nightly reconciliation. Triggers never write slot 0 there, and a
row an in-flight transaction holds is skipped (folded next time): the fold waits on no worker,
and no worker on it beyond the rows it moves. Rows that sum to nothing are dropped: readers take
a key whose rows were all taken back as absent."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from gateway.storage.tables import (
    DecisionTimeRow,
    FundFixedMonthRow,
    FundMemberMonthRow,
    FundPaidMonthRow,
    QueueTotalRow,
    ScorecardMonthRow,
)

SLOTTED: tuple[Table, ...] = tuple(
    cast(Table, row.__table__)
    for row in (
        FundPaidMonthRow,
        FundMemberMonthRow,
        FundFixedMonthRow,
        ScorecardMonthRow,
        DecisionTimeRow,
        QueueTotalRow,
    )
)
FOLD_LOCK = 0x4C54_4346_4F4C_44  # one fold at a time: two would raise the same slot-0 rows


def key_and_sums(table: Table) -> tuple[list[str], list[str]]:
    """A figure's key (without the slot) and the columns it sums."""
    key = [c.name for c in table.primary_key.columns if c.name != "slot"]
    return key, [c.name for c in table.columns if not c.primary_key]


def fold_statements(table: Table, dialect: str) -> list[str]:
    key, sums = key_and_sums(table)
    name, keys = table.name, ", ".join(key)
    into = (
        f"INSERT INTO {name} ({keys}, {', '.join(sums)}, slot)"
        f" SELECT {keys}, {', '.join(f'sum({c})' for c in sums)}, 0"
    )
    upsert = f" GROUP BY {keys} ON CONFLICT ({keys}, slot) DO UPDATE SET " + ", ".join(
        f"{c} = {name}.{c} + excluded.{c}" for c in sums
    )
    empty = f"DELETE FROM {name} WHERE slot = 0 AND " + " AND ".join(f"{c} = 0" for c in sums)
    if dialect == "postgresql":
        taken = (
            f"WITH taken AS (DELETE FROM {name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {name}"
            f" WHERE slot <> 0 FOR UPDATE SKIP LOCKED)) RETURNING {keys}, {', '.join(sums)}) "
        )
        return [taken + into + " FROM taken" + upsert, empty]
    # SQLite writes slot 0 alone (one writer at a time): this only tidies rows put there by hand
    return [into + f" FROM {name} WHERE slot <> 0" + upsert, f"DELETE FROM {name} WHERE slot <> 0", empty]


def fold(session: Session) -> dict[str, int] | None:
    """Fold every figure's slots into slot 0, in the session's transaction; the rows each table
    has left. None: another fold holds the lock (PostgreSQL), nothing was done."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and not session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:lock)"), {"lock": FOLD_LOCK}
    ):
        return None
    left = {}
    for table in SLOTTED:
        for statement in fold_statements(table, dialect):
            session.execute(text(statement))
        left[table.name] = int(session.scalar(text(f"SELECT count(*) FROM {table.name}")) or 0)
    return left
