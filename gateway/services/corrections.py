"""Corrections a provider makes to its own claims (docs/corrections.md): a void withdraws a claim
(``orchestration/voids.py``). One transaction each; a provider reaches only its own claims (another
provider's is answered as if it did not exist)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import schemas
from gateway.errors import Forbidden, Invalid, NotFound
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.voids import void
from gateway.services.keys import Principal, Role
from gateway.storage.tables import AdjustmentRow, ClaimRow


def own_claim(session: Session, principal: Principal, claim_id: str) -> ClaimRow:
    """The provider's own claim, or NotFound (the same answer whether it exists or is another's)."""
    if principal.role != Role.PROVIDER:
        raise Forbidden("only a claim's provider corrects it")
    try:
        key = uuid.UUID(claim_id)
    except ValueError:
        raise NotFound(f"no claim {claim_id}", [("/claim_id", "is not a claim id")]) from None
    claim = session.get(ClaimRow, key)
    if claim is None or claim.provider_code != principal.party_code:
        raise NotFound(f"no claim {claim_id}")
    return claim


def void_claim(session: Session, principal: Principal, claim_id: str, document: Any) -> dict[str, Any]:
    """Withdraw a claim: every payment recovered per payer and line, limits given back, every
    payer notified; voiding it again answers the same."""
    faults = schemas.faults("claim-void", document)
    if faults:
        raise Invalid(faults)
    claim = own_claim(session, principal, claim_id)
    actor = f"{principal.role.value}:{principal.party_code}"
    claim = void(Transaction(session), claim.claim_id, document["reason"], actor)
    recoveries = session.scalars(
        select(AdjustmentRow)
        .where(AdjustmentRow.claim_id == claim.claim_id, AdjustmentRow.round == claim.round)
        .order_by(AdjustmentRow.id)
    )
    return {
        "claim_id": str(claim.claim_id),
        "claim_number": claim.claim_number,
        "status": claim.status,
        "reason": claim.void_reason,
        "voided_at": claim.voided_at.isoformat() if claim.voided_at else None,
        "recoveries": [
            {
                "payer_code": a.payer_code,
                "product_code": a.product_code,
                "line_no": a.line_no,
                "previous_paid_fen": a.previous_paid_fen,
                "delta_fen": a.delta_fen,
            }
            for a in recoveries
        ],
    }
