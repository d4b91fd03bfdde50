"""A provider replaces a claim with a corrected version (同月过误更正, docs/corrections.md).

The claim keeps its id, number and place in the member's coordination order; the corrected
lines, period and assessment replace the old ones, and the old version is kept on the claim
(``versions``), readable. Like a revision, the claim opens a new round, here with every payer
asked again (steps planned afresh for the corrected period): the old round's payments stop
counting against the member's limits, so the new version alone consumes them, and each payer's
new decision is recorded against what it last decided as adjustments (``record_adjustments``):
only the differences, per payer and line, reach the ledger. A payer whose adapter reverses is
sent a reversal of its decided submission (``reversals``) instead of an adjustment notice."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update

from gateway import audit, ledger
from gateway.domain.claims import ClaimLine, ClaimStatus, Period
from gateway.errors import Conflict
from gateway.orchestration.moves import current_steps, lock_claim, resume
from gateway.orchestration.planning import plan_steps
from gateway.orchestration.recording import release_provisional, settling_party
from gateway.orchestration.reversals import queue_reversal
from gateway.orchestration.steps import CLOSED_CLAIM_STATUSES, OPEN_STEPS
from gateway.orchestration.transaction import Transaction
from gateway.storage.claim_lines import billed_line, claim_line, line_values
from gateway.storage.tables import (
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    LinePaymentRow,
    utcnow,
)


def replace(
    tx: Transaction,
    claim_id: uuid.UUID,
    period: Period,
    lines: Sequence[ClaimLine],
    assessment_id: uuid.UUID,
    digest: str,
    actor: str,
) -> ClaimRow:
    """The corrected version in place of the claim's, re-coordinated from a new round."""
    session = tx.session
    claim = lock_claim(tx, claim_id)
    if claim.status in CLOSED_CLAIM_STATUSES:
        raise Conflict(f"claim {claim_id} is {claim.status}: it is not replaced")
    if claim.request_digest == digest and claim.status != ClaimStatus.RETURNED.value:
        return claim  # this very version again (a returned claim may be sent again as it was)
    old_steps = current_steps(session, claim)
    for step in old_steps:
        if step.status in OPEN_STEPS:  # a proposal's hold on the limits
            release_provisional(session, claim, step)
    old_lines = session.scalars(
        select(ClaimLineRow).where(ClaimLineRow.claim_id == claim.claim_id).order_by(ClaimLineRow.line_no)
    ).all()
    now = utcnow()
    claim.versions = [
        *(claim.versions or []),
        {
            "round": claim.round,
            "period": {"start": claim.period_start.isoformat(), "end": claim.period_end.isoformat()},
            "billed_fen": claim.billed_fen,
            "lines": [billed_line(claim_line(row)) for row in old_lines],
            "replaced_at": now.isoformat(),
        },
    ]
    # the new version alone consumes the member's limits
    session.execute(
        update(LinePaymentRow).where(LinePaymentRow.claim_id == claim.claim_id).values(current=False)
    )
    # fixed benefits are decided again in the new round: the old grants reversed, their months freed
    for row in session.scalars(select(FixedBenefitRow).where(FixedBenefitRow.claim_id == claim.claim_id)):
        if not row.provisional:
            ledger.reverse(
                session,
                claim_id=claim.claim_id,
                product_code=row.product_code,
                round_=claim.round + 1,
                month=row.month,
            )
        session.delete(row)
    session.execute(delete(ClaimLineRow).where(ClaimLineRow.claim_id == claim.claim_id))
    session.flush()
    session.execute(insert(ClaimLineRow), [line_values(claim.claim_id, line) for line in lines])
    claim.period_start, claim.period_end = period.start, period.end
    claim.billed_fen = sum(line.billed_fen for line in lines)
    claim.assessment_id, claim.request_digest = assessment_id, digest
    claim.member_responsibility_fen = None
    claim.round += 1
    cause = "replaced by a corrected version"
    plan_steps(session, [claim])
    session.flush()
    reversed_products: dict[tuple[str, str], str] = {}
    for old in old_steps:
        key = queue_reversal(tx, claim, old, cause)
        if key is not None:
            reversed_products[(old.product_code, settling_party(old))] = key
    for new in current_steps(session, claim):
        reversal = reversed_products.get((new.product_code, settling_party(new)))
        new.detail = {"cause": cause, **({"reversal": reversal} if reversal else {})}
    resume(claim)
    audit.record(
        session,
        "claim.replaced",
        f"claim:{claim.claim_id}",
        actor=actor,
        round=claim.round,
        billed_fen=claim.billed_fen,
        previous_billed_fen=claim.versions[-1]["billed_fen"],
    )
    return claim
