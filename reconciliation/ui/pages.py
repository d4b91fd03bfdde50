"""The staff pages. A reconciler signs in with their own API key, which opens a server-side
session (``reconciliation.ui.sessions``: the cookie holds a random token, never the key); every
form carries a CSRF token and every POST is checked for it and for our origin. Every page and
action goes through the same use cases as the API (``reconciliation.queue``,
``reconciliation.run``). Messages after an action travel in the session, never in the URL."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.api.problems import status_of
from gateway.audit import actor_of
from gateway.domain.numbers import whole_number
from gateway.errors import Forbidden, ServiceError
from gateway.services.claim_view import claim_view
from gateway.services.keys import Principal, Role, admit
from gateway.storage.tables import ReconciliationRunRow
from reconciliation import queue
from reconciliation.matching import MISMATCHES, OPEN_MISMATCH_STATUSES, MismatchKind
from reconciliation.report import run_view
from reconciliation.ui import signin
from reconciliation.ui.chart import chart
from reconciliation.ui.i18n import translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form
from reconciliation.ui.workbook import xlsx


async def runs_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> list[dict[str, Any]]:
        with gateway.sessions.begin() as session:
            rows = session.scalars(
                select(ReconciliationRunRow).order_by(ReconciliationRunRow.business_date.desc()).limit(30)
            )
            return [run_view(r) for r in rows]

    runs = await run_in_threadpool(load)
    kinds = [k.value for k in MismatchKind]
    return _render(
        request,
        "runs.html",
        principal,
        runs=runs,
        kinds=kinds,
        chart=chart(list(reversed(runs)), translator(_lang(request))),
        today=gateway.today().isoformat(),
    )


async def start_run(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    from reconciliation.api import reconciliation_for

    try:
        day = date.fromisoformat(form.get("business_date", ""))
    except ValueError:
        return await _after(request, "/ui/", "problem", "business_date: YYYY-MM-DD")
    try:
        run = reconciliation_for(request.app.state.gateway).run
        result = await run_in_threadpool(run, day, actor=actor_of(principal))
    except ServiceError as error:
        return await _after(request, "/ui/", "problem", error.detail)
    open_items = sum(result["counts"].get("open", {}).values())
    message = f"{result['business_date']}: {result['status']} · {open_items}"
    return await _after(request, "/ui/", "message", message)


def _query(request: Request) -> dict[str, str]:
    keys = ("kind", "payer", "status", "min_age_days", "min_amount_fen")
    return {k: request.query_params[k] for k in keys if request.query_params.get(k)}


async def _listing(request: Request, limit: int = 200) -> tuple[Principal | None, dict[str, Any]]:
    principal = await _principal(request)
    if principal is None:
        return None, {}
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return queue.list_mismatches(session, _query(request), gateway.today(), limit=limit)

    return principal, await run_in_threadpool(load)


async def queue_page(request: Request) -> Response:
    try:
        principal, listing = await _listing(request)
    except ServiceError as error:
        principal, listing = (
            await _principal(request),
            {"total": 0, "mismatches": [], "problem": error.detail},
        )
    if principal is None:
        return _to_login()
    query = _query(request)
    return _render(
        request,
        "queue.html",
        principal,
        total=listing["total"],
        mismatches=listing["mismatches"],
        query=query,
        query_string=urlencode(query),
        mismatch_kinds=MISMATCHES,
        statuses=[*OPEN_MISMATCH_STATUSES, "resolved", "cleared"],
        problem=listing.get("problem"),
    )


EXPORT_COLUMNS = (
    "id",
    "kind",
    "payer_code",
    "claim_id",
    "line_no",
    "expected_fen",
    "settled_fen",
    "difference_fen",
    "status",
    "first_seen",
    "age_days",
)


async def queue_csv(request: Request) -> Response:
    principal, listing = await _listing(request, limit=100_000)
    if principal is None:
        return _to_login()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for m in listing["mismatches"]:
        writer.writerow([m[c] for c in EXPORT_COLUMNS])
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the UTF-8 as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mismatches.csv"'},
    )


async def queue_xlsx(request: Request) -> Response:
    principal, listing = await _listing(request, limit=100_000)
    if principal is None:
        return _to_login()
    rows = [list(EXPORT_COLUMNS), *([m[c] for c in EXPORT_COLUMNS] for m in listing["mismatches"])]
    return Response(
        xlsx(rows, "mismatches"),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="mismatches.xlsx"'},
    )


async def mismatch_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> tuple[dict[str, Any], dict[str, Any] | None]:
        with gateway.sessions.begin() as session:
            found = queue.get_mismatch(session, queue.parse_id(request.path_params["id"]), gateway.today())
            try:
                claim = claim_view(session, principal, found["claim_id"])
            except ServiceError:
                claim = None
            return found, claim

    try:
        found, claim = await run_in_threadpool(load)
    except ServiceError as error:
        return _render(
            request,
            "queue.html",
            principal,
            status=status_of(error)[0],
            problem=error.detail,
            total=0,
            mismatches=[],
            query={},
            query_string="",
            mismatch_kinds=MISMATCHES,
            statuses=[],
        )
    actions = (
        ["approve"] if found["status"] == "pending_approval" else [a for a in queue.ACTIONS if a != "approve"]
    )
    return _render(
        request,
        "mismatch.html",
        principal,
        m=found,
        claim=claim,
        actions=actions,
        active=OPEN_MISMATCH_STATUSES,
    )


async def resolve(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    try:  # bureau staff see the queue; only reconcilers act on it
        admit(principal, (Role.RECONCILER,))
    except Forbidden:
        t = translator(_lang(request))
        return await _after(request, request.url.path.rsplit("/", 1)[0], "problem", t("reconcilers_only"))
    document: dict[str, Any] = {"action": form.get("action", ""), "note": form.get("note", "")}
    if form.get("amount_fen", "").strip():
        amount = form["amount_fen"].strip()
        number = whole_number(amount)
        document["amount_fen"] = amount if number is None else number
    gateway = request.app.state.gateway
    mismatch_id = request.path_params["id"]

    def act() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return queue.resolve(
                session,
                principal,
                queue.parse_id(mismatch_id),
                document,
                write_off_approval_fen=gateway.settings.write_off_approval_fen,
                catalogue=gateway.catalogue,
                today=gateway.today(),
            )

    back = f"/ui/mismatches/{mismatch_id}"
    try:
        result = await run_in_threadpool(act)
    except ServiceError as error:
        detail = error.detail if not error.faults else "; ".join(f"{p}: {d}" for p, d in error.faults)
        return await _after(request, back, "problem", detail)
    t = translator(_lang(request))
    message = f"{t(document['action'], 'actions')} → {t(result['status'], 'statuses')}"
    return await _after(request, back, "message", message)


routes = [
    *signin.routes,
    Route("/ui/", runs_page, methods=["GET"]),
    Route("/ui/runs", start_run, methods=["POST"]),
    Route("/ui/queue", queue_page, methods=["GET"]),
    Route("/ui/queue.csv", queue_csv, methods=["GET"]),
    Route("/ui/queue.xlsx", queue_xlsx, methods=["GET"]),
    Route("/ui/mismatches/{id}", mismatch_page, methods=["GET"]),
    Route("/ui/mismatches/{id}/resolve", resolve, methods=["POST"]),
    Mount("/ui/static", StaticFiles(packages=[("reconciliation.ui", "static")]), name="staff-static"),
]
