"""The moves of one claim's fan-out, a state machine over its payer steps: one transaction per move.

Steps are planned when the claim is accepted, in payer order (``planning``; the step model is in
``steps``). Each move holds the member's row lock, so two claims of the same member never
consume the same period limit twice:

* ``next_call``: the first open step of the current round. A waiting step gets its request built
  and **stored before it is sent** (a gateway proposal also reserves its limits); a submitted
  step — after a retry or a crash — is sent again with that same stored request and key.
* ``apply_outcome``: the payer's answer. A decision is checked and recorded, or refused
  (``decision_checks``); a pending answer parks the claim until the callback (or the next
  poll); a transient failure backs off; a permanent one dead-letters the step. Dead or refused
  steps fail the claim until a rerun or a corrected decision: a claim never skips a tier
  silently.

The worker makes both moves of consecutive steps in one transaction (``apply_and_continue``):
the answer to one step is recorded and the next step's request stored under the same lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, object_session

from adapters.sdk import PermanentError, to_wire
from gateway import audit
from gateway.domain.beijing_time import beijing_date
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claims import ClaimStatus, Period, period_problems
from gateway.domain.webhooks import WebhookEvent
from gateway.orchestration.claim_facts import CITED_VERSION, hold_parties, prior_payments
from gateway.orchestration.decision_checks import accept_decision
from gateway.orchestration.outbox import send_assessment
from gateway.orchestration.recording import (
    flag,
    record_fixed_benefits,
    record_share,
    release_provisional,
    settling_party,
)
from gateway.orchestration.returns import record_return
from gateway.orchestration.shares import compute, proposes, remember_asked, share_request
from gateway.orchestration.steps import (
    ACTIVE_CLAIM_STATUSES,
    FAILED_STEPS,
    OPEN_STEPS,
    InconsistentStep,
    Outcome,
    PayerCall,
    RetryPolicy,
    StepStatus,
    Stop,
)
from gateway.orchestration.transaction import Transaction, unflushed
from gateway.orchestration.webhooks import emit
from gateway.storage.tables import (
    AssessmentRow,
    ClaimRow,
    MemberRow,
    MemberVersionRow,
    PayerRow,
    PayerStepRow,
    ProviderRow,
    utcnow,
)

# Statements a move runs every time are built once, with bound parameters: building one and
# working out its cache key cost more CPU than running it.

# The claim and its member, locked (PostgreSQL waits for a move that holds them and then reads
# their committed state), with the claim's assessment and provider: one statement.
_CLAIMS_AND_PARTIES = (
    select(ClaimRow, AssessmentRow, ProviderRow, MemberRow, MemberVersionRow)
    .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
    .join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
    .join(ProviderRow, ProviderRow.provider_code == ClaimRow.provider_code)
    .outerjoin(MemberVersionRow, CITED_VERSION)
    .with_for_update(of=[MemberRow, ClaimRow])
    .execution_options(populate_existing=True)
)
_LOCK_CLAIM = _CLAIMS_AND_PARTIES.where(ClaimRow.claim_id == bindparam("claim_id"))
# a group's claims, locked in member order (PostgreSQL locks rows as its sort returns them), so
# two groups never wait on each other in a cycle
_LOCK_CLAIMS = _CLAIMS_AND_PARTIES.where(
    ClaimRow.claim_id.in_(bindparam("claim_ids", expanding=True))
).order_by(MemberRow.member_id, ClaimRow.claim_id)

_CURRENT_STEPS = (
    select(PayerStepRow)
    .where(
        PayerStepRow.claim_id == bindparam("claim_id"),
        PayerStepRow.round == bindparam("round"),
        PayerStepRow.status != StepStatus.REPLACED.value,
    )
    .order_by(PayerStepRow.seq)
)

_SETTLED_BY = PayerRow.payer_code == func.coalesce(PayerStepRow.administrator_code, PayerStepRow.payer_code)
_STEPS_AND_PAYERS = _CURRENT_STEPS.add_columns(PayerRow).outerjoin(PayerRow, _SETTLED_BY)
_GROUP_STEPS_AND_PAYERS = (
    select(PayerStepRow, PayerRow)
    .outerjoin(PayerRow, _SETTLED_BY)
    .where(
        PayerStepRow.claim_id.in_(bindparam("claim_ids", expanding=True)),
        PayerStepRow.status != StepStatus.REPLACED.value,
    )
    .order_by(PayerStepRow.claim_id, PayerStepRow.seq)
)


def lock_claim(tx: Transaction, claim_id: uuid.UUID) -> ClaimRow:
    """The claim, with its member's row lock held to the end of the transaction (and the claim's;
    its assessment, provider and member are held for ``claim_facts.claim_parties``)."""
    locked: ClaimRow | None = tx.memo.pop(("locked", claim_id), None)  # read with its group
    if locked is not None:
        return locked
    claim, assessment, provider, member, cited = tx.session.execute(_LOCK_CLAIM, {"claim_id": claim_id}).one()
    hold_parties(tx, claim, assessment, provider, member, cited)
    return claim


def lock_group(txs: Mapping[uuid.UUID, Transaction]) -> list[uuid.UUID]:
    """The claims of a group of moves (each with its own ``Transaction`` over one session)
    locked with their members, in member order, and read with their parties in one statement,
    and their current steps and payers in another: each move's ``lock_claim`` and first read of
    its steps then run no query. Another claim's move in the group changes neither a claim's row
    nor its steps. The claims found, in the order they were locked."""
    session = next(iter(txs.values())).session
    ids = list(txs)
    locked_in_order = []
    for claim, assessment, provider, member, cited in session.execute(_LOCK_CLAIMS, {"claim_ids": ids}):
        tx = txs[claim.claim_id]
        hold_parties(tx, claim, assessment, provider, member, cited)
        tx.memo[("locked", claim.claim_id)] = claim
        locked_in_order.append(claim.claim_id)
    steps: dict[uuid.UUID, list[tuple[PayerStepRow, PayerRow | None]]] = {claim_id: [] for claim_id in ids}
    for step, payer in session.execute(_GROUP_STEPS_AND_PAYERS, {"claim_ids": ids}):
        steps[step.claim_id].append((step, payer))
    for claim_id, rows in steps.items():
        locked = txs[claim_id].memo.get(("locked", claim_id))
        if locked is not None:  # the claim's current round only, as _STEPS_AND_PAYERS reads it
            txs[claim_id].memo[("steps", claim_id)] = [(s, p) for s, p in rows if s.round == locked.round]
    return locked_in_order


def current_steps(session: Session, claim: ClaimRow) -> list[PayerStepRow]:
    """The live step of each seq in the claim's current round (reruns replace their original)."""
    return list(session.scalars(_CURRENT_STEPS, {"claim_id": claim.claim_id, "round": claim.round}))


