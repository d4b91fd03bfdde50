"""A provider withdraws a claim (作废), before or after its coordination (docs/corrections.md).

In one transaction under the claim's and its member's locks: the claim opens a last round in
which every payer's step is ``voided``; what each indemnity payer last decided is recovered per
line (``recording.record_adjustments`` against nothing: recoveries in the ledger and the
settlement items); the fixed benefits granted through the claim are reversed, unless another live
claim of the member covers the month (then the benefit stays, attached to that claim, and the
notice names the move); none of the claim's payments count against the member's limits any more;
and every payer that was asked for a share is sent a void notice, with a reversal (冲正) of its
decided submission if its adapter reverses. A worker that was advancing the claim finds it voided
at its next move and stops: the payer's answer to a call in flight is not recorded (its step
belongs to an earlier round), and the void notice tells that payer the claim is withdrawn."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adapters.registry import capabilities
from adapters.sdk import VoidNotice, to_wire
from gateway import audit, ledger
from gateway.domain.claims import ClaimStatus
from gateway.domain.products import ProductKind
from gateway.domain.webhooks import WebhookEvent
from gateway.orchestration.moves import current_steps, lock_claim
from gateway.orchestration.outbox import WAITING
from gateway.orchestration.recording import record_adjustments, release_provisional, settling_party
from gateway.orchestration.reversals import queue_reversal
from gateway.orchestration.steps import CLOSED_CLAIM_STATUSES, OPEN_STEPS, StepStatus
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.webhooks import emit
from gateway.storage.tables import (
    AdjustmentRow,
    ClaimRow,
    FixedBenefitRow,
    LinePaymentRow,
    OutboxRow,
    PayerRow,
    PayerStepRow,
    utcnow,
)

CARRIED = [c.name for c in PayerStepRow.__table__.columns if c.name != "step_id"]
Months = list[dict[str, int | str]]


def void(tx: Transaction, claim_id: uuid.UUID, reason: str, actor: str) -> ClaimRow:
    """Withdraw the claim; a claim already voided is left as it is."""
    session = tx.session
    claim = lock_claim(tx, claim_id)
    if claim.status == ClaimStatus.VOIDED.value:
        return claim
    steps = current_steps(session, claim)
    for step in steps:  # a proposal waiting for its payer holds limits: released
        if step.status in OPEN_STEPS:
            release_provisional(session, claim, step)
    # limits given back: no payment of this claim counts for the member's later claims
    session.execute(
        update(LinePaymentRow).where(LinePaymentRow.claim_id == claim.claim_id).values(current=False)
    )
    claim.round += 1
    cause = f"void: {reason}"
    # per step: the lines recovered, the fixed-benefit months recovered and those moved
    recovered: dict[int, tuple[list[AdjustmentRow], Months, Months]] = {}
    for old in steps:
        new = PayerStepRow(**{name: getattr(old, name) for name in CARRIED})
        new.round, new.attempt, new.rerun_of = claim.round, 1, None
        new.idempotency_key = f"{claim.claim_id}:{claim.round}:{old.seq}:void"
        new.status, new.last_error = StepStatus.VOIDED.value, None
        new.created_at = new.updated_at = utcnow()
        new.detail = {"cause": cause, "voids_step": old.step_id}
        session.add(new)
        session.flush()
        if old.kind == ProductKind.FIXED_BENEFIT.value:
            recovered[old.seq] = ([], *_reverse_fixed(session, claim, old))
        else:
            recovered[old.seq] = (record_adjustments(tx, claim, new, notify=False), [], [])
    for old in steps:
        if old.status == StepStatus.WAITING.value:
            continue  # never asked: nothing to tell
        _notify(tx, claim, old, reason, *recovered[old.seq])
        queue_reversal(tx, claim, old, cause)
    now = utcnow()
    claim.status, claim.voided_at, claim.void_reason = ClaimStatus.VOIDED.value, now, reason
    claim.member_responsibility_fen = None
    claim.lease_owner, claim.lease_expires_at, claim.next_attempt_at = None, None, None
    claim.updated_at = now
    audit.record(
        session,
        "claim.voided",
        f"claim:{claim.claim_id}",
        actor=actor,
        reason=reason,
        round=claim.round,
        recovered_fen=sum(a.delta_fen for lines, _, _ in recovered.values() for a in lines),
    )
    emit(session, claim, WebhookEvent.VOIDED)
    return claim


def _reverse_fixed(session: Session, claim: ClaimRow, step: PayerStepRow) -> tuple[Months, Months]:
    """The fixed benefits granted through the claim: moved to another live claim of the member
    that covers the month, or reversed. The months recovered and the months moved (to which
    claim), as the void notice names them: the payer must know the month is still held."""
    recovered: Months = []
    moved: Months = []
    rows = session.scalars(
        select(FixedBenefitRow).where(
            FixedBenefitRow.claim_id == claim.claim_id, FixedBenefitRow.product_code == step.product_code
        )
    ).all()
    for row in rows:
        if row.provisional:  # a proposal's hold
            session.delete(row)
            continue
        ledger.reverse(
            session,
            claim_id=claim.claim_id,
            product_code=row.product_code,
            round_=claim.round,
            month=row.month,
        )
        other = _covering(session, claim, row.month)
        if other is not None:  # the benefit stays, attached to that claim
            row.claim_id = other.claim_id
            ledger.expect(
                session,
                payer_code=settling_party(step),
                claim_id=other.claim_id,
                product_code=row.product_code,
                round_=other.round,
                kind="fixed_benefit",
                amounts=[(ledger.CLAIM_LEVEL, row.amount_fen)],
                month=row.month,
            )
            moved.append(
                {
                    "month": row.month,
                    "amount_fen": row.amount_fen,
                    "payer_code": row.payer_code,
                    "product_code": row.product_code,
                    "to_claim_id": str(other.claim_id),
                    "to_claim_number": other.claim_number,
                }
            )
            continue
        recovered.append({"month": row.month, "amount_fen": row.amount_fen})
        session.delete(row)
    session.flush()
    return recovered, moved


def _covering(session: Session, claim: ClaimRow, month: str) -> ClaimRow | None:
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    last = date(year + number // 12, number % 12 + 1, 1)
    return session.scalars(
        select(ClaimRow)
        .where(
            ClaimRow.member_id == claim.member_id,
            ClaimRow.claim_id != claim.claim_id,
            ClaimRow.status.not_in(CLOSED_CLAIM_STATUSES),
            ClaimRow.period_start < last,
            ClaimRow.period_end >= first,
        )
        .order_by(ClaimRow.created_at)
        .limit(1)
    ).first()


def _notify(
    tx: Transaction,
    claim: ClaimRow,
    step: PayerStepRow,
    reason: str,
    lines: list[AdjustmentRow],
    fixed: Months,
    moved: Months,
) -> None:
    """A void notice to the step's settling party, once (its key names the claim and the step)."""
    session, party = tx.session, settling_party(step)
    payer = session.get(PayerRow, party)
    if payer is None or capabilities(payer.adapter).adjudicates_locally:
        return
    notice = VoidNotice(
        idempotency_key=f"void:{claim.claim_id}:{step.seq}",
        claim_id=str(claim.claim_id),
        claim_number=claim.claim_number,
        payer_code=party,
        product_code=step.product_code,
        reason=reason,
        lines=tuple(
            {
                "line_no": a.line_no,
                "previous_paid_fen": a.previous_paid_fen,
                "paid_fen": a.paid_fen,
                "delta_fen": a.delta_fen,
                "kind": a.kind,
            }
            for a in lines
        ),
        fixed=tuple(fixed),
        fixed_moved=tuple(moved),
    )
    session.add(
        OutboxRow(
            kind="void",
            payer_code=party,
            claim_id=claim.claim_id,
            idempotency_key=notice.idempotency_key,
            payload=to_wire(notice),
            status=WAITING,
            next_attempt_at=utcnow(),
        )
    )
    tx.queued = True
