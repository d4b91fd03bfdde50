"""A payer returns a claim unadjudicated (退回/返戻): a missing document, the wrong member, … It is
not a decision to pay less: nothing is recorded as paid, the later tiers wait, and the claim
shows ``returned`` with the payer's reason until its provider puts it right and resubmits. A
returned claim is never skipped silently: the workers do not lease it, and it is flagged."""

from __future__ import annotations

from adapters.sdk import Decision
from gateway import audit
from gateway.domain.claims import ClaimStatus
from gateway.domain.webhooks import WebhookEvent
from gateway.orchestration.recording import flag, release_provisional, settling_party
from gateway.orchestration.steps import StepStatus, Stop
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.webhooks import emit
from gateway.storage.tables import ClaimRow, PayerStepRow, utcnow


def record_return(tx: Transaction, claim: ClaimRow, step: PayerStepRow, decision: Decision) -> Stop:
    """The step returned with its reason; the claim waits for its provider."""
    session, now = tx.session, utcnow()
    reason = decision.return_reason or "returned without a reason"
    step.status, step.response, step.updated_at = StepStatus.RETURNED.value, decision.to_wire(), now
    step.payer_reference = decision.payer_reference or step.payer_reference
    step.last_error = None
    step.detail = {**(step.detail or {}), "return_reason": reason}
    release_provisional(session, claim, step)  # a proposal's hold on the limits
    flag(session, claim, "returned", reason, step)
    claim.status, claim.updated_at = ClaimStatus.RETURNED.value, now
    claim.lease_owner, claim.lease_expires_at, claim.next_attempt_at = None, None, None
    audit.record(
        session,
        "claim.returned",
        f"claim:{claim.claim_id}",
        step=step.step_id,
        payer=settling_party(step),
        product=step.product_code,
        reason=reason,
    )
    emit(session, claim, WebhookEvent.RETURNED)  # the provider must put it right
    return Stop(claim.status)
