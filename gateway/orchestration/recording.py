"""The one place where a payer's part in a claim is written down: its line payments (with
reasons and visit findings), the fixed benefits it grants, and the flags for the bureau."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from gateway.coordination import FixedBenefitDecision, PayerShare
from gateway.domain.claims import ClaimLine
from gateway.storage.tables import ClaimRow, FixedBenefitRow, FlagRow, LinePaymentRow, PayerStepRow


def record_share(
    session: Session, claim: ClaimRow, step: PayerStepRow, share: PayerShare, lines: Sequence[ClaimLine]
) -> None:
    """An indemnity payer's payments on every line of the claim, in the claim's current round."""
    by_no = {line.line_no: line for line in lines}
    for line in share.lines:
        service = by_no[line.line_no]
        finding = line.visit
        session.add(
            LinePaymentRow(
                claim_id=claim.claim_id,
                round=claim.round,
                seq=step.seq,
                line_no=line.line_no,
                member_id=claim.member_id,
                payer_code=step.payer_code,
                product_code=step.product_code,
                period_month=service.month,
                period_year=service.service_date.year,
                billed_fen=line.billed_fen,
                remaining_fen=line.remaining_fen,
                standalone_fen=line.standalone_fen,
                paid_fen=line.paid_fen,
                reasons=[[reason.value, amount] for reason, amount in line.reasons],
                visit={"verified": finding.verified, "problems": list(finding.problems)} if finding else None,
            )
        )
        if finding is not None and not finding.verified:
            flag(session, claim, "visit_unverified", "; ".join(finding.problems), step, line.line_no)
    step.detail = {"paid_fen": share.paid_fen}


def record_fixed_benefits(
    session: Session, claim: ClaimRow, step: PayerStepRow, decisions: Sequence[FixedBenefitDecision]
) -> None:
    for decision in decisions:
        if decision.amount_fen > 0:
            session.add(
                FixedBenefitRow(
                    claim_id=claim.claim_id,
                    member_id=claim.member_id,
                    payer_code=decision.payer_code,
                    product_code=decision.product_code,
                    month=decision.month,
                    amount_fen=decision.amount_fen,
                    payee=decision.payee,
                )
            )
    step.detail = {
        "granted": [{"month": d.month, "amount_fen": d.amount_fen} for d in decisions if d.amount_fen > 0],
        "declined": [{"month": d.month, "reason": d.reason.value} for d in decisions if d.reason is not None],
    }


def flag(
    session: Session,
    claim: ClaimRow,
    kind: str,
    detail: str,
    step: PayerStepRow | None = None,
    line_no: int | None = None,
) -> None:
    """Something for the bureau to look at, shown on the claim."""
    session.add(
        FlagRow(
            kind=kind,
            claim_id=claim.claim_id,
            line_no=line_no,
            payer_code=step.payer_code if step else None,
            product_code=step.product_code if step else None,
            detail=detail,
        )
    )
