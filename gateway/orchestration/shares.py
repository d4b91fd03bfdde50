"""What a payer is asked: the share request for one step, built from storage and the product rules.

The gateway always computes the share the product's published rules give (``coordinate_payer``):
for ``adjudication: gateway`` it is sent as the proposal the payer acknowledges; for ``payer``
the payer decides alone and the computation only supplies visit findings and the standalone
amount on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from adapters.registry import capabilities
from adapters.sdk import ShareLine, ShareRequest
from gateway.coordination import CaseFacts, FixedBenefitDecision, PayerShare, coordinate_payer, fixed_benefits
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claims import ClaimLine
from gateway.domain.coverage import Coverage
from gateway.domain.products import Adjudication, ProductKind
from gateway.orchestration.claim_facts import (
    case_facts,
    claim_identity,
    claim_parties,
    granted_months,
    limit_usage,
    step_coverage,
)
from gateway.orchestration.transaction import Transaction, unflushed
from gateway.storage.claim_lines import wire_line
from gateway.storage.tables import (
    ClaimRow,
    LinePaymentRow,
    PayerStepRow,
)


@dataclass(frozen=True)
class Computed:
    """The gateway's own adjudication of a step with the product's rules."""

    coverage: Coverage
    case: CaseFacts
    share: PayerShare | None  # indemnity
    fixed: list[FixedBenefitDecision] | None  # fixed benefit
    prior: dict[int, int]  # line_no → paid by earlier payers in this round
    usage: dict[str, int]
    prior_payers: tuple[dict[str, object], ...] = ()  # what each earlier payer paid, in payer order
    granted: frozenset[str] = frozenset()  # fixed benefit: months other claims already received


def compute(tx: Transaction, claim: ClaimRow, step: PayerStepRow, catalogue: ServiceCatalogue) -> Computed:
    """The step's share by the product's rules, on the earlier payers' payments as stored."""
    session = tx.session
    coverage = step_coverage(tx, step)
    case = case_facts(tx, claim, catalogue)
    prior, payers = _earlier_payments(session, claim, step.seq)
    if coverage.product.kind == ProductKind.FIXED_BENEFIT:
        granted = granted_months(session, claim, step.product_code)
        decisions = fixed_benefits(coverage, case, granted)
        return Computed(coverage, case, None, decisions, prior, {}, payers, granted)
    usage = limit_usage(session, claim, step.product_code, case.lines)
    share, _ = coordinate_payer(coverage, case, prior, usage)
    return Computed(coverage, case, share, None, prior, usage, payers)


def remember_asked(tx: Transaction, claim: ClaimRow, step: PayerStepRow, computed: Computed) -> None:
    """The indemnity share a step's request was just built from, kept by the worker (its
    transaction stores the request; a rolled-back one leaves the step waiting, to be built again)."""
    if tx.kept is not None and computed.share is not None:
        tx.kept.asked.setdefault(claim.claim_id, {})[step.step_id] = (claim.round, computed)


def asked(tx: Transaction, claim: ClaimRow, step: PayerStepRow, catalogue: ServiceCatalogue) -> Computed:
    """The share as the step's request asked it: kept since the request was built by this worker
    (an indemnity step: its prior payments, repeats and limit usage as sent, with the provisional
    holds of a proposal in place meanwhile), else computed again from storage. A fixed-benefit step
    is always computed again: the months other claims hold are read at the moment of recording."""
    kept = tx.kept.asked.get(claim.claim_id, {}).get(step.step_id) if tx.kept is not None else None
    if kept is not None and kept[0] == claim.round:
        return kept[1]
    return compute(tx, claim, step, catalogue)


# line payments: written by INSERT (``recording.record_share``)
_EARLIER_PAYMENTS = unflushed(
    select(
        LinePaymentRow.payer_code,
        LinePaymentRow.product_code,
        LinePaymentRow.line_no,
        func.min(LinePaymentRow.seq),
        func.sum(LinePaymentRow.paid_fen),
    )
    .where(
        LinePaymentRow.claim_id == bindparam("claim_id"),
        LinePaymentRow.round == bindparam("round"),
        LinePaymentRow.seq < bindparam("before_seq"),
    )
    .group_by(LinePaymentRow.payer_code, LinePaymentRow.product_code, LinePaymentRow.line_no)
)