def _steps_and_payers(tx: Transaction, claim: ClaimRow) -> list[PayerStepRow]:
    """``current_steps``, with the payers that settle them in the same query: held for the
    transaction, so a move finds them in the identity map instead of reading each again."""
    rows = tx.memo.pop(("steps", claim.claim_id), None)  # read with its group
    if rows is None:
        rows = tx.session.execute(_STEPS_AND_PAYERS, {"claim_id": claim.claim_id, "round": claim.round}).all()
    tx.memo[("payers", claim.claim_id)] = [payer for _, payer in rows]
    return [step for step, _ in rows]


def next_call(
    tx: Transaction,
    claim_id: uuid.UUID,
    catalogue: ServiceCatalogue,
    lease: timedelta,
    policy: RetryPolicy | None = None,
) -> PayerCall | Stop:
    claim = lock_claim(tx, claim_id)
    return _next_call(tx, claim, catalogue, lease, _steps_and_payers(tx, claim), policy)


def _next_call(
    tx: Transaction,
    claim: ClaimRow,
    catalogue: ServiceCatalogue,
    lease: timedelta,
    steps: list[PayerStepRow] | None = None,
    policy: RetryPolicy | None = None,
) -> PayerCall | Stop:
    if claim.status not in ACTIVE_CLAIM_STATUSES:  # coordinated, failed, or withdrawn meanwhile
        return Stop(claim.status)
    session = tx.session
    steps = current_steps(session, claim) if steps is None else steps
    step = next((s for s in steps if s.status != StepStatus.DECIDED.value), None)
    if step is None:
        finish(session, claim)
        return Stop(claim.status)
    if step.status in FAILED_STEPS:
        return fail(claim)
    now = utcnow()
    claim.status = ClaimStatus.COORDINATING.value
    # the lease runs on; so does the time the claim is next due if its worker is gone (``due_claims``)
    claim.lease_expires_at = claim.next_attempt_at = now + lease
    claim.updated_at = now
    party = settling_party(step)
    payer = session.get(PayerRow, party)
    adapter = payer.adapter if payer else None
    if step.status == StepStatus.WAITING.value and (faults := _unbounded(claim)):
        # accepted before periods were bounded: its work would be unbounded too
        return dead_letter(session, claim, step, f"the claim period is out of bounds: {faults}")
    max_attempts = (policy or RetryPolicy()).max_attempts
    if step.status == StepStatus.SUBMITTED.value and step.attempts >= max_attempts:
        # every call so far was counted before it was sent: these were lost to crashes
        return dead_letter(session, claim, step, f"gave up after {step.attempts} attempts, lost in flight")
    if step.status == StepStatus.WAITING.value:
        place(session, claim)
        computed = compute(tx, claim, step, catalogue)
        remember_asked(tx, claim, step, computed)
        proposing = proposes(step, adapter)
        step.request = to_wire(share_request(tx, claim, step, computed, proposing))
        if proposing and computed.share is not None:
            record_share(session, claim, step, computed.share, computed.case.lines, provisional=True)
        if proposing and computed.fixed is not None:
            record_fixed_benefits(session, claim, step, computed.fixed, provisional=True)
        step.status, step.updated_at = StepStatus.SUBMITTED.value, now
        send_assessment(tx, session.get_one(AssessmentRow, claim.assessment_id), party, claim.claim_id)
    if step.request is None:
        raise InconsistentStep(f"step {step.step_id} is {step.status} but has no stored request")
    attempts, step.attempts = step.attempts, step.attempts + 1  # counted durably before it is sent
    return PayerCall(
        claim_id=claim.claim_id,
        step_id=step.step_id,
        operation="fetch" if step.status == StepStatus.PENDING.value else "submit",
        party=party,
        adapter=adapter,
        request=step.request,
        idempotency_key=step.idempotency_key,
        attempts=attempts,
    )


