"""Signing in and out of the staff UI, and the checks every page and form goes through: the
session behind the cookie (``reconciliation.ui.sessions``), and that a posted form is the
session's own (its CSRF token, our origin); a forged one gets a 403 page and changes nothing."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.errors import Forbidden, Unauthenticated
from gateway.services import staff as staff_accounts
from gateway.services.keys import Principal, admit, authenticate
from gateway.storage.tables import utcnow
from reconciliation.ui import sessions as staff_sessions
from reconciliation.ui.i18n import translator
from reconciliation.ui.render import form as _form
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.sessions import STAFF, StaffSession


async def current_principal(request: Request) -> Principal | None:
    """Who the session cookie signs in (kept on ``request.state.staff`` for the page), or None."""
    token = request.cookies.get(staff_sessions.COOKIE)
    if not token:
        return None
    gateway = request.app.state.gateway

    def find() -> StaffSession | None:
        with gateway.sessions.begin() as session:
            return staff_sessions.find_session(session, token, gateway.settings)

    staff = await run_in_threadpool(find)
    request.state.staff = staff
    return staff.principal if staff else None


def forged(request: Request, form: dict[str, str]) -> Response | None:
    """A 403 page unless the form is this session's own, posted from our origin."""
    staff: StaffSession | None = getattr(request.state, "staff", None)
    if staff is not None and staff_sessions.form_is_ours(request, form, staff.csrf):
        return None
    return _render(request, "refused.html", staff.principal if staff else None, status=403)


async def signed_form(request: Request) -> tuple[Principal, dict[str, str]] | Response:
    """Who posts and the form they posted; or the answer that turns the post away: the sign-in
    page without a session, a 403 page for a form that is not the session's own."""
    principal = await current_principal(request)
    if principal is None:
        return _to_login()
    form = await _form(request)
    refused = forged(request, form)
    if refused is not None:
        return refused
    return principal, form


async def after(request: Request, to: str, kind: str, text: str) -> Response:
    """Back to a page with a message left in the session (the URL carries no text)."""
    staff: StaffSession = request.state.staff
    sessions = request.app.state.gateway.sessions

    def leave() -> None:
        with sessions.begin() as session:
            staff_sessions.leave_flash(session, staff.token, kind, text)

    await run_in_threadpool(leave)
    return RedirectResponse(to, status_code=303)


def _login_form(request: Request, status: int = 200, problem: str | None = None) -> Response:
    """The sign-in page with a pre-session token, in its cookie and in the form (double submit)."""
    token = staff_sessions.login_token(request)
    response = _render(request, "login.html", None, status=status, problem=problem, csrf=token)
    staff_sessions.set_login_cookie(response, request, request.app.state.gateway.settings, token)
    return response


async def login_page(request: Request) -> Response:
    return _login_form(request)


async def login(request: Request) -> Response:
    form = await _form(request)
    if not staff_sessions.form_is_ours(request, form, request.cookies.get(staff_sessions.LOGIN_COOKIE, "")):
        return _render(request, "refused.html", None, status=403)
    # A person signs in with username and password; a bureau service key (``key``) still may.
    username, password = form.get("username", "").strip(), form.get("password", "")
    key = form.get("key", "").strip()
    gateway = request.app.state.gateway
    previous = request.cookies.get(staff_sessions.COOKIE)

    def sign_in() -> str | None:
        with gateway.sessions.begin() as session:
            try:
                if username:
                    found = staff_accounts.sign_in(session, username, password[: staff_accounts.MAX_PASSWORD])
                else:
                    found = authenticate(session, key)
                principal = admit(found, STAFF)
            except (Unauthenticated, Forbidden):
                return None
            if previous:  # whoever was signed in in this browser is signed out
                staff_sessions.close_session(session, previous)
            return staff_sessions.open_session(session, principal, gateway.settings)

    token = await run_in_threadpool(sign_in) if (username and password) or key else None
    if token is None:
        return _login_form(request, status=401, problem=translator(_lang(request))("bad_key"))
    response = RedirectResponse("/ui/", status_code=303)
    staff_sessions.set_session_cookie(response, request, gateway.settings, token)
    response.delete_cookie(staff_sessions.LOGIN_COOKIE, path="/ui/login")
    return response


async def logout(request: Request) -> Response:
    gateway = request.app.state.gateway
    if await current_principal(request) is not None:
        refused = forged(request, await _form(request))
        if refused is not None:
            return refused
        token = request.state.staff.token

        def close() -> None:
            with gateway.sessions.begin() as session:
                staff_sessions.close_session(session, token, utcnow())

        await run_in_threadpool(close)
    response = _to_login()  # an ended session's cookie goes too
    staff_sessions.clear_session_cookie(response, request, gateway.settings)
    return response


routes = [
    Route("/ui/login", login_page, methods=["GET"]),
    Route("/ui/login", login, methods=["POST"]),
    Route("/ui/logout", logout, methods=["POST"]),
]
