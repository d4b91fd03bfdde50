"""Gathering what the pure coordination core needs from storage (the I/O edge of coordination).

What a transaction reads more than once is held in its ``Transaction.memo``; what never changes
once written, a worker keeps across its transactions (``transaction.Kept``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from gateway.coordination import CaseFacts, ClaimedLine, Repeat, VisitRecord, repeats
from gateway.domain.assessments import AssessmentFacts
from gateway.domain.beijing_time import beijing_date
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.claims import ClaimLine, VisitEvidence
from gateway.domain.coverage import Coverage
from gateway.orchestration.transaction import Transaction, unflushed
from gateway.reference.registry import designation, product_version
from gateway.reference.routing import Placed
from gateway.storage.claim_lines import claim_line
from gateway.storage.tables import (
    AssessmentRow,
    ClaimLineRow,
    ClaimRow,
    FixedBenefitRow,
    LinePaymentRow,
    MemberRow,
    MemberVersionRow,
    PayerStepRow,
    ProviderRow,
)


def hold_parties(
    tx: Transaction,
    claim: ClaimRow,
    assessment: AssessmentRow,
    provider: ProviderRow,
    member: MemberRow,
    cited: MemberVersionRow | None = None,
) -> None:
    """The claim's parties as read with its lock (``moves.lock_claim``), for this transaction;
    ``cited``: the member's identity as the claim's assessment recorded it."""
    tx.memo[("parties", claim.claim_id)] = (assessment, provider, member)
    tx.memo[("identity", claim.claim_id)] = cited or member


# The version of the member's identity an assessment recorded (an outer join: rows written
# outside the API cite none, and then the member's latest stands in).
CITED_VERSION = (MemberVersionRow.member_id == AssessmentRow.member_id) & (
    MemberVersionRow.version == AssessmentRow.member_version
)

_PARTIES = (
    select(AssessmentRow, ProviderRow, MemberRow, MemberVersionRow)
    .select_from(ClaimRow)
    .join(AssessmentRow, AssessmentRow.assessment_id == ClaimRow.assessment_id)
    .join(ProviderRow, ProviderRow.provider_code == ClaimRow.provider_code)
    .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
    .outerjoin(MemberVersionRow, CITED_VERSION)
    .where(ClaimRow.claim_id == bindparam("claim_id"))
)


def claim_parties(tx: Transaction, claim: ClaimRow) -> tuple[AssessmentRow, ProviderRow, MemberRow]:
    """The claim's assessment, provider and member, in one query (none if the lock read them)."""
    key = ("parties", claim.claim_id)
    found = tx.memo.get(key)
    if found is None:
        assessment, provider, member, cited = tx.session.execute(_PARTIES, {"claim_id": claim.claim_id}).one()
        hold_parties(tx, claim, assessment, provider, member, cited)
        found = tx.memo[key]
    return found


def claim_identity(tx: Transaction, claim: ClaimRow) -> MemberVersionRow | MemberRow:
    """The member's name and address as the assessment the claim cites recorded them: the claim
    is routed, and its visits checked, by these, whatever a later assessment recorded."""
    key = ("identity", claim.claim_id)
    if key not in tx.memo:
        claim_parties(tx, claim)
    found: MemberVersionRow | MemberRow = tx.memo[key]
    return found


def cited_districts(session: Session, assessment_ids: set[uuid.UUID]) -> dict[uuid.UUID, Placed]:
    """For each assessment that cites a version of the member's identity, that version's district
    (a row with ``district``; one query, and never the version's sealed columns)."""
    if not assessment_ids:
        return {}
    rows = session.execute(
        select(AssessmentRow.assessment_id, MemberVersionRow.district)
        .join(MemberVersionRow, CITED_VERSION)
        .where(AssessmentRow.assessment_id.in_(assessment_ids))
    )
    return {row.assessment_id: row for row in rows}


def case_facts(tx: Transaction, claim: ClaimRow, catalogue: ServiceCatalogue) -> CaseFacts:
    key = ("case", claim.claim_id, id(catalogue))
    found = tx.memo.get(key)
    if found is None:
        found = tx.memo[key] = _case_facts(tx, claim, catalogue)
    return found


# written once, when the claim was accepted
_LINES = unflushed(
    select(ClaimLineRow).where(ClaimLineRow.claim_id == bindparam("claim_id")).order_by(ClaimLineRow.line_no)
)


