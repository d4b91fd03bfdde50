"""The provider portal's plumbing: its session (the staff console's server-side sessions,
``reconciliation.ui.sessions``, opened with a provider's own API key under a cookie of the
portal's own path), its CSRF checks, the forms it reads (urlencoded, or multipart for a file),
and rendering a page in Chinese or English from its catalogues (``locale/*.json``)."""

from __future__ import annotations

import secrets
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.documents.translations import LANGUAGES, catalogue
from gateway.domain.money import yuan
from gateway.services.keys import Principal, Role
from reconciliation.ui import sessions as ui_sessions
from reconciliation.ui.render import beijing
from reconciliation.ui.sessions import StaffSession

PACKAGE = "ltc_gateway.portal"
COOKIE = "ltc_portal_session"
LOGIN_COOKIE = "ltc_portal_login"
LANG_COOKIE = "ltc_portal_lang"
PROVIDER = (Role.PROVIDER,)
FORM_OVERHEAD = 64 * 1024  # a form's fields and multipart framing beside its file
templates = Environment(loader=PackageLoader(PACKAGE, "templates"), autoescape=select_autoescape(["html"]))


def lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return wanted if wanted in LANGUAGES else "zh"


def translator(language: str) -> Any:
    def t(key: str, **values: object) -> str:
        text = (
            catalogue(language, PACKAGE).get(key)
            or catalogue("zh", PACKAGE).get(key)
            or key.split(".", 1)[-1]
        )
        return text.format(**values) if values else text

    return t


async def signed_in(request: Request) -> Principal | None:
    """The provider the portal cookie signs in (its session on ``request.state.portal``), or None."""
    token = request.cookies.get(COOKIE)
    request.state.portal = None
    if not token:
        return None
    gateway = request.app.state.gateway

    def find() -> StaffSession | None:
        with gateway.sessions.begin() as session:
            return ui_sessions.find_session(session, token, gateway.settings, roles=PROVIDER)

    found = await run_in_threadpool(find)
    request.state.portal = found
    return found.principal if found else None


def render(request: Request, name: str, status: int = 200, **values: Any) -> Response:
    language = lang(request)
    found: StaffSession | None = getattr(request.state, "portal", None)
    flash = (found.flash if found else None) or {}
    other = {**dict(request.query_params), "lang": "en" if language == "zh" else "zh"}
    html = templates.get_template(name).render(
        t=translator(language),
        lang=language,
        language_href="?" + urlencode(other),
        principal=found.principal if found else None,
        csrf=values.pop("csrf", found.csrf if found else ""),
        message=values.pop("message", None) or flash.get("message"),
        problem=values.pop("problem", None) or flash.get("problem"),
        yuan=yuan,
        beijing=beijing,
        **values,
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "private, no-store"})
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, path="/portal", samesite="strict", secure=secure(request))
    return response


def secure(request: Request) -> bool:
    return ui_sessions.secure_cookies(request, request.app.state.gateway.settings)


def to_login() -> Response:
    return RedirectResponse("/portal/login", status_code=303)


class FormTooLarge(Exception):
    """A posted form beyond the largest file we take (read no further)."""


async def _bounded_body(request: Request) -> bytes:
    limit = request.app.state.gateway.settings.max_batch_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FormTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FormTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def posted(request: Request) -> dict[str, Any]:
    """The form: urlencoded text fields, or a multipart form whose file fields are bytes; bounded
    (``FormTooLarge`` beyond the batch file limit and a little for the fields)."""
    raw = await _bounded_body(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        text = raw.decode("utf-8", errors="replace")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    head = b"Content-Type: " + content_type.encode("latin-1", errors="replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields[name] = payload
            fields[name + ".type"] = part.get_content_type()
        else:
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields


async def signed_form(request: Request) -> tuple[Principal, dict[str, Any]] | Response:
    """Who posts and what: or the sign-in page (no session), or a 403 page (a forged form)."""
    principal = await signed_in(request)
    if principal is None:
        return to_login()
    try:
        form = await posted(request)
    except FormTooLarge:
        t = translator(lang(request))
        return render(request, "refused.html", status=413, problem=t("file_too_large", limit=_limit(request)))
    found: StaffSession = request.state.portal
    if not ui_sessions.form_is_ours(request, form, found.csrf):
        return render(request, "refused.html", status=403)
    return principal, form


async def after(request: Request, to: str, kind: str, text: str) -> Response:
    """Back to a page with a message kept in the session (never in the URL)."""
    found: StaffSession = request.state.portal
    sessions = request.app.state.gateway.sessions

    def leave() -> None:
        with sessions.begin() as session:
            ui_sessions.leave_flash(session, found.token, kind, text)

    await run_in_threadpool(leave)
    return RedirectResponse(to, status_code=303)


def _limit(request: Request) -> int:
    return int(request.app.state.gateway.settings.max_batch_bytes)


def login_token(request: Request) -> str:
    current = request.cookies.get(LOGIN_COOKIE, "")
    return current if len(current) == 43 else secrets.token_urlsafe(32)
