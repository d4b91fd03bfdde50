"""Rendering a staff page: the language (Chinese first), the session's CSRF token and its
one-time message, and the form reader all our forms use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.domain.beijing_time import BEIJING
from gateway.domain.money import yuan
from gateway.services.keys import Principal
from reconciliation.ui import sessions as staff_sessions
from reconciliation.ui.i18n import LANGUAGES, note_text, translator
from reconciliation.ui.sessions import StaffSession

LANG_COOKIE = "ltc_lang"
# the language link keeps these (the queue's filters, search, order and page)
_KEPT: tuple[str, ...] = ("kind", "payer", "status", "min_age_days", "min_amount", "claim_number", "provider")
_KEPT += ("reference", "sort", "after", "before", "lang")
_KEPT += ("state", "assignee", "year")  # the bureau's supervision queue and fund page
templates = Environment(
    loader=PackageLoader("reconciliation.ui", "templates"), autoescape=select_autoescape(["html"])
)


def lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return wanted if wanted in LANGUAGES else "zh"


def render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **values: Any
) -> Response:
    language = lang(request)
    here = {k: v for k, v in request.query_params.items() if k in _KEPT}
    other = {**here, "lang": "en" if language == "zh" else "zh"}
    staff: StaffSession | None = getattr(request.state, "staff", None)
    flash = (staff.flash if staff else None) or {}
    html = templates.get_template(name).render(
        language_href="?" + urlencode(other),
        t=translator(language),
        lang=language,
        principal=principal,
        yuan=yuan,
        beijing=beijing,
        note=lambda text: note_text(text, language),
        csrf=values.pop("csrf", staff.csrf if staff else ""),
        message=flash.get("message"),
        problem=values.pop("problem", None) or flash.get("problem"),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, samesite="strict", secure=secure(request))
    return response


def beijing(moment: datetime | str | None) -> str:
    """A stored moment (UTC) as Beijing wall-clock time, to the minute."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def secure(request: Request) -> bool:
    return staff_sessions.secure_cookies(request, request.app.state.gateway.settings)


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (all our forms are), read without a multipart parser."""
    body = (await request.body()).decode("utf-8", errors="replace")  # a bad byte is a bad value, not a 500
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def to_login() -> Response:
    return RedirectResponse("/ui/login", status_code=303)
