"""The fan-out of one claim: plan a step per payer in tier order, then run them one by one.

Each step runs in its own transaction, holding the member's row lock so that two claims of the
same member never consume the same period limit twice.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.coordination import coordinate_payer, fixed_benefits
from gateway.domain.claims import ClaimStatus
from gateway.domain.coverage import Coverage, payer_order
from gateway.domain.products import Kind
from gateway.domain.services import ServiceCatalogue
from gateway.orchestration.facts import (
    case_facts,
    granted_months,
    limit_usage,
    prior_payments,
    step_coverage,
)
from gateway.orchestration.recording import record_fixed_benefits, record_share
from gateway.services.registry import current_product
from gateway.storage.tables import ClaimRow, EnrollmentRow, MemberRow, PayerStepRow, utcnow


class StepStatus(StrEnum):
    WAITING = "waiting"  # not yet attempted
    DECIDED = "decided"  # the payer's share is recorded


def plan_steps(session: Session, claim: ClaimRow) -> list[PayerStepRow]:
    """A step for every product the member holds during the claim period, in payer order."""
    coverages: list[tuple[Coverage, int]] = []
    for row in session.scalars(select(EnrollmentRow).where(EnrollmentRow.member_id == claim.member_id)):
        product, version = current_product(session, row.product_code)
        coverage = Coverage(product, row.start_date, row.end_date)
        if coverage.overlaps(claim.period_start, claim.period_end):
            coverages.append((coverage, version))
    versions = {id(c): v for c, v in coverages}
    steps = []
    for seq, coverage in enumerate(payer_order(c for c, _ in coverages), start=1):
        product = coverage.product
        steps.append(
            PayerStepRow(
                claim_id=claim.claim_id,
                round=claim.round,
                seq=seq,
                tier=product.tier,
                payer_code=product.payer_code,
                product_code=product.product_code,
                product_version=versions[id(coverage)],
                kind=product.kind.value,
                adjudication=product.adjudication.value,
                coverage_start=coverage.start_date,
                coverage_end=coverage.end_date,
                status=StepStatus.WAITING.value,
                idempotency_key=f"{claim.claim_id}:{claim.round}:{seq}",
            )
        )
    session.add_all(steps)
    return steps


def advance_claim(sessions: sessionmaker[Session], claim_id: uuid.UUID, catalogue: ServiceCatalogue) -> str:
    """Run the claim's remaining steps in order; returns the claim's status afterwards."""
    while True:
        with sessions.begin() as session:
            claim = session.get_one(ClaimRow, claim_id)
            session.execute(
                select(MemberRow.member_id).where(MemberRow.member_id == claim.member_id).with_for_update()
            )
            session.refresh(claim)
            if claim.status == ClaimStatus.COORDINATED:
                return claim.status
            step = session.scalar(
                select(PayerStepRow)
                .where(
                    PayerStepRow.claim_id == claim_id,
                    PayerStepRow.round == claim.round,
                    PayerStepRow.status != StepStatus.DECIDED.value,
                )
                .order_by(PayerStepRow.seq)
                .limit(1)
            )
            if step is None:
                _finish(session, claim)
                return claim.status
            if claim.status == ClaimStatus.RECEIVED:
                claim.status = ClaimStatus.COORDINATING.value
            _decide(session, claim, step, catalogue)


def _decide(session: Session, claim: ClaimRow, step: PayerStepRow, catalogue: ServiceCatalogue) -> None:
    coverage = step_coverage(session, step)
    case = case_facts(session, claim, catalogue)
    if coverage.product.kind == Kind.FIXED_BENEFIT:
        decisions = fixed_benefits(coverage, case, granted_months(session, claim, step.product_code))
        record_fixed_benefits(session, claim, step, decisions)
    else:
        usage = limit_usage(session, claim, step.product_code, case.lines)
        share, _ = coordinate_payer(coverage, case, prior_payments(session, claim, step.seq), usage)
        record_share(session, claim, step, share, case.lines)
    step.status, step.attempts = StepStatus.DECIDED.value, step.attempts + 1
    step.decided_at = step.updated_at = utcnow()
    claim.updated_at = utcnow()


def _finish(session: Session, claim: ClaimRow) -> None:
    paid = prior_payments(session, claim, before_seq=1 << 30)
    billed = claim.billed_fen
    claim.member_responsibility_fen = billed - sum(paid.values())
    claim.status = ClaimStatus.COORDINATED.value
    claim.coordinated_at = claim.updated_at = utcnow()
    claim.lease_owner, claim.lease_expires_at, claim.next_attempt_at = None, None, None
