"""A member's identity in versions (domain.md section 1): an assessment that brings another name
or address never overwrites the one before it. It records a new version, with who recorded it
and when, writes an audit entry, and the bureau can read the history. Each assessment cites the
version it recorded, and claims are routed by the version of the assessment they cite.

The member's own row keeps the latest version, for what has no assessment to go by."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.assessments import Member
from gateway.domain.identity import id_number_problem
from gateway.domain.model import Value
from gateway.errors import Invalid, NotFound
from gateway.parsing import parse
from gateway.services.keys import Principal
from gateway.services.members import find_member
from gateway.storage.tables import AssessmentRow, MemberRow, MemberVersionRow, utcnow

Identity = tuple[str | None, str | None, float | None, float | None, str | None]


def _identity(row: MemberVersionRow | MemberRow) -> Identity:
    return row.name, row.address_text, row.lat, row.lon, row.district


def current_version(session: Session, member_id: uuid.UUID) -> MemberVersionRow | None:
    return session.scalar(
        select(MemberVersionRow)
        .where(MemberVersionRow.member_id == member_id)
        .order_by(MemberVersionRow.version.desc())
        .limit(1)
    )


def record_identity(
    session: Session, member: MemberRow, details: Member, principal: Principal, assessment_id: uuid.UUID
) -> int:
    """The version of the member's identity that ``details`` describe: the current one when
    nothing changed, else a new one, audited. An address left out keeps the one on record."""
    # Concurrent assessments of one member number their versions one after the other.
    session.execute(
        select(MemberRow.member_id).where(MemberRow.member_id == member.member_id).with_for_update()
    )
    current = current_version(session, member.member_id)
    if current is None and member.name is not None:  # recorded before identities were versioned
        current = MemberVersionRow(
            member_id=member.member_id,
            version=1,
            name=member.name,
            address_text=member.address_text,
            lat=member.lat,
            lon=member.lon,
            district=member.district,
            party_code="gateway",
            recorded_at=member.updated_at,
        )
        session.add(current)
    before = _identity(current) if current is not None else (None, None, None, None, None)
    address = details.address
    proposed: Identity = (
        (details.name, address.text, address.lat, address.lon, address.district or before[4])
        if address is not None
        else (details.name, *before[1:])
    )
    if current is not None and proposed == before:
        return current.version
    version = MemberVersionRow(
        member_id=member.member_id,
        version=current.version + 1 if current is not None else 1,
        name=proposed[0],
        address_text=proposed[1],
        lat=proposed[2],
        lon=proposed[3],
        district=proposed[4],
        party_code=principal.party_code,
        key_id=principal.key_id,
        recorded_at=utcnow(),
    )
    session.add(version)
    member.name, member.address_text, member.lat, member.lon, member.district = proposed
    member.updated_at = version.recorded_at
    if current is not None:
        # what changed, never the personal data itself: that stays encrypted in member_versions
        changed = ["name"] if proposed[0] != before[0] else []
        changed += ["address"] if proposed[1:] != before[1:] else []
        audit.record(
            session,
            "member.identity_changed",
            f"member:{member.member_id}",
            actor=f"{principal.role.value}:{principal.party_code}",
            key_id=principal.key_id,
            before={"version": current.version, "district": before[4]},
            after={"version": version.version, "district": proposed[4]},
            changed=changed,
            assessment_id=str(assessment_id),
        )
    return version.version


class HistoryQuery(Value):
    id_number: str


def member_history(session: Session, document: Any) -> dict[str, Any]:
    """Every version of the member's identity, oldest first, and the version each assessment cites."""
    query = parse("member-history", HistoryQuery, document)
    problem = id_number_problem(query.id_number)
    if problem:
        raise Invalid([("/id_number", problem)])
    member = find_member(session, query.id_number)
    if member is None:
        raise NotFound("no member with this ID number is enrolled or assessed")
    versions = session.scalars(
        select(MemberVersionRow)
        .where(MemberVersionRow.member_id == member.member_id)
        .order_by(MemberVersionRow.version)
    )
    assessments = session.scalars(
        select(AssessmentRow)
        .where(AssessmentRow.member_id == member.member_id)
        .order_by(AssessmentRow.concluded_on, AssessmentRow.created_at)
    )
    return {
        "member_id": str(member.member_id),
        "versions": [
            {
                "version": v.version,
                "name": v.name,
                "address": {"text": v.address_text, "lat": v.lat, "lon": v.lon, "district": v.district},
                "recorded_by": {"party_code": v.party_code, "key_id": v.key_id},
                "recorded_at": v.recorded_at.isoformat(),
            }
            for v in versions
        ],
        "assessments": [
            {
                "assessment_id": str(a.assessment_id),
                "agency_code": a.agency_code,
                "concluded_on": a.concluded_on.isoformat(),
                "member_version": a.member_version,
            }
            for a in assessments
        ],
    }