def _earlier_payments(
    session: Session, claim: ClaimRow, before_seq: int
) -> tuple[dict[int, int], tuple[dict[str, object], ...]]:
    """Per line, what the payers before ``before_seq`` paid in the claim's current round, and
    each such payer's total: one query for both."""
    rows = session.execute(
        _EARLIER_PAYMENTS, {"claim_id": claim.claim_id, "round": claim.round, "before_seq": before_seq}
    ).all()
    by_line: dict[int, int] = {}
    by_payer: dict[tuple[str, str], list[int]] = {}  # (payer, product) → [first seq, paid]
    for payer_code, product_code, line_no, seq, paid in rows:
        by_line[line_no] = by_line.get(line_no, 0) + int(paid or 0)
        total = by_payer.setdefault((payer_code, product_code), [seq, 0])
        total[0], total[1] = min(total[0], seq), total[1] + int(paid or 0)
    payers = tuple(
        {"payer_code": payer, "product_code": product, "paid_fen": paid}
        for (payer, product), (_, paid) in sorted(by_payer.items(), key=lambda item: item[1][0])
    )
    return by_line, payers


def unpaid(computed: Computed, line: ClaimLine) -> int:
    """The most this payer may pay on the line: billed less what earlier payers paid and less the
    units an earlier claim already claimed (DUPLICATE_SERVICE: no payer pays those)."""
    repeat = computed.case.repeats.get(line.line_no)
    repeated = repeat.units * line.unit_price_fen if repeat is not None else 0
    return max(0, line.billed_fen - repeated - computed.prior.get(line.line_no, 0))


def proposes(step: PayerStepRow, adapter: dict[str, Any] | None) -> bool:
    """The gateway adjudicates for payers in gateway mode and for those with no integration."""
    return capabilities(adapter).adjudicates_locally or step.adjudication == Adjudication.GATEWAY.value


def share_request(
    tx: Transaction, claim: ClaimRow, step: PayerStepRow, computed: Computed, proposing: bool
) -> ShareRequest:
    assessment, provider, member = claim_parties(tx, claim)
    cited = claim_identity(tx, claim)  # where the member lived as the cited assessment says
    shares = {line.line_no: line for line in computed.share.lines} if computed.share else {}
    lines = []
    for line in computed.case.lines:
        prior = computed.prior.get(line.line_no, 0)
        proposal = shares.get(line.line_no) if proposing else None
        repeat = computed.case.repeats.get(line.line_no)
        lines.append(
            ShareLine(
                **wire_line(line),
                prior_paid_fen=prior,
                remaining_fen=unpaid(computed, line),
                proposed_paid_fen=proposal.paid_fen if proposal else None,
                proposed_reasons=tuple(
                    {"code": reason.value, "amount_fen": amount} for reason, amount in proposal.reasons
                )
                if proposal
                else (),
                repeated_units=repeat.units if repeat else 0,
                repeated_days=tuple(d.isoformat() for d in repeat.days) if repeat else (),
            )
        )
    proposed_fixed = (
        tuple({"month": d.month, "amount_fen": d.amount_fen} for d in computed.fixed if d.amount_fen > 0)
        if proposing and computed.fixed is not None
        else ()
    )
    return ShareRequest(
        idempotency_key=step.idempotency_key,
        claim_id=str(claim.claim_id),
        claim_number=claim.claim_number,
        round=claim.round,
        seq=step.seq,
        payer_code=step.payer_code,
        product_code=step.product_code,
        product_version=step.product_version,
        adjudication="gateway" if proposing else "payer",
        kind="fixed_benefit" if step.kind == ProductKind.FIXED_BENEFIT.value else "indemnity",
        provider={
            "provider_code": provider.provider_code,
            "district": provider.district,
            "designated": provider.designated,
            "designated_from": provider.designated_from.isoformat() if provider.designated_from else None,
            "designated_to": provider.designated_to.isoformat() if provider.designated_to else None,
        },
        member={
            "id_number": member.id_number,
            "name": cited.name,
            "district": cited.district,
            "lat": cited.lat,
            "lon": cited.lon,
        },
        coverage={
            "start_date": step.coverage_start.isoformat(),
            "end_date": step.coverage_end.isoformat() if step.coverage_end else None,
        },
        assessment={
            "assessment_id": str(assessment.assessment_id),
            "grade": assessment.grade,
            "concluded_on": assessment.concluded_on.isoformat(),
            "disabled_since": assessment.disabled_since.isoformat(),
            "effective_from": assessment.effective_from.isoformat(),
        },
        period={"start": claim.period_start.isoformat(), "end": claim.period_end.isoformat()},
        lines=tuple(lines),
        prior_payers=computed.prior_payers,
        proposed_fixed=proposed_fixed,
        limit_usage=dict(computed.usage),
    )
