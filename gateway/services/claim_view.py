"""One claim as its parties may see it (``GET /v1/claims/{claim_id}``): its payer steps, each line's
payments, fixed benefits, adjustments and flags. The read side of claims; ``services/claims.py``
accepts them.

Who sees what: the bureau, reconcilers and admins see every claim; a provider its own; a payer the
claims it holds a share of, and of those only the shares routed to it (not what the other payers
decided, nor what is left for the member). Only the bureau and the claim's provider see the
member's ID number unmasked."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.domain.claims import ClaimStatus
from gateway.domain.identity import mask_id_number
from gateway.errors import NotFound
from gateway.services.keys import Principal, Role
from gateway.storage.claim_lines import billed_line, claim_line
from gateway.storage.tables import (
    AdjustmentRow,
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    FlagRow,
    LinePaymentRow,
    MemberRow,
    PayerStepRow,
)


def can_see(session: Session, principal: Principal, claim: ClaimRow) -> bool:
    if principal.role in (Role.BUREAU, Role.RECONCILER, Role.ADMIN):
        return True
    if principal.role == Role.PROVIDER:
        return claim.provider_code == principal.party_code
    if principal.role == Role.PAYER:
        return (
            session.scalar(
                select(PayerStepRow.step_id)
                .where(
                    PayerStepRow.claim_id == claim.claim_id,
                    or_(
                        PayerStepRow.payer_code == principal.party_code,
                        PayerStepRow.administrator_code == principal.party_code,
                    ),
                )
                .limit(1)
            )
            is not None
        )
    return False


def claim_view(session: Session, principal: Principal, claim_id: str) -> dict[str, Any]:
    try:
        key = uuid.UUID(claim_id)
    except ValueError:
        raise NotFound(f"no claim {claim_id}") from None
    claim = session.get(ClaimRow, key)
    if claim is None or not can_see(session, principal, claim):
        raise NotFound(f"no claim {claim_id}")  # the same answer whether it exists or is someone else's
    member = session.get_one(MemberRow, claim.member_id)
    owner = principal.role == Role.BUREAU or (
        principal.role == Role.PROVIDER and principal.party_code == claim.provider_code
    )
    # A payer sees the shares routed to it, not what the other payers decided.
    payer = principal.party_code if principal.role == Role.PAYER else None
    steps = _steps(session, claim, payer)
    products = {s.product_code for s in steps}
    lines = _lines(session, claim, products, payer)
    fixed = session.scalars(
        select(FixedBenefitRow)
        .where(FixedBenefitRow.claim_id == claim.claim_id, FixedBenefitRow.provisional.is_(False))
        .order_by(FixedBenefitRow.product_code, FixedBenefitRow.month)
    )
    adjustments = session.scalars(
        select(AdjustmentRow)
        .where(AdjustmentRow.claim_id == claim.claim_id)
        .order_by(AdjustmentRow.round, AdjustmentRow.id)
    )
    flags = session.scalars(select(FlagRow).where(FlagRow.claim_id == claim.claim_id).order_by(FlagRow.id))
    return {
        "claim_id": str(claim.claim_id),
        "claim_number": claim.claim_number,
        "provider_code": claim.provider_code,
        "member_id_number": member.id_number if owner else mask_id_number(member.id_number),
        "assessment_id": str(claim.assessment_id),
        "period": {"start": claim.period_start.isoformat(), "end": claim.period_end.isoformat()},
        "status": claim.status,
        "round": claim.round,
        "billed_fen": claim.billed_fen,
        "payers": [_step(s) for s in steps],
        "lines": lines,
        "member_responsibility_fen": claim.member_responsibility_fen if payer is None else None,
        "fixed_benefits": [_fixed_benefit(f) for f in fixed if f.product_code in products],
        "adjustments": [_adjustment(a) for a in adjustments if a.product_code in products],
        "flags": [
            {"kind": f.kind, "line_no": f.line_no, "payer_code": f.payer_code, "detail": f.detail}
            for f in flags
            if payer is None or f.product_code in products
        ],
        "received_at": claim.created_at.isoformat(),
        "coordinated_at": claim.coordinated_at.isoformat() if claim.coordinated_at else None,
        **({"versions": claim.versions} if claim.versions else {}),
        **(
            {"void": {"reason": claim.void_reason, "voided_at": claim.voided_at.isoformat()}}
            if claim.voided_at
            else {}
        ),
    }


def _steps(session: Session, claim: ClaimRow, payer: str | None) -> list[PayerStepRow]:
    """The claim's payer steps of its current round (all, or those routed to ``payer``)."""
    steps = session.scalars(
        select(PayerStepRow)
        .where(
            PayerStepRow.claim_id == claim.claim_id,
            PayerStepRow.round == claim.round,
            PayerStepRow.status != "replaced",
        )
        .order_by(PayerStepRow.seq)
    )
    return [s for s in steps if payer is None or payer in (s.payer_code, s.administrator_code)]


