"""API keys: one party and one role each; only a hash is stored, the key is shown once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.storage.tables import ApiKeyRow, utcnow


class Role(StrEnum):
    PROVIDER = "provider"
    PAYER = "payer"
    BUREAU = "bureau"
    RECONCILER = "reconciler"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a party (provider, payer, bureau …) acting in one role."""

    key_id: str
    role: Role
    party_code: str


def _digest(key: str) -> str:
    # Keys are 256-bit random, so a plain SHA-256 is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, role: Role, party_code: str, label: str | None = None, actor: str = "system"
) -> tuple[str, str]:
    """A new key for ``party_code`` in ``role``: (key_id, the key itself, shown only now);
    ``actor``: who asked (audited)."""
    key_id = secrets.token_hex(6)
    key = f"ltc_{key_id}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKeyRow(key_id=key_id, key_hash=_digest(key), role=role.value, party_code=party_code, label=label)
    )
    after = {"role": role.value, "party_code": party_code, "label": label}
    audit.record(session, "key.created", f"key:{key_id}", actor, before=None, after=after, **after)
    return key_id, key


def authenticate(session: Session, key: str) -> Principal | None:
    row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == _digest(key)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.key_id, Role(row.role), row.party_code)


def authenticate_many(session: Session, keys: set[str]) -> dict[str, Principal]:
    """``authenticate`` for several keys in one query: the principal of each key that is valid."""
    by_hash = {_digest(key): key for key in keys}
    return {
        by_hash[row.key_hash]: Principal(row.key_id, Role(row.role), row.party_code)
        for row in session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash.in_(by_hash)))
        if row.revoked_at is None
    }


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
