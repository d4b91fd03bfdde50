"""API keys: one party and one role each; only a hash is stored, the key is shown once. A key may
be issued to a named member of staff (``gateway.services.staff.issue_key``): it then acts as that
person, with their staff roles, and stops working when their account is disabled. And the one
check of who may call: ``admit``, used by every API endpoint, the batching path and the staff UI's
sign-in and sessions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.errors import Forbidden, Unauthenticated
from gateway.storage.tables import ApiKeyRow, StaffAccountRow, utcnow


class Role(StrEnum):
    PROVIDER = "provider"
    PAYER = "payer"
    BUREAU = "bureau"
    RECONCILER = "reconciler"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a party (provider, payer, bureau …) acting in one role. A named member of
    staff signed in to the console (``gateway.services.staff``), or calling with a key issued to
    them, is a principal too: ``person`` is their username, ``acts_as`` the key roles their staff
    roles open (a personal key: its own role), ``staff_roles`` those roles."""

    key_id: str
    role: Role
    party_code: str
    person: str | None = None
    acts_as: frozenset[Role] = frozenset()
    staff_roles: frozenset[str] = frozenset()


def _digest(key: str) -> str:
    # Keys are 256-bit random, so a plain SHA-256 is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session,
    role: Role,
    party_code: str,
    label: str | None = None,
    actor: str = "system",
    person: str | None = None,
) -> tuple[str, str]:
    """A new key for ``party_code`` in ``role`` (``person``: the member of staff it is issued to):
    (key_id, the key itself, shown only now); ``actor``: who asked (audited)."""
    key_id = secrets.token_hex(6)
    key = f"ltc_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKeyRow(
            key_id=key_id,
            key_hash=_digest(key),
            role=role.value,
            party_code=party_code,
            label=label,
            person=person,
        )
    )
    after = {"role": role.value, "party_code": party_code, "label": label}
    if person is not None:
        after["person"] = person
    audit.record(session, "key.created", f"key:{key_id}", actor, before=None, after=after, **after)
    return key_id, key


def principal_of(key: ApiKeyRow, holder: StaffAccountRow | None = None) -> Principal | None:
    """Who ``key`` signs in, or None once it is revoked; a personal key (``holder``: the account
    it is issued to) signs its person in, and only while their account is active."""
    if key.revoked_at is not None:
        return None
    role = Role(key.role)
    if key.person is None:
        return Principal(key.key_id, role, key.party_code)
    if holder is None or holder.username != key.person or not holder.active:
        return None
    return Principal(key.key_id, role, key.party_code, key.person, frozenset({role}), frozenset(holder.roles))


def _with_holders(session: Session, *where: Any) -> list[tuple[ApiKeyRow, StaffAccountRow | None]]:
    found = session.execute(
        select(ApiKeyRow, StaffAccountRow)
        .outerjoin(StaffAccountRow, StaffAccountRow.username == ApiKeyRow.person)
        .where(*where)
    )
    return [(key, holder) for key, holder in found]


def authenticate(session: Session, key: str) -> Principal | None:
    rows = _with_holders(session, ApiKeyRow.key_hash == _digest(key))
    return principal_of(*rows[0]) if rows else None


def authenticate_many(session: Session, keys: set[str]) -> dict[str, Principal]:
    """``authenticate`` for several keys in one query: the principal of each key that is valid."""
    by_hash = {_digest(key): key for key in keys}
    rows = _with_holders(session, ApiKeyRow.key_hash.in_(by_hash))
    return {
        by_hash[row.key_hash]: principal for row, holder in rows if (principal := principal_of(row, holder))
    }


def admit(principal: Principal | None, roles: Collection[Role]) -> Principal:
    """The caller (``authenticate``'s answer) if it may act in one of ``roles``: Unauthenticated
    when its key is unknown or revoked, Forbidden when it acts in another role."""
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    if principal.role not in roles and not principal.acts_as.intersection(roles):
        names = ", ".join(sorted(r.value for r in roles))
        raise Forbidden(f"role {principal.role} may not do this (allowed: {names})")
    return principal


def revoke_key(session: Session, key_id: str, actor: str = "system") -> bool:
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            "key.revoked",
            f"key:{key_id}",
            actor,
            role=row.role,
            party_code=row.party_code,
            before={"revoked_at": None},
            after={"revoked_at": row.revoked_at.isoformat()},
        )
    return True
