"""Checking a payer's decided answer against the share as it was asked, and recording it or
refusing it (a refused decision is flagged and nothing of it is recorded as paid).

A fixed-benefit month the payer grants although another live claim of the member already holds it
(a payer that did not read a void notice's ``fixed_moved``) is set aside: not paid, flagged for
the bureau with the claim that holds it, and the rest of the decision is checked and recorded as
usual, so the claim completes instead of failing on every rerun (docs/corrections.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.sdk import Decision
from gateway import audit
from gateway.coordination import FixedBenefitDecision, LineShare, PayerShare, Reason
from gateway.coordination.checks import AskedLine, DecidedLine, decision_faults, fixed_benefit_faults
from gateway.coordination.fixed import due_months
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.products import ProductKind
from gateway.orchestration.recording import (
    flag,
    record_adjustments,
    record_fixed_benefits,
    record_share,
    release_provisional,
    settling_party,
)
from gateway.orchestration.shares import Computed, asked, compute, unpaid
from gateway.orchestration.steps import InconsistentStep, StepStatus
from gateway.orchestration.transaction import Transaction
from gateway.storage.tables import ClaimRow, FixedBenefitRow, PayerStepRow, utcnow

_NO_FIXED_BENEFIT = (
    "step {step.step_id} is a fixed-benefit step of {step.product_code} v{step.product_version}, "
    "which defines no fixed benefit"
)


def accept_decision(
    tx: Transaction, claim: ClaimRow, step: PayerStepRow, decision: Decision, catalogue: ServiceCatalogue
) -> bool:
    """Check a decided answer against the share as asked; record it, or refuse it and flag it."""
    session = tx.session
    computed = asked(tx, claim, step, catalogue)
    faults = _problems(claim, step, computed, decision)
    now = utcnow()
    step.response = decision.to_wire()  # the payer's answer as given
    decision, set_aside = _held_elsewhere(computed, decision)
    step.payer_reference = decision.payer_reference or step.payer_reference
    subject = f"claim:{claim.claim_id}"
    if faults:
        step.status, step.last_error, step.updated_at = StepStatus.REFUSED.value, "; ".join(faults), now
        release_provisional(session, claim, step)
        flag(session, claim, "decision_refused", step.last_error, step)
        audit.record(
            session, "decision.refused", subject, step=step.step_id, product=step.product_code, faults=faults
        )
        return False
    if step.kind == ProductKind.FIXED_BENEFIT.value:
        record_fixed_benefits(session, claim, step, _granted(step, computed, decision))
        if set_aside:
            _flag_set_aside(session, claim, step, set_aside)
    else:
        if computed.share is None:
            raise InconsistentStep(f"step {step.step_id} is an indemnity step but no share was computed")
        decided = _decided_share(computed.share, decision)
        record_share(session, claim, step, decided, computed.case.lines)
        if claim.round > 1:  # a re-coordination: what changed against the payer's last decision
            # a revised payer knows; one asked again after a reversal learns by the reversal
            detail = step.detail or {}
            record_adjustments(tx, claim, step, notify=not (detail.get("revised") or detail.get("reversal")))
        if (
            step.request
            and step.request.get("adjudication") == "gateway"
            and decided.lines != computed.share.lines
        ):
            flag(session, claim, "decision_differs", "the payer's decision differs from the proposal", step)
    step.status, step.decided_at, step.updated_at = StepStatus.DECIDED.value, now, now
    step.last_error = None
    claim.updated_at = now
    audit.record(
        session,
        "decision.recorded",
        subject,
        step=step.step_id,
        round=claim.round,
        payer=settling_party(step),
        product=step.product_code,
        decision=decision.to_wire(),
    )
    return True


def decision_problems(
    tx: Transaction, claim: ClaimRow, step: PayerStepRow, decision: Decision, catalogue: ServiceCatalogue
) -> list[str]:
    """Why a decided answer for this step would be refused; empty if it would be recorded."""
    return _problems(claim, step, compute(tx, claim, step, catalogue), decision)


def _problems(claim: ClaimRow, step: PayerStepRow, computed: Computed, decision: Decision) -> list[str]:
    if step.kind == ProductKind.FIXED_BENEFIT.value:
        decision, _ = _held_elsewhere(computed, decision)  # set aside, not a fault
        fixed = computed.coverage.product.fixed_benefit
        if fixed is None:
            raise InconsistentStep(_NO_FIXED_BENEFIT.format(step=step))
        months = [m for m, _ in due_months(claim.period_start, claim.period_end, computed.case.accepted_on)]
        return fixed_benefit_faults(months, computed.granted, decision.fixed, fixed.monthly_fen)
    return decision_faults(
        [AskedLine(line.line_no, line.billed_fen, unpaid(computed, line)) for line in computed.case.lines],
        [DecidedLine(d.line_no, d.paid_fen, d.reasons) for d in decision.lines],
    )


def _held_elsewhere(computed: Computed, decision: Decision) -> tuple[Decision, list[dict[str, Any]]]:
    """The decision without the fixed-benefit months another claim of the member already holds,
    and those months (paid once: the holder's grant stands)."""
    held = [f for f in decision.fixed if str(f["month"]) in computed.granted]
    if not held:
        return decision, []
    kept = tuple(f for f in decision.fixed if str(f["month"]) not in computed.granted)
    return dataclasses.replace(decision, fixed=kept), held


def _flag_set_aside(
    session: Session, claim: ClaimRow, step: PayerStepRow, held: list[dict[str, Any]]
) -> None:
    months = [str(f["month"]) for f in held]
    holders = {
        month: number
        for month, number in session.execute(
            select(FixedBenefitRow.month, ClaimRow.claim_number)
            .join(ClaimRow, ClaimRow.claim_id == FixedBenefitRow.claim_id)
            .where(
                FixedBenefitRow.member_id == claim.member_id,
                FixedBenefitRow.product_code == step.product_code,
                FixedBenefitRow.claim_id != claim.claim_id,
                FixedBenefitRow.month.in_(months),
            )
        )
    }
    set_aside = [
        {"month": str(f["month"]), "amount_fen": f["amount_fen"], "held_by": holders.get(str(f["month"]))}
        for f in held
    ]
    step.detail = {**(step.detail or {}), "set_aside": set_aside}
    detail = "; ".join(
        f"month {s['month']}: {s['amount_fen']} fen granted again, "
        f"already held by claim {s['held_by']}: not paid"
        for s in set_aside
    )
    flag(session, claim, "fixed_benefit_duplicate", detail, step)
    audit.record(
        session, "fixed_benefit.set_aside", f"claim:{claim.claim_id}", step=step.step_id, months=set_aside
    )


def _decided_share(computed: PayerShare, decision: Decision) -> PayerShare:
    by_no = {d.line_no: d for d in decision.lines}
    lines = []
    for line in computed.lines:
        decided = by_no[line.line_no]
        reasons = tuple((Reason(code), amount) for code, amount in decided.reasons if amount)
        lines.append(
            LineShare(
                line.line_no,
                line.billed_fen,
                line.remaining_fen,
                line.standalone_fen,
                decided.paid_fen,
                reasons,
                line.visit,
                line.repeat,
            )
        )
    return PayerShare(computed.payer_code, computed.product_code, computed.tier, tuple(lines))


def _granted(step: PayerStepRow, computed: Computed, decision: Decision) -> list[FixedBenefitDecision]:
    product = computed.coverage.product
    if product.fixed_benefit is None:
        raise InconsistentStep(_NO_FIXED_BENEFIT.format(step=step))
    granted = {str(f["month"]): int(f["amount_fen"]) for f in decision.fixed}
    declined = [d for d in computed.fixed or () if d.month not in granted]
    return [
        *(
            FixedBenefitDecision(
                step.payer_code, step.product_code, month, amount, product.fixed_benefit.payee
            )
            for month, amount in sorted(granted.items())
        ),
        *(
            d
            if d.reason is not None
            else FixedBenefitDecision(d.payer_code, d.product_code, d.month, 0, d.payee, Reason.NOT_COVERED)
            for d in declined
        ),
    ]
