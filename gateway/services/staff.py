"""Staff accounts: the named people who sign in to the console (issue 22 section 3), each with
roles, so that what they do is audited under their name and four-eyes compares people, not keys.

Passwords are kept as scrypt hashes (``hashlib.scrypt``: the standard library's binding of
OpenSSL's implementation, a memory-hard KDF; no new dependency and none of our own crypto), with a
random salt each and the cost in the stored text, so the cost can rise later without a migration.
Wrong passwords are counted; at ``MAX_FAILED`` in a row the account is locked for
``LOCK_MINUTES``. The display name is sealed at rest like a member's name.

A person may also hold API keys of their own (``issue_key``, ``ltc-gateway staff key``): a call
with one acts as that person, with their staff roles, on the API and the settlement command line.

``person_of(principal)`` is the one answer to "who is this, for four eyes": ``person:<username>``,
whichever of their sessions or keys they use. A step the four-eyes rule compares (a money movement
above the threshold asked for or approved, 初审 and 复核) takes a named person (``named``): a key
issued to no one is refused there, since two such keys may be one person's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.services.keys import Principal, Role, create_key
from gateway.storage.tables import StaffAccountRow, utcnow


class StaffRole(StrEnum):
    SUPERVISOR = "bureau_supervisor"  # bureau pages, simulations, 拨付 (disbursement)
    RECONCILER = "reconciler"  # the work queue, runs, 申报/初审/清算
    APPROVER = "approver"  # approving write-offs above the threshold, 复核


# The key roles a staff role opens, for the pages that admit by key role.
ACTS_AS = {
    StaffRole.SUPERVISOR: Role.BUREAU,
    StaffRole.RECONCILER: Role.RECONCILER,
    StaffRole.APPROVER: Role.RECONCILER,
}
MAX_FAILED = 5
LOCK_MINUTES = 15
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")  # "person:" + it fits the person columns
MAX_NAME = 100
# scrypt cost: 2**14 × 8 × 128 B = 16 MiB and tens of milliseconds a guess (OWASP's minimum).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 2**20)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        given = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=64 * 2**20
        )
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(given, expected)


# Checked against when the username is unknown, so the answer takes as long as for a known one.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def _roles(names: Iterable[str]) -> frozenset[StaffRole]:
    try:
        roles = frozenset(StaffRole(n) for n in names)
    except ValueError:
        raise Invalid([("/roles", f"each must be one of {', '.join(r.value for r in StaffRole)}")]) from None
    if not roles:
        raise Invalid([("/roles", "at least one role")])
    return roles


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid([("/password", f"between {MIN_PASSWORD} and {MAX_PASSWORD} characters")])


def add_account(
    session: Session, username: str, name: str, roles: Iterable[str], password: str, actor: str
) -> None:
    if not USERNAME.fullmatch(username):
        raise Invalid([("/username", "2–32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")])
    if not name.strip() or len(name) > MAX_NAME:
        raise Invalid([("/name", f"1 to {MAX_NAME} characters")])
    staff_roles = _roles(roles)
    _check_password(password)
    if session.get(StaffAccountRow, username) is not None:
        raise Conflict(f"staff account {username} exists already")
    session.add(
        StaffAccountRow(
            username=username,
            display_name=name.strip(),
            password_hash=hash_password(password),
            roles=sorted(staff_roles),
            active=True,
            failed_logins=0,
        )
    )
    # The name is personal data: the trail carries the username and roles, not the name.
    audit.record(session, "staff.created", f"staff:{username}", actor, roles=sorted(staff_roles))


def _account(session: Session, username: str) -> StaffAccountRow:
    row = session.get(StaffAccountRow, username, with_for_update=True)
    if row is None:
        raise NotFound(f"no staff account {username}")
    return row


def disable(session: Session, username: str, actor: str) -> None:
    """The account signs in no more, and its open sessions end (``account_principal``)."""
    row = _account(session, username)
    if row.active:
        row.active, row.changed_at = False, utcnow()
        audit.record(session, "staff.disabled", f"staff:{username}", actor)


def set_password(session: Session, username: str, password: str, actor: str) -> None:
    """A new password; it also lifts a lockout."""
    _check_password(password)
    row = _account(session, username)
    row.password_hash, row.failed_logins, row.locked_until = hash_password(password), 0, None
    row.changed_at = utcnow()
    audit.record(session, "staff.password_changed", f"staff:{username}", actor)


def list_accounts(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(StaffAccountRow).order_by(StaffAccountRow.username))
    return [
        {
            "username": r.username,
            "name": r.display_name,
            "roles": list(r.roles),
            "active": r.active,
            "locked": r.locked_until is not None and r.locked_until > utcnow(),
        }
        for r in rows
    ]


def principal_for(row: StaffAccountRow) -> Principal:
    roles = frozenset(StaffRole(r) for r in row.roles)
    acts_as = frozenset(ACTS_AS[r] for r in roles)
    primary = Role.RECONCILER if Role.RECONCILER in acts_as else Role.BUREAU
    return Principal("", primary, row.username, row.username, acts_as, frozenset(r.value for r in roles))


def sign_in(session: Session, username: str, password: str, now: datetime | None = None) -> Principal | None:
    """The person if the password is theirs and the account active and not locked; else None
    (the same answer whatever was wrong). Wrong passwords are counted; the ``MAX_FAILED``-th in a
    row locks the account for ``LOCK_MINUTES``."""
    now = now or utcnow()
    known = USERNAME.fullmatch(username)
    row = session.get(StaffAccountRow, username, with_for_update=True) if known else None
    if row is None:
        verify_password(password, _DUMMY)
        return None
    if row.locked_until is not None and row.locked_until > now:
        return None
    if not verify_password(password, row.password_hash):
        row.failed_logins += 1
        if row.failed_logins >= MAX_FAILED:
            row.locked_until, row.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
            audit.record(session, "staff.locked", f"staff:{username}", "system", minutes=LOCK_MINUTES)
        return None
    if not row.active:
        return None
    row.failed_logins, row.locked_until = 0, None
    return principal_for(row)


def account_principal(session: Session, username: str) -> Principal | None:
    """The person of a console session while their account is active (disabling ends it)."""
    row = session.get(StaffAccountRow, username)
    return principal_for(row) if row is not None and row.active else None


def person_of(principal: Principal) -> str:
    """Who acts, for four eyes: ``person:<username>``, or the party of a machine client's key."""
    return f"person:{principal.person}" if principal.person else principal.party_code


