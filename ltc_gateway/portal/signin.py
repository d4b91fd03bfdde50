"""Signing in to the portal with the provider's own API key, and out. Only a provider key opens
a portal session; a staff key is refused here as a provider key is refused by the staff UI."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.errors import Forbidden, Unauthenticated
from gateway.services.keys import admit, authenticate
from gateway.storage.tables import utcnow
from ltc_gateway.portal import web
from reconciliation.ui import sessions as ui_sessions


def _login_form(request: Request, status: int = 200, problem: str | None = None) -> Response:
    token = web.login_token(request)  # double submit: in the cookie and in the form
    response = web.render(request, "login.html", status=status, problem=problem, csrf=token)
    response.set_cookie(
        web.LOGIN_COOKIE,
        token,
        max_age=ui_sessions.LOGIN_COOKIE_SECONDS,
        path="/portal/login",
        httponly=True,
        samesite="strict",
        secure=web.secure(request),
    )
    return response


async def login_page(request: Request) -> Response:
    if await web.signed_in(request) is not None:
        return RedirectResponse("/portal/", status_code=303)
    return _login_form(request)


async def login(request: Request) -> Response:
    try:
        form = await web.posted(request)
    except web.FormTooLarge:
        return web.render(request, "refused.html", status=413)
    if not ui_sessions.form_is_ours(request, form, request.cookies.get(web.LOGIN_COOKIE, "")):
        return web.render(request, "refused.html", status=403)
    key = str(form.get("key", "")).strip()
    gateway = request.app.state.gateway
    previous = request.cookies.get(web.COOKIE)

    def sign_in() -> str | None:
        with gateway.sessions.begin() as session:
            try:
                principal = admit(authenticate(session, key), web.PROVIDER)
            except (Unauthenticated, Forbidden):
                return None
            if previous:
                ui_sessions.close_session(session, previous)
            return ui_sessions.open_session(session, principal, gateway.settings)

    token = await run_in_threadpool(sign_in) if key else None
    if token is None:
        t = web.translator(web.lang(request))
        return _login_form(request, status=401, problem=t("bad_key"))
    response = RedirectResponse("/portal/", status_code=303)
    response.set_cookie(
        web.COOKIE, token, path="/portal", httponly=True, samesite="strict", secure=web.secure(request)
    )
    response.delete_cookie(web.LOGIN_COOKIE, path="/portal/login")
    return response


async def logout(request: Request) -> Response:
    gateway = request.app.state.gateway
    signed = await web.signed_form(request)
    if isinstance(signed, Response) and request.state.portal is not None:
        return signed  # a forged form: nobody is signed out
    if not isinstance(signed, Response):
        token = request.state.portal.token

        def close() -> None:
            with gateway.sessions.begin() as session:
                ui_sessions.close_session(session, token, utcnow())

        await run_in_threadpool(close)
    response = web.to_login()
    response.delete_cookie(
        web.COOKIE, path="/portal", httponly=True, samesite="strict", secure=web.secure(request)
    )
    return response
