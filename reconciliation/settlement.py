"""Settlement items waiting for a batch: the net adjustments per payer (from re-coordinations and
from reconcilers' recover and top-up actions) not yet in one, and a batch's items as the file a
payer settles from. Declaring batches and their lifecycle: ``reconciliation.batches``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from gateway.storage.tables import SettlementBatchRow, SettlementItemRow


def next_batch(session: Session, payer_code: str | None = None) -> list[dict[str, Any]]:
    """Net adjustments per payer not yet in a batch."""
    statement = (
        select(SettlementItemRow.payer_code, func.count(), func.sum(SettlementItemRow.amount_fen))
        .where(SettlementItemRow.batch_id.is_(None))
        .group_by(SettlementItemRow.payer_code)
        .order_by(SettlementItemRow.payer_code)
    )
    if payer_code:
        statement = statement.where(SettlementItemRow.payer_code == payer_code)
    return [
        {"payer_code": p, "items": int(n), "net_fen": int(s or 0)} for p, n, s in session.execute(statement)
    ]


def batch_view(session: Session, batch_id: int) -> dict[str, Any]:
    batch = session.get(SettlementBatchRow, batch_id)
    if batch is None:
        raise NotFound(f"no settlement batch {batch_id}")
    items = session.scalars(
        select(SettlementItemRow).where(SettlementItemRow.batch_id == batch_id).order_by(SettlementItemRow.id)
    )
    return {
        "batch_id": batch.id,
        "payer_code": batch.payer_code,
        "items": [
            {
                "claim_id": str(i.claim_id),
                "line_no": i.line_no,
                "amount_fen": i.amount_fen,
                "source": i.source,
            }
            for i in items
        ],
        "net_fen": batch.net_fen,
        "period": batch.period,
        "status": batch.status,
        "created_at": batch.created_at.isoformat(),
    }
