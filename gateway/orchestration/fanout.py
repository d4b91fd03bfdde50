"""The fan-out of one claim as a state machine over its payer steps, one transaction per move.

Steps are planned when the claim is accepted, in payer order. Each move holds the member's row
lock, so two claims of the same member never consume the same period limit twice:

* ``next_call``: the first open step of the current round. A waiting step gets its request built
  and **stored before it is sent** (a gateway proposal also reserves its limits); a submitted
  step — after a retry or a crash — is sent again with that same stored request and key.
* ``apply_outcome``: the payer's answer. A decision is checked and recorded, or refused; a
  pending answer parks the claim until the callback (or the next poll); a transient failure
  backs off; a permanent one dead-letters the step. Dead or refused steps fail the claim until
  a rerun or a corrected decision: a claim never skips a tier silently.

The worker makes both moves of consecutive steps in one transaction (``apply_and_continue``):
the answer to one step is recorded and the next step's request stored under the same lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session, object_session

from adapters.sdk import Decision, PermanentError, to_wire
from gateway import audit
from gateway.coordination import FixedBenefitDecision, LineShare, PayerShare, Reason
from gateway.coordination.checks import AskedLine, DecidedLine, decision_faults, fixed_benefit_faults
from gateway.coordination.fixed import due_months
from gateway.domain.beijing_time import beijing_date
from gateway.domain.claims import ClaimStatus, Period, period_problems
from gateway.domain.coverage import Coverage, payer_order
from gateway.domain.products import Kind
from gateway.domain.services import ServiceCatalogue
from gateway.orchestration.facts import CITED_VERSION, cited_versions, hold_parties, memo, prior_payments
from gateway.orchestration.outbox import send_assessment
from gateway.orchestration.recording import (
    flag,
    record_adjustments,
    record_fixed_benefits,
    record_share,
    release_provisional,
    settling_party,
)
from gateway.orchestration.shares import Computed, compute, proposes, share_request, unpaid
from gateway.reference.registry import holdings
from gateway.reference.routing import NoRoute, administrator_in, district_routes, member_district
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


class StepStatus(StrEnum):
    WAITING = "waiting"  # planned, nothing sent yet
    SUBMITTED = "submitted"  # request stored; sent, or about to be (resent unchanged after a crash)
    PENDING = "pending"  # the payer will decide later (callback, or polled)
    DECIDED = "decided"  # the payer's share is recorded
    REFUSED = "refused"  # the payer's decision broke a rule and was not recorded
    DEAD = "dead"  # a permanent fault, or too many attempts: waits for a rerun
    REPLACED = "replaced"  # superseded by a rerun


OPEN_STEPS = (StepStatus.WAITING.value, StepStatus.SUBMITTED.value, StepStatus.PENDING.value)
FAILED_STEPS = (StepStatus.DEAD.value, StepStatus.REFUSED.value)


@dataclass(frozen=True)
class RetryPolicy:
    attempts_per_lease: int = 4
    initial_seconds: float = 0.5
    max_seconds: float = 8.0
    lease_retry_seconds: float = 30.0
    max_attempts: int = 20
    pending_poll_seconds: float = 300.0

    def backoff(self, attempts: int) -> timedelta:
        """The wait before the next lease tries again, after ``attempts`` calls in all: the first
        wait is ``lease_retry_seconds``, doubling with each further lease's worth of calls (a lease
        makes up to ``attempts_per_lease`` in place), capped at an hour."""
        leases = max(1, -(-attempts // max(1, self.attempts_per_lease)))
        return timedelta(seconds=min(3600.0, self.lease_retry_seconds * 2 ** min(leases - 1, 12)))


@dataclass(frozen=True)
class Call:
    """One payer call the worker makes outside any transaction."""

    claim_id: uuid.UUID
    step_id: int
    operation: str  # submit | fetch
    party: str  # the payer that settles the step: its administrator, if routed
    adapter: dict[str, Any] | None
    request: dict[str, Any]
    idempotency_key: str
    attempts: int = 0  # calls made to the payer for this step so far


@dataclass(frozen=True)
class Stop:
    status: str  # the claim's status when the worker leaves it


@dataclass
class Outcome:
    decision: Decision | None = None
    error: Exception | None = None
    calls: int = 0
    notes: list[str] = field(default_factory=list)


def step_key(claim_id: uuid.UUID, round_: int, seq: int, attempt: int = 1) -> str:
    key = f"{claim_id}:{round_}:{seq}"
    return key if attempt == 1 else f"{key}:rerun{attempt - 1}"


# --- planning --------------------------------------------------------------------------------


def plan_steps(session: Session, claims: Sequence[ClaimRow]) -> int:
    """A step for every product each claim's member holds during the claim period, in payer
    order; how many. Claims are planned on every accept, so the reference data is read once for
    all of them and the steps are written as one batch."""
    held = holdings(session, {claim.member_id for claim in claims})
    tier_one = {h.product.payer_code for hs in held.values() for h in hs if h.product.tier == 1}
    routes = district_routes(session, tier_one)
    # routed by where the member lived as the assessment each claim cites recorded it
    cited = cited_versions(session, {claim.assessment_id for claim in claims})
    now = utcnow()
    steps: list[dict[str, Any]] = []
    for claim in claims:
        coverages: list[tuple[Coverage, int]] = []
        for holding in held[claim.member_id]:
            coverage = Coverage(holding.product, holding.start_date, holding.end_date)
            if coverage.overlaps(claim.period_start, claim.period_end):
                coverages.append((coverage, holding.version))
        versions = {id(c): v for c, v in coverages}
        district = member_district(
            session.get_one(MemberRow, claim.member_id),
            session.get_one(ProviderRow, claim.provider_code),
            cited.get(claim.assessment_id),
        )
        for seq, coverage in enumerate(payer_order(c for c, _ in coverages), start=1):
            product = coverage.product
            step: dict[str, Any] = {
                "claim_id": claim.claim_id,
                "round": claim.round,
                "seq": seq,
                "attempt": 1,
                "tier": product.tier,
                "payer_code": product.payer_code,
                "administrator_code": None,
                "product_code": product.product_code,
                "product_version": versions[id(coverage)],
                "kind": product.kind.value,
                "adjudication": product.adjudication.value,
                "coverage_start": coverage.start_date,
                "coverage_end": coverage.end_date,
                "status": StepStatus.WAITING.value,
                "attempts": 0,
                "idempotency_key": step_key(claim.claim_id, claim.round, seq),
                "last_error": None,
                "created_at": now,
                "updated_at": now,
            }
            if product.tier == 1:
                try:
                    step["administrator_code"] = administrator_in(
                        routes[product.payer_code], product.payer_code, district
                    )
                except NoRoute as error:
                    step["status"], step["last_error"] = StepStatus.DEAD.value, str(error)
            steps.append(step)
    if steps:
        session.execute(insert(PayerStepRow), steps)
    return len(steps)


# --- moves -----------------------------------------------------------------------------------


# Statements a move runs every time are built once, with bound parameters: building one and
# working out its cache key cost more CPU than running it.

# The claim and its member, locked (PostgreSQL waits for a move that holds them and then reads
# their committed state), with the claim's assessment and provider: one statement.
_LOCK_CLAIM = (
    select(ClaimRow, AssessmentRow, ProviderRow, MemberRow, MemberVersionRow)
    .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
    .join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
    .join(ProviderRow, ProviderRow.provider_code == ClaimRow.provider_code)
    .outerjoin(MemberVersionRow, CITED_VERSION)
    .where(ClaimRow.claim_id == bindparam("claim_id"))
    .with_for_update(of=[MemberRow, ClaimRow])
    .execution_options(populate_existing=True)
)

_CURRENT_STEPS = (
    select(PayerStepRow)
    .where(
        PayerStepRow.claim_id == bindparam("claim_id"),
        PayerStepRow.round == bindparam("round"),
        PayerStepRow.status != StepStatus.REPLACED.value,
    )
    .order_by(PayerStepRow.seq)
)

_STEPS_AND_PAYERS = _CURRENT_STEPS.add_columns(PayerRow).outerjoin(
    PayerRow, PayerRow.payer_code == func.coalesce(PayerStepRow.administrator_code, PayerStepRow.payer_code)
)


def lock_claim(session: Session, claim_id: uuid.UUID) -> ClaimRow:
    """The claim, with its member's row lock held to the end of the transaction (and the claim's;
    its assessment, provider and member are held for ``facts.claim_parties``)."""
    claim, assessment, provider, member, cited = session.execute(_LOCK_CLAIM, {"claim_id": claim_id}).one()
    hold_parties(session, claim, assessment, provider, member, cited)
    return claim


def current_steps(session: Session, claim: ClaimRow) -> list[PayerStepRow]:
    """The live step of each seq in the claim's current round (reruns replace their original)."""
    return list(session.scalars(_CURRENT_STEPS, {"claim_id": claim.claim_id, "round": claim.round}))


