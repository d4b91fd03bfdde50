"""The bureau's routing page (issue 22 §1): each tier-1 payer's district → administrator
versions with their dates (current, future and past), and a form that adds dated versions for
the districts a change moves, through ``route_versions.add_versions`` (checked, refused if it
would re-route a claim already routed, audited as ``routes.versioned`` with who). A refused
form comes back as typed, with the field at fault named. Bureau only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import audit
from gateway.api.problems import status_of
from gateway.errors import Invalid, ServiceError
from gateway.reference import route_versions
from gateway.services.keys import Principal
from gateway.storage.tables import ProductRow
from reconciliation.ui.bureau_pages import bureau_form, reader
from reconciliation.ui.i18n import Translate, refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.signin import after as _after

LONGEST_CHANGE = 500  # districts in one dated change
NO_ADMINISTRATOR = "-"  # typed for a district no longer routed from the date


def _tier1_payers(session: Any) -> list[str]:
    return sorted(session.scalars(select(ProductRow.payer_code).where(ProductRow.tier == 1).distinct()))


async def routing_page(
    request: Request,
    principal: Principal | None = None,
    form: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    if principal is None:
        found = await reader(request)
        if isinstance(found, Response):
            return found
        principal = found
    gateway = request.app.state.gateway
    today = gateway.today()

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            return [route_versions.list_routes(session, p, today) for p in _tier1_payers(session)]

    return _render(
        request,
        "routing.html",
        principal,
        status=status,
        tables=await run_in_threadpool(load),
        today=today.isoformat(),
        form=form or {},
        problem=problem,
    )


def _changes(text: str) -> list[dict[str, str | None]]:
    """ "district administrator" per line ("-": no administrator from the date)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        raise Invalid([("/routes", "at least one line")])
    if len(lines) > LONGEST_CHANGE:
        raise Invalid([("/routes", f"at most {LONGEST_CHANGE} districts")])
    faults = [(f"/routes/{i}", "a district and an administrator") for i, p in enumerate(lines) if len(p) != 2]
    if faults:
        raise Invalid(faults)
    return [{"district": d, "administrator_code": None if a == NO_ADMINISTRATOR else a} for d, a in lines]


def _refusal(error: ServiceError, t: Translate, lang: str) -> str:
    """The refusal in the page's words: the effective date, or the line and field at fault."""
    if isinstance(error, route_versions.Backdated):
        return t(
            "route_backdated",
            "bureau",
            claim=error.claim_number,
            day=error.first_day,
            district=error.district,
        )
    texts = []
    for pointer, _ in error.faults:
        parts = pointer.strip("/").split("/")
        if parts[0] == "routes" and len(parts) > 1 and parts[1].isdigit():
            field = parts[2] if len(parts) > 2 else "line"
            texts.append(t(f"route_fault_{field}", "bureau", line=int(parts[1]) + 1))
        elif parts[0] in ("effective_from", "routes", "payer_code"):
            texts.append(t(f"route_fault_{parts[0]}", "bureau"))
    return " ".join(dict.fromkeys(texts)) or refusal(error, lang)


async def add_versions(request: Request) -> Response:
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway
    payer, lang = form.get("payer_code", ""), _lang(request)
    today = gateway.today()

    def work() -> None:
        with gateway.sessions.begin() as session:
            if payer not in _tier1_payers(session):
                raise Invalid([("/payer_code", "a tier-1 payer")])
            when = route_versions.effective_date(form.get("effective_from", ""))
            changes = _changes(form.get("routes", ""))
            route_versions.add_versions(session, payer, when, changes, audit.actor_of(principal), today)

    try:
        await run_in_threadpool(work)
    except ServiceError as error:  # the page again, with the change as typed and the field named
        text = _refusal(error, translator(lang), lang)
        return await routing_page(request, principal, form, text, status_of(error)[0])
    return await _after(request, "/ui/routing", "message", translator(lang)("routes_saved", "bureau"))


routes = [
    Route("/ui/routing", routing_page, methods=["GET"]),
    Route("/ui/routing", add_versions, methods=["POST"]),
]
