"""Reversals (冲正): when a revision or a void supersedes a decided submission to a payer whose
adapter reverses explicitly (``adapters.sdk.Reverses``, the 医保 ``hsa`` profile), the gateway asks
that payer to reverse the original submission instead of sending it an adjustment notice.

A reversal goes through the outbox like every notice: written in the transaction that undoes the
submission, delivered by the workers with retries and dead-lettered after the configured
attempts. Its key is derived from the key of the submission it undoes, so there is one reversal
per submission however often the undoing move is retried, and every retry of its delivery
carries the same key (the payer answers a repeat as the first)."""

from __future__ import annotations

from sqlalchemy import select

from adapters.registry import reverses
from adapters.sdk import ReversalNotice, to_wire
from gateway import audit
from gateway.orchestration.outbox import WAITING
from gateway.orchestration.recording import settling_party
from gateway.orchestration.steps import StepStatus
from gateway.orchestration.transaction import Transaction
from gateway.storage.tables import ClaimRow, OutboxRow, PayerRow, PayerStepRow, utcnow

KIND = "reversal"


def reversal_key(step_key: str) -> str:
    return f"reversal:{step_key}"


def reversing(tx: Transaction, party: str) -> bool:
    """Whether the party's adapter reverses undone submissions."""
    memo = tx.memo.setdefault("reverses", {})
    if party not in memo:
        payer = tx.session.get(PayerRow, party)
        memo[party] = payer is not None and reverses(payer.adapter)
    return bool(memo[party])


def queue_reversal(tx: Transaction, claim: ClaimRow, step: PayerStepRow, cause: str) -> str | None:
    """Queue the reversal of a decided step's submission if its settling party reverses; the
    reversal's key, or None (not decided, or a payer that learns by adjustment notices)."""
    party = settling_party(step)
    if step.status != StepStatus.DECIDED.value or not reversing(tx, party):
        return None
    session = tx.session
    key = reversal_key(step.idempotency_key)
    if session.scalar(select(OutboxRow.id).where(OutboxRow.idempotency_key == key)) is not None:
        return key  # queued by an earlier try of the same move
    notice = ReversalNotice(
        idempotency_key=key,
        claim_id=str(claim.claim_id),
        payer_code=party,
        product_code=step.product_code,
        reverses_key=step.idempotency_key,
        payer_reference=step.payer_reference,
        cause=cause,
    )
    session.add(
        OutboxRow(
            kind=KIND,
            payer_code=party,
            claim_id=claim.claim_id,
            idempotency_key=key,
            payload=to_wire(notice),
            status=WAITING,
            next_attempt_at=utcnow(),
        )
    )
    tx.queued = True
    audit.record(
        session,
        "reversal.queued",
        f"claim:{claim.claim_id}",
        payer=party,
        product=step.product_code,
        reverses=step.idempotency_key,
        cause=cause,
    )
    return key
