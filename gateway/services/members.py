"""Members (参保人), found by their resident ID number."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.personal import lookup_hash
from gateway.storage.tables import MemberRow


def find_member(session: Session, id_number: str) -> MemberRow | None:
    return session.scalar(select(MemberRow).where(MemberRow.id_hash == lookup_hash(id_number)))


def ensure_member(session: Session, id_number: str) -> MemberRow:
    """The member with this ID number, created if new. Name and address are recorded as versions
    (``member_versions.record_identity``), never written here."""
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
    return row
