"""The staff UI's sessions and its defence against forged forms.

Signing in as a named person (``gateway.services.staff``: username and password) or, for the
bureau's service keys, with an API key opens a server-side session (``ui_sessions``): the cookie holds only a
random 256-bit token, the table only its SHA-256, so neither a stolen cookie outlives logout nor a
copy of the table signs anyone in. A session ends when it is idle too long, at its absolute
expiry, at logout, or when its API key is revoked or its person's account disabled.

Every form that changes something carries a CSRF token derived from the session token (an HMAC,
so nothing more is stored and the table alone cannot forge one), and every POST must come from
our own origin (``Origin``, or ``Referer`` where a browser sends no ``Origin``). The login form,
before any session exists, carries the token of a short-lived pre-session cookie instead
(double submit), under the same origin check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import Settings
from gateway.errors import Forbidden, Unauthenticated
from gateway.services.keys import Principal, Role, admit, principal_of
from gateway.services.staff import account_principal
from gateway.storage.tables import ApiKeyRow, StaffAccountRow, UiSessionRow, utcnow

COOKIE = "ltc_staff_session"
LOGIN_COOKIE = "ltc_login_csrf"  # the login form's pre-session token
LOGIN_COOKIE_SECONDS = 600
CSRF_FIELD = "csrf"
STAFF = (Role.RECONCILER, Role.BUREAU)
SECURE_CHOICES = ("auto", "true", "false")
_TOUCH = timedelta(seconds=60)  # last_seen_at is written at most once a minute per session


def check_settings(settings: Settings) -> None:
    """Refuse a configuration this module cannot honour, before the first request."""
    if settings.ui_secure_cookies not in SECURE_CHOICES:
        raise ValueError(f"LTC_UI_SECURE_COOKIES must be one of {', '.join(SECURE_CHOICES)}")
    if settings.ui_session_idle_minutes < 1 or settings.ui_session_max_hours < 1:
        raise ValueError("LTC_UI_SESSION_IDLE_MINUTES and LTC_UI_SESSION_MAX_HOURS must be at least 1")


def _digest(token: str) -> str:
    # The token is 256-bit random: a plain SHA-256 leaves nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The session's form token: a keyed hash of the session token, so it is per session."""
    return hmac.new(token.encode(), b"ltc-gateway ui csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class StaffSession:
    token: str  # the cookie's value
    principal: Principal
    flash: dict[str, str] | None  # the message left for this page by the previous action

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def open_session(
    session: Session, principal: Principal, settings: Settings, now: datetime | None = None
) -> str:
    """A new session acting as ``principal``; returns the token for the cookie (shown only now)."""
    now = now or utcnow()
    session.execute(delete(UiSessionRow).where(UiSessionRow.expires_at < now))  # housekeeping
    token = secrets.token_urlsafe(32)
    session.add(
        UiSessionRow(
            token_hash=_digest(token),
            key_id=principal.key_id or None,  # a person's own key: the session is the key's
            username=principal.person,
            role=principal.role.value,
            party_code=principal.party_code,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.ui_session_max_hours),
        )
    )
    return token


def find_session(
    session: Session,
    token: str,
    settings: Settings,
    now: datetime | None = None,
    roles: Collection[Role] = STAFF,
) -> StaffSession | None:
    """The live session of ``token``, its flash message taken (shown once); None if it has ended
    or its key is not one of ``roles`` (the provider portal's sessions are never staff's)."""
    now = now or utcnow()
    row = session.scalar(select(UiSessionRow).where(UiSessionRow.token_hash == _digest(token)))
    if row is None:
        return None
    idle = timedelta(minutes=settings.ui_session_idle_minutes)
    if row.revoked_at is not None or now >= row.expires_at or now - row.last_seen_at >= idle:
        return None
    # The person is still active, or the key it was opened with still signs a member of staff in
    # (disabling the account or revoking the key ends it).
    if row.key_id is None:
        principal = account_principal(session, row.username) if row.username else None
    else:
        key = session.get(ApiKeyRow, row.key_id) if row.key_id else None
        holder = session.get(StaffAccountRow, key.person) if key is not None and key.person else None
        principal = principal_of(key, holder) if key is not None else None
    try:
        principal = admit(principal, roles)
    except (Unauthenticated, Forbidden):
        return None
    flash = row.flash
    if flash is not None:
        row.flash = None
    if now - row.last_seen_at >= _TOUCH:
        row.last_seen_at = now
    return StaffSession(token, principal, flash)


def close_session(session: Session, token: str, now: datetime | None = None) -> None:
    """Logout: the token no longer opens anything, whoever holds a copy of the cookie."""
    session.execute(
        update(UiSessionRow)
        .where(UiSessionRow.token_hash == _digest(token), UiSessionRow.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


def leave_flash(session: Session, token: str, kind: str, text: str) -> None:
    """A message (``message`` or ``problem``) for the next page of this session, not the URL."""
    session.execute(
        update(UiSessionRow).where(UiSessionRow.token_hash == _digest(token)).values(flash={kind: text})
    )


def secure_cookies(request: Request, settings: Settings) -> bool:
    if settings.ui_secure_cookies == "auto":
        return request.url.scheme == "https"  # uvicorn sets it from a trusted X-Forwarded-Proto
    return settings.ui_secure_cookies == "true"


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    # A browser-session cookie: the server decides when the session ends, not the cookie's age.
    response.set_cookie(
        COOKIE, token, path="/ui", httponly=True, samesite="strict", secure=secure_cookies(request, settings)
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path="/ui", httponly=True, samesite="strict", secure=secure_cookies(request, settings)
    )


def login_token(request: Request) -> str:
    """The login form's pre-session token: the one in the cookie, or a new one."""
    current = request.cookies.get(LOGIN_COOKIE, "")
    return current if len(current) == 43 else secrets.token_urlsafe(32)


def set_login_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_SECONDS,
        path="/ui/login",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, settings),
    )


def same_origin(request: Request) -> bool:
    """The POST came from a page of ours: ``Origin`` (or, without it, ``Referer``) names this host.

    The host is the one the browser asked for (``Host``; a proxy must pass it on). The scheme must
    be ours or https: behind a proxy that ends TLS and does not say so, the browser's origin is
    https while we see http."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    try:
        parsed = urlsplit(source)
    except ValueError:
        return False
    host = request.headers.get("host", "")
    return (
        bool(host)
        and parsed.netloc.lower() == host.lower()
        and parsed.scheme in (request.url.scheme, "https")
    )


def form_is_ours(request: Request, form: dict[str, Any], expected: str) -> bool:
    """Same origin and the form's token is ``expected`` (compared in constant time)."""
    given = form.get(CSRF_FIELD, "")
    return (
        same_origin(request)
        and bool(expected)
        and isinstance(given, str)
        and hmac.compare_digest(given.encode(), expected.encode())
    )
