"""The bureau's supervision pages (issue 22 §1): the queue of everything it must look at (flags
on claims, dead notices) with filters and keyset pages; one item's page with its handling
(assign to a person, notes, close with a reason); and a dead or refused payer step's page, the
stored request beside the payer's answer, its lineage and a rerun as the API's
(``POST /v1/steps/{id}/rerun``); and a dead notice's page, its stored message, its resends and
a resend as the API's (``POST /v1/notices/{id}/resend``). The bureau only: a reconciler gets a 403 page."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import audit
from gateway.api.problems import status_of
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Forbidden, NotFound, ServiceError
from gateway.services import decisions, supervision
from gateway.services.dead_letters import notice_letter, resend_notice, step_letter
from gateway.services.keys import Principal, Role, admit
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form

FILTERS = ("kind", "payer", "assignee", "state")


def bureau_only(request: Request, principal: Principal) -> Response | None:
    """A 403 page for anyone but the bureau."""
    try:
        admit(principal, (Role.BUREAU,))
    except Forbidden:
        t = translator(_lang(request))
        return _render(request, "refused.html", principal, status=403, problem=t("bureau_only", "bureau"))
    return None


async def reader(request: Request) -> Principal | Response:
    """The signed-in bureau, else the sign-in page or a 403 page (every bureau page starts so)."""
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    return bureau_only(request, principal) or principal


async def bureau_form(request: Request) -> tuple[Principal, dict[str, str]] | Response:
    """A posted form of the session's own, from the bureau: else the sign-in, 403 or refusal page."""
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    return bureau_only(request, principal) or (principal, form)


def refused_page(request: Request, principal: Principal, error: ServiceError) -> Response:
    return _render(
        request, "refused.html", principal, status=status_of(error)[0], problem=refusal(error, _lang(request))
    )


