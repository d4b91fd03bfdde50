"""One coverage query answers for every tier at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.coverage import Coverage, payer_order
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Value
from gateway.errors import Invalid
from gateway.parsing import parse
from gateway.reference.registry import current_product
from gateway.services.assessments import assessment_view
from gateway.services.members import find_member
from gateway.storage.tables import AssessmentRow, EnrollmentRow


class CoverageQuery(Value):
    id_number: str
    on: date


def coverage_status(coverage: Coverage, on: date) -> str:
    if on < coverage.start_date:
        return "not_started"
    if coverage.end_date is not None and on > coverage.end_date:
        return "ended"
    if on < coverage.waiting_ends:
        return "waiting"
    return "active"


def query_coverage(session: Session, document: Any) -> dict[str, Any]:
    query = parse("coverage-query", CoverageQuery, document)
    problem = id_number_problem(query.id_number)
    if problem:
        raise Invalid([("/id_number", problem)])
    member = find_member(session, query.id_number)
    tiers: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
    latest = None
    if member is not None:
        coverages = []
        for row in session.scalars(select(EnrollmentRow).where(EnrollmentRow.member_id == member.member_id)):
            product, _ = current_product(session, row.product_code)
            coverages.append(Coverage(product, row.start_date, row.end_date))
        for coverage in payer_order(coverages):
            p = coverage.product
            tiers[p.tier].append(
                {
                    "payer_code": p.payer_code,
                    "product_code": p.product_code,
                    "product_name": p.name,
                    "kind": p.kind.value,
                    "start_date": coverage.start_date.isoformat(),
                    "end_date": coverage.end_date.isoformat() if coverage.end_date else None,
                    "waiting_ends": coverage.waiting_ends.isoformat(),
                    "min_grade": p.eligibility.min_grade,
                    "status": coverage_status(coverage, query.on),
                }
            )
        latest = session.scalar(
            select(AssessmentRow)
            .where(
                AssessmentRow.member_id == member.member_id,
                AssessmentRow.concluded_on <= query.on,
            )
            .order_by(AssessmentRow.concluded_on.desc(), AssessmentRow.created_at.desc())
            .limit(1)
        )
    assessment = None
    if latest is not None:
        assessment = assessment_view(latest) | {
            "effective": latest.effective_from <= query.on <= latest.valid_until
        }
    return {
        "on": query.on.isoformat(),
        "known": member is not None,
        "tiers": [{"tier": tier, "coverages": items} for tier, items in tiers.items()],
        "assessment": assessment,
    }
