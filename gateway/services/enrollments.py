"""Enrolment of members in a payer's products (tier 1 by the bureau, tiers 2-3 by their payer)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.coverage import EnrollmentBatch
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Fault
from gateway.errors import Forbidden, Invalid, NotFound
from gateway.parsing import parse
from gateway.services.keys import Principal, Role
from gateway.services.members import ensure_member
from gateway.storage.tables import EnrollmentRow, PayerRow, ProductRow, utcnow


def enrol(session: Session, principal: Principal, payer_code: str, document: Any) -> list[dict[str, Any]]:
    if session.get(PayerRow, payer_code) is None:
        raise NotFound(f"payer {payer_code} is not registered")
    if principal.role == Role.PAYER and principal.party_code != payer_code:
        raise Forbidden(f"a key of payer {principal.party_code} cannot enrol members of payer {payer_code}")
    batch = parse("enrollments", EnrollmentBatch, document)
    products = {
        row.product_code: row
        for row in session.scalars(select(ProductRow).where(ProductRow.payer_code == payer_code))
    }
    faults: list[Fault] = []
    for i, item in enumerate(batch.enrollments):
        at = f"/enrollments/{i}"
        problem = id_number_problem(item.id_number)
        if problem:
            faults.append((f"{at}/id_number", problem))
        product = products.get(item.product_code)
        if product is None:
            faults.append((f"{at}/product_code", f"payer {payer_code} has no product {item.product_code}"))
        elif product.tier == 1 and principal.role != Role.BUREAU:
            faults.append((f"{at}/product_code", "tier-1 enrolment comes from the bureau"))
        if item.end_date is not None and item.end_date < item.start_date:
            faults.append((f"{at}/end_date", "must not be before start_date"))
    if faults:
        raise Invalid(faults)
    results = []
    for item in batch.enrollments:
        member = ensure_member(session, item.id_number)
        row = session.scalar(
            select(EnrollmentRow)
            .where(
                EnrollmentRow.member_id == member.member_id,
                EnrollmentRow.product_code == item.product_code,
                EnrollmentRow.start_date == item.start_date,
            )
            .with_for_update()
        )
        facts = {
            "payer_code": payer_code,
            "product_code": item.product_code,
            "start_date": item.start_date,
            "end_date": item.end_date,
        }
        before = None if row is None else {**facts, "end_date": row.end_date}
        if row is None:
            session.add(
                EnrollmentRow(
                    member_id=member.member_id,
                    payer_code=payer_code,
                    product_code=item.product_code,
                    start_date=item.start_date,
                    end_date=item.end_date,
                )
            )
            outcome = "created"
        elif row.end_date != item.end_date:
            row.end_date, row.updated_at = item.end_date, utcnow()
            outcome = "updated"
        else:
            outcome = "unchanged"
        if outcome != "unchanged":  # the member by id: the ID number stays out of the trail
            audit.record(
                session,
                f"enrollment.{outcome}",
                f"member:{member.member_id}",
                audit.actor_of(principal),
                before=before,
                after=facts,
            )
        results.append(
            {
                "product_code": item.product_code,
                "start_date": item.start_date.isoformat(),
                "end_date": item.end_date.isoformat() if item.end_date else None,
                "outcome": outcome,
            }
        )
    session.flush()
    return results
