"""The bureau's oversight pages (issue 22 §1 item 4): administrator scorecards by month and a
search of the audit trail with the latest check of its chain (``audit verify``, started here
in the background and recorded as an audit entry). The routing page is ``routing_pages``.
Bureau only."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import audit
from gateway.api.problems import status_of
from gateway.errors import ServiceError
from gateway.services.audit_search import search
from gateway.services.scorecards import scorecards
from gateway.storage.tables import AuditEntryRow
from reconciliation.ui.bureau_pages import bureau_form, reader, refused_page
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.signin import after as _after


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
            return {**search(session, query), "verified": last_verified(session)}

    try:
        found = await run_in_threadpool(load)
    except ServiceError as error:
        found = {"entries": [], "next": None, "verified": None}
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
        verified=found["verified"],
    )


CHAIN = "audit:chain"  # the subject of every recorded check of the chain
log = logging.getLogger("ltc_gateway.audit")


def last_verified(session: Any) -> dict[str, Any] | None:
    """The latest recorded check of the chain (by subject, which is indexed), if any."""
    entry = session.scalar(
        select(AuditEntryRow)
        .where(AuditEntryRow.subject == CHAIN, AuditEntryRow.action == "audit.verified")
        .order_by(AuditEntryRow.id.desc())
        .limit(1)
    )
    return None if entry is None else {"at": entry.at, "actor": entry.actor, **(entry.detail or {})}


async def verify_chain(request: Request) -> Response:
    """Walks the whole chain (as ``ltc-gateway audit verify``) in a thread of its own: at a
    city's volume that is longer than a request should take. Its verdict is an audit entry."""
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, _ = posted
    sessions, actor = request.app.state.gateway.sessions, audit.actor_of(principal)

    def work() -> None:
        try:
            with sessions.begin() as session:
                verdict = audit.verify(session)
            with sessions.begin() as session:
                found = {
                    "intact": verdict.intact,
                    "entries": verdict.entries,
                    "problems": verdict.problems[:5],
                }
                audit.record(session, "audit.verified", CHAIN, actor, **found)
        except Exception:
            log.exception("the audit chain's check started from the console failed")

    threading.Thread(target=work, daemon=True, name="audit-verify").start()
    return await _after(
        request, "/ui/audit", "message", translator(_lang(request))("verify_started", "bureau")
    )


routes = [
    Route("/ui/scorecards", scorecards_page, methods=["GET"]),
    Route("/ui/audit", audit_page, methods=["GET"]),
    Route("/ui/audit/verify", verify_chain, methods=["POST"]),
]