def _steps_and_payers(session: Session, claim: ClaimRow) -> list[PayerStepRow]:
    """``current_steps``, with the payers that settle them in the same query: held for the
    transaction, so a move finds them in the identity map instead of reading each again."""
    rows = session.execute(_STEPS_AND_PAYERS, {"claim_id": claim.claim_id, "round": claim.round}).all()
    memo(session)[("payers", claim.claim_id)] = [payer for _, payer in rows]
    return [step for step, _ in rows]


def next_call(
    session: Session,
    claim_id: uuid.UUID,
    catalogue: ServiceCatalogue,
    lease: timedelta,
    policy: RetryPolicy | None = None,
) -> Call | Stop:
    claim = lock_claim(session, claim_id)
    return _next_call(session, claim, catalogue, lease, _steps_and_payers(session, claim), policy)


def _next_call(
    session: Session,
    claim: ClaimRow,
    catalogue: ServiceCatalogue,
    lease: timedelta,
    steps: list[PayerStepRow] | None = None,
    policy: RetryPolicy | None = None,
) -> Call | Stop:
    if claim.status in (ClaimStatus.COORDINATED.value, ClaimStatus.FAILED.value):
        return Stop(claim.status)
    steps = current_steps(session, claim) if steps is None else steps
    step = next((s for s in steps if s.status != StepStatus.DECIDED.value), None)
    if step is None:
        finish(session, claim)
        return Stop(claim.status)
    if step.status in FAILED_STEPS:
        return fail(claim)
    now = utcnow()
    claim.status = ClaimStatus.COORDINATING.value
    claim.lease_expires_at, claim.updated_at = now + lease, now
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
        computed = compute(session, claim, step, catalogue)
        proposing = proposes(step, adapter)
        step.request = to_wire(share_request(session, claim, step, computed, proposing))
        if proposing and computed.share is not None:
            record_share(session, claim, step, computed.share, computed.case.lines, provisional=True)
        if proposing and computed.fixed is not None:
            record_fixed_benefits(session, claim, step, computed.fixed, provisional=True)
        step.status, step.updated_at = StepStatus.SUBMITTED.value, now
        send_assessment(session, session.get_one(AssessmentRow, claim.assessment_id), party)
    assert step.request is not None
    attempts, step.attempts = step.attempts, step.attempts + 1  # counted durably before it is sent
    return Call(
        claim_id=claim.claim_id,
        step_id=step.step_id,
        operation="fetch" if step.status == StepStatus.PENDING.value else "submit",
        party=party,
        adapter=adapter,
        request=step.request,
        idempotency_key=step.idempotency_key,
        attempts=attempts,
    )


