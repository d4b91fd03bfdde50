"""Corrections a provider makes to its own claims (docs/corrections.md): a void withdraws a claim
(``orchestration/voids.py``); a replacement puts a corrected version in its place
(``orchestration/replacements.py``). One transaction each; a provider reaches only its own claims (another
provider's is answered as if it did not exist)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import schemas
from gateway.domain.beijing_time import beijing_date
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claims import ClaimSubmission, claim_problems, period_problems, repeated_lines
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Fault
from gateway.errors import Forbidden, Invalid, NotFound
from gateway.orchestration.replacements import replace
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.voids import void
from gateway.parsing import digest, parse
from gateway.services.keys import Principal, Role
from gateway.storage.personal import lookup_hash
from gateway.storage.tables import AdjustmentRow, AssessmentRow, ClaimRow, MemberRow, utcnow


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


def replace_claim(
    session: Session, principal: Principal, claim_id: str, document: Any, catalogue: ServiceCatalogue
) -> dict[str, Any]:
    """Put a corrected version of the provider's claim in its place (the claim's body, checked as a
    new claim is, for the same member and claim number); it is coordinated again and only the
    differences become adjustments. The same version again answers the same."""
    claim = own_claim(session, principal, claim_id)
    corrected = parse("claim", ClaimSubmission, document)
    faults: list[Fault] = list(claim_problems(corrected, catalogue))
    faults += repeated_lines(corrected)
    faults += period_problems(corrected.period, beijing_date(utcnow()))
    if corrected.claim_number != claim.claim_number:
        faults.append(("/claim_number", f"a corrected version keeps the claim's number {claim.claim_number}"))
    member = session.get_one(MemberRow, claim.member_id)
    problem = id_number_problem(corrected.member_id_number)
    if problem:
        faults.append(("/member_id_number", problem))
    elif lookup_hash(corrected.member_id_number) != member.id_hash:
        faults.append(
            ("/member_id_number", "a corrected version is for the same member: void the claim instead")
        )
    assessment = session.get(AssessmentRow, uuid.UUID(corrected.assessment_id))
    if assessment is None or assessment.member_id != claim.member_id:
        faults.append(("/assessment_id", "no assessment with this id for this member"))
    if faults or assessment is None:
        raise Invalid(faults)
    actor = f"{principal.role.value}:{principal.party_code}"
    claim = replace(
        Transaction(session),
        claim.claim_id,
        corrected.period,
        corrected.lines,
        assessment.assessment_id,
        digest(document),
        actor,
    )
    return {
        "claim_id": str(claim.claim_id),
        "claim_number": claim.claim_number,
        "status": claim.status,
        "received_at": claim.created_at.isoformat(),
    }
