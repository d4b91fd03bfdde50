"""Changing a claim's coordination after the fact.

* ``revise``: a payer revised a decision it had made (audit, appeal; or reconciliation accepted
  the payer's figure). The claim opens a new round: the earlier payers and the fixed benefits are
  carried over as decided, the revised payer's new figures are recorded, and every later
  indemnity payer is asked again under a new idempotency key. Each later decision records its
  change against what that payer last decided as adjustments (top-up or recovery), with a
  notice sent through the payer's adapter (``recording.record_adjustments``).
* ``rerun``: the bureau re-drives a step that died or whose decision was refused. The new step
  is linked to the original (``rerun_of``) and sent under its own key, so the payer can tell a
  deliberate re-drive from a retry.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from adapters.sdk import Decision
from gateway import audit
from gateway.domain.products import Kind
from gateway.domain.services import ServiceCatalogue
from gateway.errors import Conflict, NotFound
from gateway.orchestration.fanout import (
    FAILED_STEPS,
    StepStatus,
    accept_decision,
    current_steps,
    decision_problems,
    lock_claim,
    resume,
    step_key,
)
from gateway.orchestration.recording import flag
from gateway.storage.tables import ClaimRow, FixedBenefitRow, LinePaymentRow, PayerStepRow, utcnow

CARRIED = [c.name for c in PayerStepRow.__table__.columns if c.name not in ("step_id",)]


def revise(
    session: Session,
    claim: ClaimRow,
    step: PayerStepRow,
    decision: Decision,
    catalogue: ServiceCatalogue,
    cause: str,
) -> list[str]:
    """Open a new round with the revised decision; the faults (and nothing changed) if refused.

    The check runs first, against the share as the payer was asked it, so a refused revision
    leaves the coordination as it was; it is flagged for the bureau."""
    faults = decision_problems(session, claim, step, decision, catalogue)
    if faults:
        flag(session, claim, "revision_refused", "; ".join(faults), step)
        return faults
    old_round, new_round = claim.round, claim.round + 1
    steps = current_steps(session, claim)
    session.execute(
        update(LinePaymentRow)
        .where(LinePaymentRow.claim_id == claim.claim_id, LinePaymentRow.round == old_round)
        .values(current=False)
    )
    claim.round = new_round
    revised: PayerStepRow | None = None
    for old in steps:
        carried = old.status == StepStatus.DECIDED.value and (
            old.seq < step.seq or (old.kind == Kind.FIXED_BENEFIT.value and old.seq != step.seq)
        )
        new = PayerStepRow(
            **{name: getattr(old, name) for name in CARRIED},
        )
        new.round, new.attempt, new.rerun_of = new_round, 1, None
        new.idempotency_key = step_key(claim.claim_id, new_round, old.seq)
        new.created_at = new.updated_at = utcnow()
        new.detail = {"cause": cause}
        if carried:
            new.detail = {**(old.detail or {}), "cause": cause, "carried_from_round": old_round}
            _carry_payments(session, claim.claim_id, old_round, new_round, old.seq)
        elif old.seq == step.seq:
            new.status, new.attempts, new.last_error = StepStatus.SUBMITTED.value, 0, None
            new.detail = {"cause": cause, "revised": True, "revises_step": old.step_id}
            revised = new
        else:
            new.status, new.attempts, new.request, new.response = StepStatus.WAITING.value, 0, None, None
            new.payer_reference, new.decided_at, new.last_error = None, None, None
        session.add(new)
    session.flush()
    assert revised is not None
    if revised.kind == Kind.FIXED_BENEFIT.value:  # granted again below, from the revised decision
        session.execute(
            delete(FixedBenefitRow).where(
                FixedBenefitRow.claim_id == claim.claim_id, FixedBenefitRow.product_code == step.product_code
            )
        )
    audit.record(
        session, "claim.revised", f"claim:{claim.claim_id}", round=new_round, step=step.step_id, cause=cause
    )
    accepted = accept_decision(session, claim, revised, decision, catalogue)
    assert accepted, "checked above against the same facts"
    resume(claim)
    return []


def _carry_payments(session: Session, claim_id: uuid.UUID, old_round: int, new_round: int, seq: int) -> None:
    columns = [c for c in LinePaymentRow.__table__.columns if c.name not in ("id", "round", "current")]
    source = select(*columns).where(
        LinePaymentRow.claim_id == claim_id, LinePaymentRow.round == old_round, LinePaymentRow.seq == seq
    )
    rows = [
        {
            **{c.name: value for c, value in zip(columns, row, strict=True)},
            "round": new_round,
            "current": True,
        }
        for row in session.execute(source)
    ]
    if rows:
        session.execute(insert(LinePaymentRow), rows)


def rerun(session: Session, step_id: int) -> PayerStepRow:
    """Re-drive a dead or refused step of the claim's current round."""
    old = session.get(PayerStepRow, step_id)
    if old is None:
        raise NotFound(f"no payer step {step_id}")
    claim = lock_claim(session, old.claim_id)
    session.refresh(old)
    if old.round != claim.round:
        raise Conflict(f"step {step_id} belongs to round {old.round}; the claim is in round {claim.round}")
    if old.status not in FAILED_STEPS:
        raise Conflict(f"step {step_id} is {old.status}; only dead or refused steps are rerun")
    old.status, old.updated_at = StepStatus.REPLACED.value, utcnow()
    new = PayerStepRow(**{name: getattr(old, name) for name in CARRIED})
    new.attempt = old.attempt + 1
    new.rerun_of = old.step_id
    new.idempotency_key = step_key(old.claim_id, old.round, old.seq, new.attempt)
    new.status, new.attempts, new.request, new.response = StepStatus.WAITING.value, 0, None, None
    new.payer_reference, new.decided_at, new.last_error = None, None, None
    new.detail = {"rerun_of": old.step_id, "previous_error": old.last_error}
    new.created_at = new.updated_at = utcnow()
    session.add(new)
    session.flush()
    audit.record(session, "step.rerun", f"claim:{claim.claim_id}", step=new.step_id, rerun_of=old.step_id)
    resume(claim)
    return new
