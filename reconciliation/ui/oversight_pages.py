"""The bureau's oversight pages (issue 22 §1 item 4): administrator scorecards by month, the
tier-1 routing table (district → administrator, edited here through the same use case as
``PUT /v1/payers/{code}/routes``, audited), and a search of the audit trail. Bureau only."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import audit
from gateway.api.problems import status_of
from gateway.errors import Invalid, ServiceError
from gateway.reference import routing
from gateway.services.audit_search import search
from gateway.services.keys import Principal
from gateway.services.scorecards import scorecards
from gateway.storage.tables import ProductRow
from reconciliation.ui.bureau_pages import bureau_form, reader, refused_page
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.signin import after as _after

LONGEST_TABLE = 500  # districts in one payer's routing table


async def scorecards_page(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway
    text = request.query_params.get("year", "").strip()
    year = int(text) if text.isdigit() and len(text) == 4 else (gateway.today().year if not text else 0)

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            return scorecards(session, year)

    try:
        cards = await run_in_threadpool(load)
    except ServiceError as error:
        return refused_page(request, principal, error)
    return _render(request, "scorecards.html", principal, cards=cards, year=year, duration=duration)


UNITS = {"zh": {"d": "天", "h": "小时", "min": "分钟", "s": "秒"}}


def duration(seconds: float | None, lang: str = "en") -> str:
    """A decision time as people read it: seconds, minutes, hours or days."""
    if seconds is None:
        return "—"
    words = UNITS.get(lang, {})
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * 2:
            return f"{seconds / size:.1f} {words.get(unit, unit)}"
    return f"{seconds:.1f} {words.get('s', 's')}"


def _tier1_payers(session: Any) -> list[str]:
    return list(session.scalars(select(ProductRow.payer_code).where(ProductRow.tier == 1).distinct()))


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

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            return [routing.list_routes(session, payer) for payer in sorted(_tier1_payers(session))]

    tables = await run_in_threadpool(load)
    typed = {
        t["payer_code"]: "\n".join(f"{r['district']} {r['administrator_code']}" for r in t["routes"])
        for t in tables
    }
    if form is not None:
        typed[form.get("payer_code", "")] = form.get("routes", "")
    return _render(
        request,
        "routing.html",
        principal,
        status=status,
        tables=tables,
        typed=typed,
        problem=problem,
        edited=(form or {}).get("payer_code"),
    )


def _routes(text: str) -> list[dict[str, str]]:
    """ "district administrator" per line, as the API's routes document."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) > LONGEST_TABLE:
        raise Invalid([("/routes", f"at most {LONGEST_TABLE} districts")])
    faults = [
        (f"/routes/{i}", "a district and an administrator")
        for i, parts in enumerate(lines)
        if len(parts) != 2
    ]
    if faults:
        raise Invalid(faults)
    return [{"district": d, "administrator_code": a} for d, a in lines]


async def set_routes(request: Request) -> Response:
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway
    payer = form.get("payer_code", "")

    def work() -> None:
        with gateway.sessions.begin() as session:
            if payer not in _tier1_payers(session):
                raise Invalid([("/payer_code", "a tier-1 payer")])
            routing.set_routes(session, payer, _routes(form.get("routes", "")), audit.actor_of(principal))

    try:
        await run_in_threadpool(work)
    except ServiceError as error:  # the page again, with the table as typed
        return await routing_page(
            request, principal, form, refusal(error, _lang(request)), status_of(error)[0]
        )
    return await _after(
        request, "/ui/routing", "message", translator(_lang(request))("routes_saved", "bureau")
    )


AUDIT_FILTERS = ("action", "subject", "actor", "from", "to")


async def audit_page(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    gateway = request.app.state.gateway
    filters = {
        k: request.query_params[k].strip() for k in AUDIT_FILTERS if request.query_params.get(k, "").strip()
    }
    query = {
        **filters,
        **({"before": request.query_params["before"]} if request.query_params.get("before") else {}),
    }
    problem, status = None, 200

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return search(session, query)

    try:
        found = await run_in_threadpool(load)
    except ServiceError as error:
        found = {"entries": [], "next": None}
        problem, status = refusal(error, _lang(request)), status_of(error)[0]
    for entry in found["entries"]:
        entry["detail_text"] = json.dumps(entry["detail"], ensure_ascii=False)[:600]
    return _render(
        request,
        "audit.html",
        principal,
        status=status,
        entries=found["entries"],
        query=filters,
        next_page="?" + urlencode({**filters, "before": found["next"]}) if found["next"] else None,
        problem=problem,
    )


routes = [
    Route("/ui/scorecards", scorecards_page, methods=["GET"]),
    Route("/ui/routing", routing_page, methods=["GET"]),
    Route("/ui/routing", set_routes, methods=["POST"]),
    Route("/ui/audit", audit_page, methods=["GET"]),
]
