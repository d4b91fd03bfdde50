"""The settlement ledger: what each payer is expected to settle, per claim line (and per claim for
a fixed benefit), appended by ``gateway.orchestration.recording`` whenever a decision or an
adjustment is written. Entries are never updated; a correction is a reversing entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import func, insert, select
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
_APPEND = insert(LedgerEntryRow).execution_options(autoflush=False)


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
        session.execute(_APPEND, rows)


def reverse(
    session: Session, *, claim_id: uuid.UUID, product_code: str, round_: int, month: str | None
) -> None:
    """Cancel what is expected for a claim-level entry (a fixed benefit decided again)."""
    rows = session.execute(
        select(LedgerEntryRow.payer_code, func.sum(LedgerEntryRow.amount_fen))
        .where(
            LedgerEntryRow.claim_id == claim_id,
            LedgerEntryRow.product_code == product_code,
            LedgerEntryRow.line_no == CLAIM_LEVEL,
            LedgerEntryRow.month == month,
        )
        .group_by(LedgerEntryRow.payer_code)
    ).all()
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