def claim_lines(tx: Transaction, claim: ClaimRow) -> tuple[ClaimLine, ...]:
    held = tx.kept.claim_lines if tx.kept is not None else None
    found = held.get(claim.claim_id) if held is not None else None
    if found is not None and found[0] == claim.round:  # a replacement opens a round with new lines
        return found[1]
    lines = tuple(claim_line(r) for r in tx.session.scalars(_LINES, {"claim_id": claim.claim_id}))
    if held is not None:
        held[claim.claim_id] = (claim.round, lines)
    return lines


def _case_facts(tx: Transaction, claim: ClaimRow, catalogue: ServiceCatalogue) -> CaseFacts:
    lines = claim_lines(tx, claim)
    assessment, provider, _ = claim_parties(tx, claim)
    member = claim_identity(tx, claim)
    position = (member.lat, member.lon) if member.lat is not None and member.lon is not None else None
    return CaseFacts(
        lines=lines,
        period_start=claim.period_start,
        period_end=claim.period_end,
        assessment=AssessmentFacts(assessment.grade, assessment.concluded_on, assessment.disabled_since),
        designation=designation(provider),
        member_position=position,
        other_visits=tuple(_other_visits(tx.session, claim.claim_id, lines)),
        catalogue=catalogue,
        repeats=repeated_units(tx, claim, lines),
        accepted_on=beijing_date(claim.created_at),
    )


# A claim whose lines no longer count against later claims (domain.md section 4): a voided claim,
# a replaced version (its replacement is compared with the other claims instead).
NOT_COUNTED = ("voided", "replaced")
_LAST_PLACE = 1 << 62  # a claim not placed yet comes after every claim placed

# The member's earlier claims' lines (in coordination order) that share a day with this claim's
# lines, or whose visit falls in the time of this claim's visits (written when they were accepted).
_CLAIMED = unflushed(
    select(ClaimLineRow)
    .join(ClaimRow, ClaimRow.claim_id == ClaimLineRow.claim_id)
    .where(
        ClaimRow.member_id == bindparam("member_id"),
        ClaimRow.coordination_seq < bindparam("place"),
        ClaimRow.status.not_in(NOT_COUNTED),
        or_(
            and_(
                ClaimLineRow.service_date <= bindparam("last"),
                func.coalesce(ClaimLineRow.service_end_date, ClaimLineRow.service_date) >= bindparam("first"),
            ),
            and_(
                ClaimLineRow.check_in < bindparam("visits_to"),
                ClaimLineRow.check_out > bindparam("visits_from"),
            ),
        ),
    )
    .order_by(ClaimRow.coordination_seq, ClaimLineRow.line_no)
)


def repeated_units(tx: Transaction, claim: ClaimRow, lines: tuple[ClaimLine, ...]) -> dict[int, Repeat]:
    """By line, the units that repeat what the member's earlier claims already claimed."""
    held = tx.kept.repeats if tx.kept is not None else None
    kept = held.get(claim.claim_id) if held is not None and claim.coordination_seq is not None else None
    if kept is not None and kept[0] == claim.round:
        return kept[1]
    found = _repeated_units(tx.session, claim, lines)
    if held is not None and claim.coordination_seq is not None:
        held[claim.claim_id] = (claim.round, found)
    return found


def _repeated_units(session: Session, claim: ClaimRow, lines: tuple[ClaimLine, ...]) -> dict[int, Repeat]:
    if not lines:
        return {}
    place = claim.coordination_seq if claim.coordination_seq is not None else _LAST_PLACE
    visits = [line.visit for line in lines if line.visit is not None]
    rows = session.scalars(
        _CLAIMED,
        {
            "member_id": claim.member_id,
            "place": place,
            "first": min(line.service_date for line in lines),
            "last": max(line.last_date for line in lines),
            # a day either side: a prefilter (times may be stored with other offsets); repeats() is exact
            "visits_from": min(v.check_in for v in visits) - timedelta(days=1) if visits else None,
            "visits_to": max(v.check_out for v in visits) + timedelta(days=1) if visits else None,
        },
    )
    return repeats(lines, (ClaimedLine(claim_line(row), str(row.claim_id)) for row in rows))