_LAST_PLACE = (
    select(func.max(ClaimRow.coordination_seq))
    .where(ClaimRow.member_id == bindparam("member_id"))
    .execution_options(autoflush=False)  # a move places one claim; the others were placed before
)


def place(session: Session, claim: ClaimRow) -> None:
    """The claim's place in its member's coordination order, given at its first step under the
    member's row lock: the claims placed before it are the ones its repeated services are
    found against (domain.md section 4)."""
    if claim.coordination_seq is None:
        last = session.scalar(_LAST_PLACE, {"member_id": claim.member_id})
        claim.coordination_seq = (last or 0) + 1


def apply_outcome(
    session: Session, call: Call, outcome: Outcome, catalogue: ServiceCatalogue, policy: RetryPolicy
) -> Stop | None:
    """Record what the payer answered; a Stop when the worker should leave the claim for now."""
    return _apply_outcome(session, lock_claim(session, call.claim_id), call, outcome, catalogue, policy)


def apply_and_continue(
    session: Session,
    call: Call,
    outcome: Outcome,
    catalogue: ServiceCatalogue,
    policy: RetryPolicy,
    lease: timedelta,
) -> Call | Stop:
    """``apply_outcome`` and then ``next_call``, in one transaction under one member lock: one
    transaction a payer step instead of two; the next request is still stored before it is sent."""
    claim = lock_claim(session, call.claim_id)
    steps = _steps_and_payers(session, claim)  # read once: recording an answer adds no step
    stop = _apply_outcome(session, claim, call, outcome, catalogue, policy, steps)
    return stop if stop is not None else _next_call(session, claim, catalogue, lease, steps, policy)