def _step(s: PayerStepRow) -> dict[str, Any]:
    return {
        "step_id": s.step_id,
        "seq": s.seq,
        "tier": s.tier,
        "payer_code": s.payer_code,
        **({"administrator_code": s.administrator_code} if s.administrator_code else {}),
        "product_code": s.product_code,
        "kind": s.kind,
        "adjudication": s.adjudication,
        "status": s.status,
        "attempts": s.attempts,
        **({"payer_reference": s.payer_reference} if s.payer_reference else {}),
        **({"rerun_of": s.rerun_of} if s.rerun_of else {}),
        **({"error": s.last_error} if s.last_error else {}),
        **({"paid_fen": s.detail["paid_fen"]} if s.detail and "paid_fen" in s.detail else {}),
        **({"declined": s.detail["declined"]} if s.detail and s.detail.get("declined") else {}),
        **(
            {"return_reason": s.detail["return_reason"]} if s.detail and s.detail.get("return_reason") else {}
        ),
    }


def _lines(
    session: Session, claim: ClaimRow, products: Iterable[str], payer: str | None
) -> list[dict[str, Any]]:
    """The claim's lines with what the products in view paid on each; what is left for the member
    once the claim is coordinated, unless a payer is looking."""
    payments: dict[int, list[LinePaymentRow]] = defaultdict(list)
    for payment in session.scalars(
        select(LinePaymentRow)
        .where(
            LinePaymentRow.claim_id == claim.claim_id,
            LinePaymentRow.round == claim.round,
            LinePaymentRow.provisional.is_(False),
            LinePaymentRow.product_code.in_(products),
        )
        .order_by(LinePaymentRow.seq)
    ):
        payments[payment.line_no].append(payment)
    settled = claim.status == ClaimStatus.COORDINATED and payer is None
    lines = []
    for line in session.scalars(
        select(ClaimLineRow).where(ClaimLineRow.claim_id == claim.claim_id).order_by(ClaimLineRow.line_no)
    ):
        paid = payments.get(line.line_no, [])
        lines.append(
            {
                **billed_line(claim_line(line)),
                "payments": [_payment(p) for p in paid],
                "member_responsibility_fen": (
                    line.billed_fen - sum(p.paid_fen for p in paid) if settled else None
                ),
            }
        )
    return lines


def _payment(p: LinePaymentRow) -> dict[str, Any]:
    return {
        "payer_code": p.payer_code,
        "product_code": p.product_code,
        "paid_fen": p.paid_fen,
        "standalone_fen": p.standalone_fen,
        "reasons": [{"code": code, "amount_fen": amount} for code, amount in p.reasons],
        **({"visit": p.visit} if p.visit else {}),
    }


def _fixed_benefit(f: FixedBenefitRow) -> dict[str, Any]:
    return {
        "payer_code": f.payer_code,
        "product_code": f.product_code,
        "month": f.month,
        "amount_fen": f.amount_fen,
        "payee": f.payee,
    }


def _adjustment(a: AdjustmentRow) -> dict[str, Any]:
    return {
        "round": a.round,
        "payer_code": a.payer_code,
        "product_code": a.product_code,
        "line_no": a.line_no,
        "previous_paid_fen": a.previous_paid_fen,
        "paid_fen": a.paid_fen,
        "delta_fen": a.delta_fen,
        "kind": a.kind,
        "cause": a.cause,
    }
