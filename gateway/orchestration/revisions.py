"""Changing a claim's coordination after the fact.

* ``revise``: a payer revised a decision it had made (audit, appeal; or reconciliation accepted
  the payer's figure). The claim opens a new round: the earlier payers and the fixed benefits are
  carried over as decided, the revised payer's new figures are recorded, and every later
  indemnity payer is asked again under a new idempotency key. Each later decision records its
  change against what that payer last decided as adjustments (top-up or recovery), with a
  notice sent through the payer's adapter (``recording.record_adjustments``); a payer whose
  adapter reverses (冲正) is sent a reversal of its earlier submission instead (``reversals``).
* ``rerun``: the bureau re-drives a step that died or whose decision was refused. The new step
  is linked to the original (``rerun_of``) and sent under its own key, so the payer can tell a
  deliberate re-drive from a retry.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from adapters.sdk import Decision
from gateway import audit
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.products import ProductKind
from gateway.domain.webhooks import WebhookEvent
from gateway.errors import Conflict, NotFound
from gateway.orchestration.decision_checks import accept_decision, decision_problems
from gateway.orchestration.moves import current_steps, lock_claim, resume
from gateway.orchestration.recording import flag
from gateway.orchestration.reversals import queue_reversal
from gateway.orchestration.steps import (
    CLOSED_CLAIM_STATUSES,
    FAILED_STEPS,
    InconsistentStep,
    StepStatus,
    step_key,
)
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.webhooks import emit
from gateway.storage.tables import ClaimRow, FixedBenefitRow, LinePaymentRow, PayerStepRow, utcnow

CARRIED = [c.name for c in PayerStepRow.__table__.columns if c.name not in ("step_id",)]


def _copy(old: PayerStepRow, *, round_: int, attempt: int, detail: dict[str, Any]) -> PayerStepRow:
    """A new step for the same payer and product as ``old`` (as it stands: decided, say), under
    its own idempotency key: in ``round_`` and as its ``attempt``-th try."""
    new = PayerStepRow(**{name: getattr(old, name) for name in CARRIED})
    new.round, new.attempt, new.rerun_of = round_, attempt, None
    new.idempotency_key = step_key(old.claim_id, round_, old.seq, attempt)
    new.created_at = new.updated_at = utcnow()
    new.detail = detail
    return new


def _to_ask_again(step: PayerStepRow) -> PayerStepRow:
    """The step reset to be planned afresh: nothing sent, nothing answered."""
    step.status, step.attempts, step.request, step.response = StepStatus.WAITING.value, 0, None, None
    step.payer_reference, step.decided_at, step.last_error = None, None, None
    return step


def revise(
    tx: Transaction,
    claim: ClaimRow,
    step: PayerStepRow,
    decision: Decision,
    catalogue: ServiceCatalogue,
    cause: str,
) -> list[str]:
    """Open a new round with the revised decision; the faults (and nothing changed) if refused.

    The check runs first, against the share as the payer was asked it, so a refused revision
    leaves the coordination as it was; it is flagged for the bureau."""
    session = tx.session
    if claim.status in CLOSED_CLAIM_STATUSES:
        raise Conflict(f"claim {claim.claim_id} is {claim.status}: it is not revised")
    faults = decision_problems(tx, claim, step, decision, catalogue)
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
            old.seq < step.seq or (old.kind == ProductKind.FIXED_BENEFIT.value and old.seq != step.seq)
        )
        if carried:
            detail = {**(old.detail or {}), "cause": cause, "carried_from_round": old_round}
            new = _copy(old, round_=new_round, attempt=1, detail=detail)
            _carry_payments(session, claim.claim_id, old_round, new_round, old.seq)
        elif old.seq == step.seq:
            detail = {"cause": cause, "revised": True, "revises_step": old.step_id}
            new = revised = _copy(old, round_=new_round, attempt=1, detail=detail)
            new.status, new.attempts, new.last_error = StepStatus.SUBMITTED.value, 0, None
        else:  # asked again: a payer that reverses is asked to reverse what it decided before
            reversal = queue_reversal(tx, claim, old, cause)
            detail = {"cause": cause} if reversal is None else {"cause": cause, "reversal": reversal}
            new = _to_ask_again(_copy(old, round_=new_round, attempt=1, detail=detail))
        session.add(new)
    session.flush()
    if revised is None:
        raise InconsistentStep(
            f"step {step.step_id} is not among the current steps of claim {claim.claim_id}"
        )
    if revised.kind == ProductKind.FIXED_BENEFIT.value:  # granted again below, from the revised decision
        session.execute(
            delete(FixedBenefitRow).where(
                FixedBenefitRow.claim_id == claim.claim_id, FixedBenefitRow.product_code == step.product_code
            )
        )
    audit.record(
        session, "claim.revised", f"claim:{claim.claim_id}", round=new_round, step=step.step_id, cause=cause
    )
    if not accept_decision(tx, claim, revised, decision, catalogue):
        # checked above against the same facts, under the same lock
        raise InconsistentStep(
            f"the revised decision on step {step.step_id} passed its check, then was refused"
        )
    resume(claim)
    emit(session, claim, WebhookEvent.REVISED)
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


def rerun(tx: Transaction, step_id: int) -> PayerStepRow:
    """Re-drive a dead or refused step of the claim's current round."""
    session = tx.session
    old = session.get(PayerStepRow, step_id)
    if old is None:
        raise NotFound(f"no payer step {step_id}")
    claim = lock_claim(tx, old.claim_id)
    session.refresh(old)
    if claim.status in CLOSED_CLAIM_STATUSES:
        raise Conflict(f"claim {claim.claim_id} is {claim.status}: its steps are not rerun")
    if old.round != claim.round:
        raise Conflict(f"step {step_id} belongs to round {old.round}; the claim is in round {claim.round}")
    if old.status not in FAILED_STEPS:
        raise Conflict(f"step {step_id} is {old.status}; only dead or refused steps are rerun")
    old.status, old.updated_at = StepStatus.REPLACED.value, utcnow()
    detail = {"rerun_of": old.step_id, "previous_error": old.last_error}
    new = _to_ask_again(_copy(old, round_=old.round, attempt=old.attempt + 1, detail=detail))
    new.rerun_of = old.step_id
    session.add(new)
    session.flush()
    audit.record(session, "step.rerun", f"claim:{claim.claim_id}", step=new.step_id, rerun_of=old.step_id)
    resume(claim)
    return new
