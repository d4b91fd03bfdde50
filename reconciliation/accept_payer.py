"""Accepting the payer's figure: a reconciler takes the settled amount of a payer's share as
its decision, and the claim is re-coordinated from that share on (a revision through the fan-out).
The one place the work queue drives the fan-out."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.sdk import Decision, LineDecision
from gateway.domain.catalogue import ServiceCatalogue
from gateway.errors import Conflict, Invalid
from gateway.orchestration.moves import current_steps, lock_claim
from gateway.orchestration.recording import settling_party
from gateway.orchestration.revisions import revise
from gateway.orchestration.steps import StepStatus
from gateway.orchestration.transaction import Transaction
from gateway.storage.tables import ClaimRow, LinePaymentRow, MismatchRow
from reconciliation.matching import MismatchKind


def check_accept_payer(row: MismatchRow) -> None:
    if row.kind not in (MismatchKind.AMOUNT_MISMATCH, MismatchKind.STALE_COORDINATION) or row.line_no == 0:
        raise Conflict(f"accept_payer applies to a payer's figure on a claim line, not to {row.kind}")


def accept_payer(session: Session, row: MismatchRow, catalogue: ServiceCatalogue, note: str) -> None:
    """Take the payer's settled figure as its decision and re-coordinate the later tiers."""
    check_accept_payer(row)
    claim = session.get(ClaimRow, row.claim_id)
    if claim is None:
        raise Conflict("the claim is not known to the gateway")
    tx = Transaction(session)  # the fan-out's view of the caller's transaction
    claim = lock_claim(tx, row.claim_id)
    step = next(
        (
            s
            for s in current_steps(session, claim)
            if settling_party(s) == row.payer_code
            and s.status == StepStatus.DECIDED.value
            and s.kind == "indemnity"
        ),
        None,
    )
    if step is None:
        raise Conflict(f"no decided share of {row.payer_code} on this claim to revise")
    payments = {
        p.line_no: p
        for p in session.scalars(
            select(LinePaymentRow).where(
                LinePaymentRow.claim_id == claim.claim_id,
                LinePaymentRow.round == claim.round,
                LinePaymentRow.seq == step.seq,
                LinePaymentRow.provisional.is_(False),
            )
        )
    }
    lines = []
    for line_no, payment in sorted(payments.items()):
        paid = row.settled_fen if line_no == row.line_no else payment.paid_fen
        reasons = _reasons_for(payment, paid)
        lines.append(LineDecision(line_no, paid, reasons))
    decision = Decision("decided", f"reconciliation:{row.id}", tuple(lines))
    faults = revise(
        tx, claim, step, decision, catalogue, f"reconciliation accepted the payer's figure: {note}"
    )
    if faults:
        raise Invalid([("/action", f"the payer's figure cannot be accepted: {'; '.join(faults)}")])


def _reasons_for(payment: LinePaymentRow, paid: int) -> tuple[tuple[str, int], ...]:
    """The line's reasons, moved to explain ``paid`` instead: our rule is that a lower figure adds
    to the reason that already explains most, and a higher one takes from the last reasons first."""
    reasons = [[code, amount] for code, amount in payment.reasons]
    change = payment.paid_fen - paid  # more unpaid (+) or less (−)
    if change > 0:
        if reasons:
            max(reasons, key=lambda r: r[1])[1] += change
        else:
            reasons.append(["COINSURANCE", change])
    else:
        give = -change
        for reason in reversed(reasons):
            taken = min(give, reason[1])
            reason[1] -= taken
            give -= taken
    return tuple((str(c), int(a)) for c, a in reasons if a)