# a move places one claim; the others were placed by earlier transactions
_LAST_PLACE = unflushed(
    select(func.max(ClaimRow.coordination_seq)).where(ClaimRow.member_id == bindparam("member_id"))
)


def place(session: Session, claim: ClaimRow) -> None:
    """The claim's place in its member's coordination order, given at its first step under the
    member's row lock: the claims placed before it are the ones its repeated services are
    found against (domain.md section 4)."""
    if claim.coordination_seq is None:
        last = session.scalar(_LAST_PLACE, {"member_id": claim.member_id})
        claim.coordination_seq = (last or 0) + 1


def apply_outcome(
    tx: Transaction, call: PayerCall, outcome: Outcome, catalogue: ServiceCatalogue, policy: RetryPolicy
) -> Stop | None:
    """Record what the payer answered; a Stop when the worker should leave the claim for now."""
    return _apply_outcome(tx, lock_claim(tx, call.claim_id), call, outcome, catalogue, policy)


def apply_and_continue(
    tx: Transaction,
    call: PayerCall,
    outcome: Outcome,
    catalogue: ServiceCatalogue,
    policy: RetryPolicy,
    lease: timedelta,
) -> PayerCall | Stop:
    """``apply_outcome`` and then ``next_call``, in one transaction under one member lock: one
    transaction a payer step instead of two; the next request is still stored before it is sent."""
    claim = lock_claim(tx, call.claim_id)
    steps = _steps_and_payers(tx, claim)  # read once: recording an answer adds no step
    stop = _apply_outcome(tx, claim, call, outcome, catalogue, policy, steps)
    return stop if stop is not None else _next_call(tx, claim, catalogue, lease, steps, policy)


def _apply_outcome(
    tx: Transaction,
    claim: ClaimRow,
    call: PayerCall,
    outcome: Outcome,
    catalogue: ServiceCatalogue,
    policy: RetryPolicy,
    steps: Sequence[PayerStepRow] = (),
) -> Stop | None:
    session = tx.session
    step = next((s for s in steps if s.step_id == call.step_id), None) or session.get_one(
        PayerStepRow, call.step_id
    )
    step.attempts += max(0, outcome.calls - 1)  # the first call was counted when it was made
    step.updated_at = utcnow()
    if step.round != claim.round or step.status not in (StepStatus.SUBMITTED.value, StepStatus.PENDING.value):
        return None  # a callback, a revision or another worker got there first: look again
    if outcome.decision is not None:
        step.response = outcome.decision.to_wire()
        step.payer_reference = outcome.decision.payer_reference or step.payer_reference
        if outcome.decision.status == "returned":
            return record_return(tx, claim, step, outcome.decision)
        if outcome.decision.status == "pending":
            step.status = StepStatus.PENDING.value
            audit.record(session, "decision.pending", f"claim:{claim.claim_id}", step=step.step_id)
            return park(claim, utcnow() + timedelta(seconds=policy.pending_poll_seconds))
        if accept_decision(tx, claim, step, outcome.decision, catalogue):
            return None
        return fail(claim)
    error = outcome.error
    step.last_error = f"{type(error).__name__}: {error}"
    if call.operation == "fetch":  # still pending, or the payer cannot be asked: wait for the callback
        return park(claim, utcnow() + timedelta(seconds=policy.pending_poll_seconds))
    if isinstance(error, PermanentError):
        return dead_letter(session, claim, step, step.last_error)
    if step.attempts >= policy.max_attempts:
        gave_up = f"gave up after {step.attempts} attempts; last: {step.last_error}"
        return dead_letter(session, claim, step, gave_up)
    return park(claim, utcnow() + policy.backoff(step.attempts))