def _other_visits(session: Session, claim_id: uuid.UUID, lines: Iterable[ClaimLine]) -> Iterable[VisitRecord]:
    visits = [line.visit for line in lines if line.visit is not None]
    if not visits:
        return []
    caregivers = sorted({v.caregiver_id for v in visits})
    earliest = min(v.check_in for v in visits) - timedelta(days=1)
    latest = max(v.check_out for v in visits) + timedelta(days=1)
    rows = session.scalars(
        select(ClaimLineRow).where(
            ClaimLineRow.caregiver_id.in_(caregivers),
            ClaimLineRow.claim_id != claim_id,
            ClaimLineRow.check_in >= earliest,
            ClaimLineRow.check_in <= latest,
        )
    )
    records = []
    for row in rows:
        visit = VisitEvidence.model_validate(row.visit)
        records.append(VisitRecord.of(visit, f"claim {row.claim_id} line {row.line_no}"))
    return records


def step_coverage(tx: Transaction, step: PayerStepRow) -> Coverage:
    products = tx.kept.products if tx.kept is not None else tx.memo
    key = ("product", step.product_code, step.product_version)
    product = products.get(key)
    if product is None:
        product = products[key] = product_version(tx.session, step.product_code, step.product_version)
    return Coverage(product, step.coverage_start, step.coverage_end)


# What other claims paid or were granted, and this claim's own payments (written by INSERT,
# ``recording.record_share``): read unflushed (``transaction``).
_USAGE = unflushed(
    select(LinePaymentRow.period_month, LinePaymentRow.period_year, func.sum(LinePaymentRow.paid_fen))
    .where(
        LinePaymentRow.member_id == bindparam("member_id"),
        LinePaymentRow.product_code == bindparam("product_code"),
        LinePaymentRow.current.is_(True),
        LinePaymentRow.claim_id != bindparam("claim_id"),
        or_(
            LinePaymentRow.period_month.in_(bindparam("months", expanding=True)),
            LinePaymentRow.period_year.in_(bindparam("years", expanding=True)),
        ),
    )
    .group_by(LinePaymentRow.period_month, LinePaymentRow.period_year)
)

_GRANTED_MONTHS = unflushed(
    select(FixedBenefitRow.month).where(
        FixedBenefitRow.member_id == bindparam("member_id"),
        FixedBenefitRow.product_code == bindparam("product_code"),
        FixedBenefitRow.claim_id != bindparam("claim_id"),
    )
)

_PRIOR_PAYMENTS = unflushed(
    select(LinePaymentRow.line_no, func.sum(LinePaymentRow.paid_fen))
    .where(
        LinePaymentRow.claim_id == bindparam("claim_id"),
        LinePaymentRow.round == bindparam("round"),
        LinePaymentRow.seq < bindparam("before_seq"),
    )
    .group_by(LinePaymentRow.line_no)
)


def limit_usage(
    session: Session, claim: ClaimRow, product_code: str, lines: Iterable[ClaimLine]
) -> dict[str, int]:
    """What this product already paid the member in the claim's months and years, on other claims."""
    lines = list(lines)
    months = sorted({line.month for line in lines})
    years = sorted({line.service_date.year for line in lines})
    by_month: dict[str, int] = {}
    by_year: dict[int, int] = {}
    # one query for both limits: paid per month of the claim's years, summed up here
    for month, year, paid in session.execute(
        _USAGE,
        {
            "member_id": claim.member_id,
            "product_code": product_code,
            "claim_id": claim.claim_id,
            "months": months,
            "years": years,
        },
    ):
        if month in months:
            by_month[month] = by_month.get(month, 0) + int(paid or 0)
        if year in years:
            by_year[year] = by_year.get(year, 0) + int(paid or 0)
    return {
        **{f"month:{month}": paid for month, paid in sorted(by_month.items())},
        **{f"year:{year}": paid for year, paid in sorted(by_year.items())},
    }


def granted_months(session: Session, claim: ClaimRow, product_code: str) -> frozenset[str]:
    """Months of a fixed benefit the member already received through other claims."""
    return frozenset(
        session.scalars(
            _GRANTED_MONTHS,
            {"member_id": claim.member_id, "product_code": product_code, "claim_id": claim.claim_id},
        )
    )


def prior_payments(session: Session, claim: ClaimRow, before_seq: int) -> dict[int, int]:
    """Per line, what the indemnity payers before ``before_seq`` paid in the claim's current round."""
    rows = session.execute(
        _PRIOR_PAYMENTS, {"claim_id": claim.claim_id, "round": claim.round, "before_seq": before_seq}
    )
    return {line_no: int(paid or 0) for line_no, paid in rows}
