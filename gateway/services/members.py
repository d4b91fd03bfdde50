"""Members (参保人), found by their resident ID number."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.domain.assessments import Member
from gateway.storage.personal import lookup_hash
from gateway.storage.tables import MemberRow, utcnow


def find_member(session: Session, id_number: str) -> MemberRow | None:
    return session.scalar(select(MemberRow).where(MemberRow.id_hash == lookup_hash(id_number)))


def ensure_member(session: Session, id_number: str, details: Member | None = None) -> MemberRow:
    """The member with this ID number, created if new; ``details`` update name and address."""
    row = find_member(session, id_number)
    if row is None:
        row = MemberRow(id_number=id_number)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # created meanwhile by a concurrent request
            row = find_member(session, id_number)
            assert row is not None
    if details is not None:
        row.name = details.name
        if details.address is not None:
            row.address_text = details.address.text
            row.lat, row.lon = details.address.lat, details.address.lon
            row.district = details.address.district or row.district
        row.updated_at = utcnow()
    return row