def move_failed(tx: Transaction, claim_id: uuid.UUID, owner: str, error: str, policy: RetryPolicy) -> None:
    """A move of the claim raised (not a database fault: a body the database refuses, a bug). It
    counts as an attempt of the claim's open step, so a claim no move can advance ends in a dead
    letter rather than a loop."""
    session = tx.session
    claim = lock_claim(tx, claim_id)
    if claim.lease_owner != owner or claim.status not in ACTIVE_CLAIM_STATUSES:
        return  # another worker has it, or it is final
    step = next((s for s in current_steps(session, claim) if s.status in OPEN_STEPS), None)
    if step is None:
        park(claim, utcnow() + policy.backoff(1))
        return
    step.attempts, step.last_error, step.updated_at = step.attempts + 1, error, utcnow()
    if step.attempts >= policy.max_attempts:
        dead_letter(session, claim, step, f"gave up after {step.attempts} attempts; last: {error}")
    else:
        park(claim, utcnow() + policy.backoff(step.attempts))


def dead_letter(session: Session, claim: ClaimRow, step: PayerStepRow, error: str) -> Stop:
    """The step waits for a rerun, flagged to the bureau; the claim fails."""
    step.status, step.last_error, step.updated_at = StepStatus.DEAD.value, error, utcnow()
    release_provisional(session, claim, step)
    flag(session, claim, "step_dead", error, step)
    audit.record(session, "step.dead", f"claim:{claim.claim_id}", step=step.step_id, error=error)
    return fail(claim)


def _unbounded(claim: ClaimRow) -> str:
    """What is wrong with a stored claim's period (claims are checked when they are accepted)."""
    period = Period(start=claim.period_start, end=claim.period_end)
    faults = period_problems(period, beijing_date(claim.created_at))
    return "; ".join(f"{pointer} {text}" for pointer, text in faults)


def park(claim: ClaimRow, until: datetime) -> Stop:
    claim.next_attempt_at = until
    claim.lease_owner, claim.lease_expires_at = None, None
    return Stop(claim.status)


def fail(claim: ClaimRow) -> Stop:
    """The claim waits for the bureau (rerun) or the payer (corrected decision)."""
    before = claim.status
    claim.status = ClaimStatus.FAILED.value
    session = object_session(claim)
    if session is not None and before != claim.status:
        audit.record(session, "claim.failed", f"claim:{claim.claim_id}", before=before)
        emit(session, claim, WebhookEvent.FAILED)
    claim.updated_at = utcnow()
    claim.lease_owner, claim.lease_expires_at, claim.next_attempt_at = None, None, None
    return Stop(claim.status)


def finish(session: Session, claim: ClaimRow) -> None:
    paid = prior_payments(session, claim, before_seq=1 << 30)
    claim.member_responsibility_fen = claim.billed_fen - sum(paid.values())
    audit.record(
        session,
        "claim.coordinated",
        f"claim:{claim.claim_id}",
        round=claim.round,
        member_responsibility_fen=claim.member_responsibility_fen,
    )
    claim.status = ClaimStatus.COORDINATED.value
    claim.coordinated_at = claim.updated_at = utcnow()
    claim.lease_owner, claim.lease_expires_at, claim.next_attempt_at = None, None, None
    emit(session, claim, WebhookEvent.COORDINATED)


def resume(claim: ClaimRow) -> None:
    """Make the claim due for the workers now."""
    claim.status = ClaimStatus.COORDINATING.value
    claim.next_attempt_at = utcnow()
    claim.lease_owner, claim.lease_expires_at, claim.coordinated_at = None, None, None
    claim.updated_at = utcnow()
