"""Use cases on payer steps after they were sent: a payer's late or revised decision (callback),
and the bureau's rerun of a failed step."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import schemas
from adapters.sdk import Decision, MalformedAnswer
from gateway import audit
from gateway.domain.catalogue import ServiceCatalogue
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.orchestration.decision_checks import accept_decision
from gateway.orchestration.moves import current_steps, lock_claim, resume
from gateway.orchestration.recording import settling_party
from gateway.orchestration.returns import record_return
from gateway.orchestration.revisions import rerun, revise
from gateway.orchestration.steps import CLOSED_CLAIM_STATUSES, FAILED_STEPS, StepStatus
from gateway.orchestration.transaction import Transaction
from gateway.services.keys import Principal, Role
from gateway.storage.tables import ClaimRow, PayerStepRow

# a returned share may still be decided: the payer takes its return back
ANSWERABLE = (StepStatus.SUBMITTED.value, StepStatus.PENDING.value, StepStatus.RETURNED.value, *FAILED_STEPS)


def receive_decision(
    session: Session, principal: Principal, payer_code: str, document: Any, catalogue: ServiceCatalogue
) -> dict[str, Any]:
    """Record a late decision, or revise a decided one; the same decision again changes nothing.

    A decision that breaks the rules is refused (outcome ``refused`` with ``faults``): nothing is
    recorded as paid, and the refusal and its flag for the bureau are kept."""
    faults = schemas.faults("decision", document)
    if faults:
        raise Invalid(faults)
    if principal.role == Role.PAYER and principal.party_code != payer_code:
        raise Forbidden(f"a key of payer {principal.party_code} cannot decide for payer {payer_code}")
    claim_id = uuid.UUID(document["claim_id"])
    if session.get(ClaimRow, claim_id) is None:
        raise NotFound(f"no claim {claim_id}")
    tx = Transaction(session)  # the fan-out's view of the caller's transaction
    claim = lock_claim(tx, claim_id)
    if claim.status in CLOSED_CLAIM_STATUSES:
        raise Conflict(f"claim {claim_id} is {claim.status}: its decisions are closed")
    step = next(
        (
            s
            for s in current_steps(session, claim)
            if s.product_code == document["product_code"] and settling_party(s) == payer_code
        ),
        None,
    )
    if step is None:
        raise NotFound(f"claim {claim_id} has no share of {document['product_code']} settled by {payer_code}")
    if "round" in document and document["round"] != claim.round:
        raise Conflict(f"the decision answers round {document['round']}; the claim is in round {claim.round}")
    decision = _decision(document)
    audit.record(
        session,
        "decision.received",
        f"claim:{claim_id}",
        actor=f"{principal.role.value}:{principal.party_code}",
        product=step.product_code,
        decision=decision.to_wire(),
    )
    if step.status == StepStatus.WAITING.value:
        raise Conflict(f"the share of {step.product_code} has not been sent to the payer yet")
    if decision.status == "returned":  # 退回: the claim waits for its provider
        if step.status == StepStatus.RETURNED.value:
            return _answer("unchanged", claim, step)
        if step.status not in ANSWERABLE:
            raise Conflict(
                f"the share of {step.product_code} is {step.status}: only an open share is returned"
            )
        record_return(tx, claim, step, decision)
        return _answer("returned", claim, step)
    if step.status in ANSWERABLE:
        if not accept_decision(tx, claim, step, decision, catalogue):
            return {**_answer("refused", claim, step), "faults": [("/lines", step.last_error or "")]}
        resume(claim)  # the later tiers were waiting for this one
        return _answer("recorded", claim, step)
    if _same(step, decision):
        return _answer("unchanged", claim, step)
    cause = document.get("cause") or f"revised decision of {payer_code} on {step.product_code}"
    refused = revise(tx, claim, step, decision, catalogue, cause)
    if refused:
        return {**_answer("refused", claim, step), "faults": [("/lines", fault) for fault in refused]}
    return _answer("revised", claim, step)


def _decision(document: dict[str, Any]) -> Decision:
    """The callback's decision, read by the SDK's parser of the decision wire format (the one a
    payer's answer is read with): the schema has checked the document, so what it still refuses
    (a number written as 1.0) is named for the whole document."""
    try:
        return Decision.from_wire(document)
    except MalformedAnswer as error:
        raise Invalid([("", str(error))]) from None


def _same(step: PayerStepRow, decision: Decision) -> bool:
    """The decision on record, as the payer would send it (payer references aside)."""
    recorded = dict(step.response or {})
    wanted = decision.to_wire()
    recorded.pop("payer_reference", None)
    wanted.pop("payer_reference", None)

    def canonical(wire: dict[str, Any]) -> Any:
        lines = [
            (
                x["line_no"],
                x["paid_fen"],
                sorted((r["code"], r["amount_fen"]) for r in x["reasons"] if r["amount_fen"]),
            )
            for x in wire.get("lines", [])
        ]
        return sorted(lines), sorted((f["month"], f["amount_fen"]) for f in wire.get("fixed", []))

    return canonical(recorded) == canonical(wanted)


def _answer(outcome: str, claim: ClaimRow, step: PayerStepRow) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "claim_id": str(claim.claim_id),
        "round": claim.round,
        "product_code": step.product_code,
        "claim_status": claim.status,
    }


def rerun_step(session: Session, step_id: int) -> dict[str, Any]:
    new = rerun(Transaction(session), step_id)
    return {
        "step_id": new.step_id,
        "rerun_of": new.rerun_of,
        "claim_id": str(new.claim_id),
        "round": new.round,
        "seq": new.seq,
        "status": new.status,
        "idempotency_key": new.idempotency_key,
    }


def failed_steps(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Dead and refused steps of current rounds, oldest first: what the bureau may rerun."""
    rows = session.execute(
        select(PayerStepRow, ClaimRow.claim_number)
        .join(ClaimRow, ClaimRow.claim_id == PayerStepRow.claim_id)
        .where(PayerStepRow.status.in_(FAILED_STEPS), PayerStepRow.round == ClaimRow.round)
        .order_by(PayerStepRow.updated_at)
        .limit(limit)
    )
    return [
        {
            "step_id": step.step_id,
            "claim_id": str(step.claim_id),
            "claim_number": number,
            "payer_code": settling_party(step),
            "product_code": step.product_code,
            "status": step.status,
            "attempts": step.attempts,
            "error": step.last_error,
        }
        for step, number in rows
    ]
