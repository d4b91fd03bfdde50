"""The settlement ledger: what each payer is expected to settle, per claim line (and per claim for
a fixed benefit), appended by ``gateway.orchestration.recording`` whenever a decision or an
adjustment is written. Entries are never updated; a correction is a reversing entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from gateway.domain.beijing_time import beijing_date
from gateway.storage.tables import LedgerEntryRow, utcnow

CLAIM_LEVEL = 0  # line_no of a fixed benefit's entries
# A decision is kept even when it pays nothing: the key was routed to the payer, so a settlement
# of it is an amount mismatch, not UNKNOWN_AT_GATEWAY. A zero adjustment or reversal says nothing.
ROUTED = ("payment", "fixed_benefit")


def business_date(now: datetime | None = None) -> date:
    """Settlement dates are Beijing dates."""
    return beijing_date(now or datetime.now(UTC))


# Entries are appended and read back by queries, never as objects: one multi-row INSERT, with no
# unit-of-work bookkeeping for each entry.
# (on the table: an entity's INSERT goes through the ORM's bulk-persistence layer)
_APPEND = insert(cast(Table, LedgerEntryRow.__table__))


def expect(
    session: Session,
    *,
    payer_code: str,
    claim_id: uuid.UUID,
    product_code: str,
    round_: int,
    kind: str,
    amounts: Iterable[tuple[int, int]],  # (line_no, amount_fen)
    month: str | None = None,
) -> None:
    today, now = business_date(), utcnow()
    rows = [
        {
            "payer_code": payer_code,
            "claim_id": claim_id,
            "line_no": line_no,
            "product_code": product_code,
            "month": month,
            "kind": kind,
            "amount_fen": amount,
            "round": round_,
            "business_date": today,
            "created_at": now,
        }
        for line_no, amount in amounts
        if amount or kind in ROUTED
    ]
    if rows:
        session.connection().execute(_APPEND, rows)  # no flush first (``recording``)


# What is expected of each claim-level month of a product, by payer: entries are written by INSERT
# at once (``_APPEND``), never left pending, so the query needs no flush; built once.
_CLAIM_LEVEL_EXPECTED = (
    select(LedgerEntryRow.month, LedgerEntryRow.payer_code, func.sum(LedgerEntryRow.amount_fen))
    .where(
        LedgerEntryRow.claim_id == bindparam("claim_id"),
        LedgerEntryRow.product_code == bindparam("product_code"),
        LedgerEntryRow.line_no == CLAIM_LEVEL,
        LedgerEntryRow.month.in_(bindparam("months", expanding=True)),
    )
    .group_by(LedgerEntryRow.month, LedgerEntryRow.payer_code)
    .order_by(LedgerEntryRow.month, LedgerEntryRow.payer_code)
    .execution_options(autoflush=False)
)


def claim_level_expected(
    session: Session, claim_id: uuid.UUID, product_code: str, months: Iterable[str]
) -> dict[str, list[tuple[str, int]]]:
    """By month, what each payer is expected to settle for the product's claim-level entries of
    those months: one query for every month a fixed-benefit decision names."""
    found: dict[str, list[tuple[str, int]]] = {}
    months = sorted(set(months))
    if months:
        for month, payer_code, total in session.execute(
            _CLAIM_LEVEL_EXPECTED, {"claim_id": claim_id, "product_code": product_code, "months": months}
        ):
            found.setdefault(str(month), []).append((payer_code, int(total or 0)))
    return found


def reverse(
    session: Session,
    *,
    claim_id: uuid.UUID,
    product_code: str,
    round_: int,
    month: str | None,
    expected_now: list[tuple[str, int]] | None = None,
) -> None:
    """Cancel what is expected for a claim-level entry (a fixed benefit decided again);
    ``expected_now``: that, by payer, when the caller has read it already (``claim_level_expected``)."""
    if expected_now is not None:
        rows = expected_now
    else:
        rows = [
            (payer_code, int(total or 0))
            for payer_code, total in session.execute(
                select(LedgerEntryRow.payer_code, func.sum(LedgerEntryRow.amount_fen))
                .where(
                    LedgerEntryRow.claim_id == claim_id,
                    LedgerEntryRow.product_code == product_code,
                    LedgerEntryRow.line_no == CLAIM_LEVEL,
                    LedgerEntryRow.month == month,
                )
                .group_by(LedgerEntryRow.payer_code)
            )
        ]
    for payer_code, total in rows:
        expect(
            session,
            payer_code=payer_code,
            claim_id=claim_id,
            product_code=product_code,
            round_=round_,
            kind="reversal",
            amounts=[(CLAIM_LEVEL, -int(total or 0))],
            month=month,
        )


def expected(session: Session, payer_code: str, claim_id: uuid.UUID, line_no: int) -> int:
    total = session.scalar(
        select(func.sum(LedgerEntryRow.amount_fen)).where(
            LedgerEntryRow.payer_code == payer_code,
            LedgerEntryRow.claim_id == claim_id,
            LedgerEntryRow.line_no == line_no,
        )
    )
    return int(total or 0)
