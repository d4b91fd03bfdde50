"""Assessment agencies (评估机构): the bureau designates them, and only they submit assessments
(domain.md sections 1 and 2). A provider grading its own residents is a conflict of interest; a
city may allow it (``LTC_PROVIDERS_MAY_ASSESS``), and then only for members no other provider
has claimed for.

An agency's API keys have role ``provider`` and the agency code as their party (``ltc-gateway
keys create --role provider --party EVA…``): the key says who calls, the designation here says
what that party may do, as a provider's registration does for claims."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.model import Fault, Value
from gateway.errors import Forbidden, Invalid
from gateway.parsing import parse
from gateway.services.keys import Principal, Role
from gateway.storage.tables import AssessmentAgencyRow, ClaimRow, ProviderRow, utcnow


class AgencyRegistration(Value):
    agency_code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    designated_from: date
    designated_to: date | None = None


def register_agency(session: Session, document: Any, actor: str = "system") -> tuple[dict[str, Any], bool]:
    """Register or update an assessment agency's designation; its view and whether it was new
    (``actor``: who, audited with the designation before and after)."""
    agency = parse("assessment-agency", AgencyRegistration, document)
    if agency.designated_to is not None and agency.designated_to < agency.designated_from:
        raise Invalid([("/designated_to", "must not be before designated_from")])
    row = session.get(AssessmentAgencyRow, agency.agency_code, with_for_update=True)
    created = row is None
    before = None if row is None else _designation(row)
    if row is None:
        row = AssessmentAgencyRow(agency_code=agency.agency_code)
        session.add(row)
    row.name, row.designated_from = agency.name, agency.designated_from
    row.designated_to = agency.designated_to
    row.updated_at = utcnow()
    after = _designation(row)
    if before != after:
        action = "agency.registered" if created else "agency.updated"
        audit.record(session, action, f"agency:{row.agency_code}", actor, before=before, after=after)
    return agency.model_dump(mode="json"), created


def _designation(row: AssessmentAgencyRow) -> dict[str, Any]:
    """What the audit trail keeps of an agency (an institution: its name is not personal data)."""
    return {
        "name": row.name,
        "designated_from": row.designated_from.isoformat(),
        "designated_to": None if row.designated_to is None else row.designated_to.isoformat(),
    }


def _designated(row: AssessmentAgencyRow, on: date) -> bool:
    return row.designated_from <= on and (row.designated_to is None or on <= row.designated_to)


def authorise_assessor(
    session: Session,
    principal: Principal,
    agency_code: str,
    member_id: uuid.UUID | None,
    concluded_on: date,
    providers_may_assess: bool,
) -> None:
    """Refuse (403) an assessment the caller may not submit under ``agency_code``.

    A provider-role key submits only under its own party code. That party must be an agency
    designated on the conclusion date, or, where the city allows it, a registered provider
    grading a member no other provider has claimed for. The bureau may enter an agency's
    assessment on its behalf, naming the agency."""
    pointer = "/agency_code"
    if principal.role == Role.PROVIDER and agency_code != principal.party_code:
        raise Forbidden(
            f"a key of {principal.party_code} cannot submit assessments of agency {agency_code}",
            [(pointer, "must be the caller's own party code")],
        )
    agency = session.get(AssessmentAgencyRow, agency_code)
    if agency is not None:
        if _designated(agency, concluded_on):
            return
        raise Forbidden(
            f"assessment agency {agency_code} was not designated on {concluded_on}",
            [(pointer, "not designated on concluded_on")],
        )
    fault: Fault = (pointer, "is not an assessment agency designated by the bureau")
    if principal.role != Role.PROVIDER or not providers_may_assess:
        raise Forbidden(
            f"{agency_code} is not an assessment agency designated by the bureau: only agencies "
            "submit assessments",
            [fault],
        )
    if session.get(ProviderRow, agency_code) is None:
        raise Forbidden(f"{agency_code} is neither an assessment agency nor a registered provider", [fault])
    if member_id is not None and _claimed_by_another(session, member_id, agency_code):
        raise Forbidden(
            f"provider {agency_code} may grade only its own residents: another provider has "
            "claimed for this member",
            [("/member/id_number", "is another provider's resident")],
        )


def _claimed_by_another(session: Session, member_id: uuid.UUID, provider_code: str) -> bool:
    return (
        session.scalar(
            select(ClaimRow.claim_id)
            .where(ClaimRow.member_id == member_id, ClaimRow.provider_code != provider_code)
            .limit(1)
        )
        is not None
    )