async def queue_page(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway
    query = {
        k: request.query_params[k].strip()
        for k in (*FILTERS, "after")
        if request.query_params.get(k, "").strip()
    }
    filters = {k: v for k, v in query.items() if k != "after"}
    problem, status = None, 200

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return supervision.list_items(session, query)

    try:
        listing = await run_in_threadpool(load)
    except ServiceError as error:
        listing = {"items": [], "next": None}
        problem, status = refusal(error, _lang(request)), status_of(error)[0]
    return _render(
        request,
        "supervision.html",
        principal,
        status=status,
        items=listing["items"],
        query=filters,
        first="?" + urlencode(filters),
        next_page="?" + urlencode({**filters, "after": listing["next"]}) if listing["next"] else None,
        kinds=supervision.KINDS,
        states=supervision.STATES,
        problem=problem,
    )


async def item_page(
    request: Request, form: dict[str, str] | None = None, problem: str | None = None, status: int = 200
) -> Response:
    principal = await reader(request) if form is None else request.state.staff.principal
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            source, number = supervision.parse_source(
                request.path_params["source"], request.path_params["id"]
            )
            return supervision.get_item(session, source, number)

    try:
        item = await run_in_threadpool(load)
    except ServiceError as error:
        return refused_page(request, principal, error)
    return _render(
        request,
        "supervision_item.html",
        principal,
        status=status,
        item=item,
        reasons=supervision.CLOSE_REASONS,
        form=form or {},
        problem=problem,
    )


async def act(request: Request) -> Response:
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway
    raw_source, raw_id = request.path_params["source"], request.path_params["id"]

    def work() -> str:
        with gateway.sessions.begin() as session:
            source, number = supervision.parse_source(raw_source, raw_id)
            return supervision.act(session, audit.actor_of(principal), source, number, form)

    try:
        action = await run_in_threadpool(work)
    except ServiceError as error:  # the page again, with what was typed and why it was refused
        return await item_page(request, form, refusal(error, _lang(request)), status_of(error)[0])
    text = translator(_lang(request))(f"done_{action}", "bureau")
    return await _after(request, f"/ui/supervision/{raw_source}/{raw_id}", "message", text)


def _step_id(text: str) -> int:
    number = whole_number(text, largest=INT32)
    if number is None:
        raise NotFound(f"no payer step {text}", [("/step_id", f"is not a step id (1 to {INT32})")])
    return number


def _shown(letter: dict[str, Any]) -> dict[str, str | None]:
    """The request and the answer as indented JSON, Chinese as written (the page escapes it)."""
    return {
        k: json.dumps(letter.get(k), ensure_ascii=False, indent=1) if letter.get(k) is not None else None
        for k in ("request", "response")
    }


async def dead_letters_page(request: Request) -> Response:
    """Every dead or refused step that may be rerun (the API's ``GET /v1/steps/failed``)."""
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            return decisions.failed_steps(session)

    return _render(request, "dead_letters.html", principal, steps=await run_in_threadpool(load))


async def step_page(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return step_letter(session, _step_id(request.path_params["step_id"]))

    try:
        letter = await run_in_threadpool(load)
    except ServiceError as error:
        return refused_page(request, principal, error)
    return _render(request, "dead_letter.html", principal, letter=letter, notice=False, shown=_shown(letter))


async def notice_page(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return notice_letter(session, supervision.parse_source("outbox", request.path_params["id"])[1])

    try:
        letter = await run_in_threadpool(load)
    except ServiceError as error:
        return refused_page(request, principal, error)
    return _render(request, "dead_letter.html", principal, letter=letter, notice=True, shown=_shown(letter))


async def rerun(request: Request) -> Response:
    """Rerun as the API does: the new attempt links to the one it replaces; audited with who."""
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, _ = posted
    gateway = request.app.state.gateway
    raw = request.path_params["step_id"]
    lang = _lang(request)

    def work() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            step_id = _step_id(raw)
            new = decisions.rerun_step(session, step_id)
            audit.record(
                session, "supervision.rerun", f"step:{step_id}", audit.actor_of(principal), new=new["step_id"]
            )
            return new

    try:
        new = await run_in_threadpool(work)
    except ServiceError as error:
        return await _after(request, f"/ui/dead-letters/{raw}", "problem", refusal(error, lang))
    text = translator(lang)("rerun_done", "bureau", new=new["step_id"], old=raw)
    return await _after(request, f"/ui/dead-letters/{new['step_id']}", "message", text)


async def resend(request: Request) -> Response:
    """Send a dead notice again as stored (the API's ``POST /v1/notices/{id}/resend``): the same
    key and bytes; audited with who and which delivery replaced which."""
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, _ = posted
    gateway = request.app.state.gateway
    raw, lang = request.path_params["id"], _lang(request)

    def work() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            number = supervision.parse_source("outbox", raw)[1]
            return resend_notice(session, number, audit.actor_of(principal))

    try:
        sent = await run_in_threadpool(work)
    except ServiceError as error:
        return await _after(request, f"/ui/dead-notices/{raw}", "problem", refusal(error, lang))
    text = translator(lang)(
        "resend_done", "bureau", id=sent["notice_id"], delivery=sent["delivery"], replaces=sent["replaces"]
    )
    return await _after(request, f"/ui/dead-notices/{sent['notice_id']}", "message", text)


routes = [
    Route("/ui/supervision", queue_page, methods=["GET"]),
    Route("/ui/supervision/{source}/{id}", item_page, methods=["GET"]),
    Route("/ui/supervision/{source}/{id}", act, methods=["POST"]),
    Route("/ui/dead-letters", dead_letters_page, methods=["GET"]),
    Route("/ui/dead-letters/{step_id}", step_page, methods=["GET"]),
    Route("/ui/dead-letters/{step_id}/rerun", rerun, methods=["POST"]),
    Route("/ui/dead-notices/{id}", notice_page, methods=["GET"]),
    Route("/ui/dead-notices/{id}/resend", resend, methods=["POST"]),
]