def _apply_outcome(
    session: Session,
    claim: ClaimRow,
    call: Call,
    outcome: Outcome,
    catalogue: ServiceCatalogue,
    policy: RetryPolicy,
    steps: Sequence[PayerStepRow] = (),
) -> Stop | None:
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
        if outcome.decision.status == "pending":
            step.status = StepStatus.PENDING.value
            audit.record(session, "decision.pending", f"claim:{claim.claim_id}", step=step.step_id)
            return park(claim, utcnow() + timedelta(seconds=policy.pending_poll_seconds))
        if accept_decision(session, claim, step, outcome.decision, catalogue):
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


def move_failed(session: Session, claim_id: uuid.UUID, owner: str, error: str, policy: RetryPolicy) -> None:
    """A move of the claim raised (not a database fault: a body the database refuses, a bug). It
    counts as an attempt of the claim's open step, so a claim no move can advance ends in a dead
    letter rather than a loop."""
    claim = lock_claim(session, claim_id)
    if claim.lease_owner != owner or claim.status not in (ClaimStatus.RECEIVED, ClaimStatus.COORDINATING):
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


def accept_decision(
    session: Session, claim: ClaimRow, step: PayerStepRow, decision: Decision, catalogue: ServiceCatalogue
) -> bool:
    """Check a decided answer against the share as asked; record it, or refuse it and flag it."""
    computed = compute(session, claim, step, catalogue)
    faults = _problems(claim, step, computed, decision)
    now = utcnow()
    step.response = decision.to_wire()
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
    if step.kind == Kind.FIXED_BENEFIT.value:
        record_fixed_benefits(session, claim, step, _granted(step, computed, decision))
    else:
        assert computed.share is not None
        decided = _decided_share(computed.share, decision)
        record_share(session, claim, step, decided, computed.case.lines)
        if claim.round > 1:  # a re-coordination: what changed against the payer's last decision
            record_adjustments(session, claim, step, notify=not (step.detail or {}).get("revised"))
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
    session: Session, claim: ClaimRow, step: PayerStepRow, decision: Decision, catalogue: ServiceCatalogue
) -> list[str]:
    """Why a decided answer for this step would be refused; empty if it would be recorded."""
    return _problems(claim, step, compute(session, claim, step, catalogue), decision)


def _problems(claim: ClaimRow, step: PayerStepRow, computed: Computed, decision: Decision) -> list[str]:
    if step.kind == Kind.FIXED_BENEFIT.value:
        fixed = computed.coverage.product.fixed_benefit
        assert fixed is not None
        months = [m for m, _ in due_months(claim.period_start, claim.period_end, computed.case.accepted_on)]
        return fixed_benefit_faults(months, computed.granted, decision.fixed, fixed.monthly_fen)
    return decision_faults(
        [AskedLine(line.line_no, line.billed_fen, unpaid(computed, line)) for line in computed.case.lines],
        [DecidedLine(d.line_no, d.paid_fen, d.reasons) for d in decision.lines],
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
    assert product.fixed_benefit is not None
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


def resume(claim: ClaimRow) -> None:
    """Make the claim due for the workers now."""
    claim.status = ClaimStatus.COORDINATING.value
    claim.next_attempt_at = utcnow()
    claim.lease_owner, claim.lease_expires_at, claim.coordinated_at = None, None, None
    claim.updated_at = utcnow()
