"""API keys: one party and one role each; only a hash is stored, the key is shown once. A key may
be issued to a named member of staff (``gateway.services.staff.issue_key``): it then acts as that
person, with their staff roles, and stops working when their account is disabled. And the one
check of who may call: ``admit``, used by every API endpoint, the batching path and the staff UI's
sign-in and sessions."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, object_session

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
    """``authenticate`` for several keys in one query: the principal of each key that is valid.
    For the busiest path (a batch of claims, ``gateway.api.endpoint.batched``) a valid key's
    principal is remembered for ``KEY_CACHE_SECONDS``: see ``_Remembered``."""
    by_hash = {_digest(key): key for key in keys}
    database = id(session.get_bind())
    found: dict[str, Principal] = {}
    now = time.monotonic()
    for hash_, key in by_hash.items():
        known = _REMEMBERED.get((database, hash_))
        if known is not None and known[1] > now:
            found[key] = known[0]
    missing = [hash_ for hash_, key in by_hash.items() if key not in found]
    if missing:
        generation = _REMEMBERED.generation
        for row, holder in _with_holders(session, ApiKeyRow.key_hash.in_(missing)):
            if (principal := principal_of(row, holder)) is not None:
                found[by_hash[row.key_hash]] = principal
                _REMEMBERED.keep((database, row.key_hash), principal, generation)
    return found


# How long a valid key's principal is remembered by a process (the accept path's key look-up).
# A key revoked, or its holder's account disabled, in this process is forgotten at once; by another
# process (the CLI, another server process), it is refused here at most this much later.
KEY_CACHE_SECONDS = 1.0


class _Remembered(dict[tuple[int, str], tuple[Principal, float]]):
    """Principals by (database, key hash), each with the monotonic time it is good until. Forgotten
    whole when a transaction flushes a change to a key or a staff account, and again when it
    commits (a look-up that read the old row in between is not kept: ``generation``)."""

    generation = 0

    def keep(self, at: tuple[int, str], principal: Principal, generation: int) -> None:
        if generation == self.generation:  # nothing changed keys since the look-up began
            self[at] = (principal, time.monotonic() + KEY_CACHE_SECONDS)

    def forget(self) -> None:
        self.generation += 1
        self.clear()


_REMEMBERED = _Remembered()
_CHANGED = "keys_changed"


def _changed(_mapper: Any, _connection: Any, row: ApiKeyRow | StaffAccountRow) -> None:
    session = object_session(row)
    if session is not None:
        session.info[_CHANGED] = True
    _REMEMBERED.forget()


for _table in (ApiKeyRow, StaffAccountRow):  # mapper events: only flushes of these rows pay for it
    event.listen(_table, "after_update", _changed)
    event.listen(_table, "after_delete", _changed)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _REMEMBERED.forget()


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