def named(principal: Principal, step: str) -> str:
    """The person taking a step the four-eyes rule compares; Forbidden for a key issued to no one."""
    if not principal.person:
        raise Forbidden(
            f"four eyes: {step} is for a named person; this key is issued to no one"
            " (sign in, or use a key of your own: ltc-gateway staff key)"
        )
    return person_of(principal)


def issue_key(
    session: Session, username: str, role: Role, actor: str, label: str | None = None
) -> tuple[str, str]:
    """A key of ``username``'s own in ``role`` (one their staff roles open): (key_id, the key,
    shown only now). It acts as them and stops working when their account is disabled."""
    row = _account(session, username)
    if not row.active:
        raise Conflict(f"staff account {username} is disabled")
    opened = {ACTS_AS[StaffRole(r)] for r in row.roles}
    if role not in opened:
        allowed = ", ".join(sorted(r.value for r in opened))
        raise Invalid([("/role", f"{username}'s staff roles open {allowed}, not {role.value}")])
    return create_key(session, role, username, label, actor, person=username)


def require(principal: Principal, *roles: StaffRole) -> None:
    """A person must hold one of ``roles``; a key is judged by its key role elsewhere (``admit``)."""
    if principal.person and not principal.staff_roles.intersection(roles):
        names = " or ".join(sorted(r.value for r in roles))
        raise Forbidden(f"this needs the staff role {names}")
