"""The staff pages of settlement batches: the list (with the adjustments waiting for a batch and,
for a reconciler, the form to declare one), a batch's page (its steps, totals in yuan, items,
history, downloads, and a form for each action that its state and the person's role allow), and
the downloads. Every action goes through ``reconciliation.batches``, as the API does; forms go
through ``signin.signed_form`` (session, CSRF, our origin)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api.problems import status_of
from gateway.errors import ServiceError
from reconciliation import batch_files, batches, clearing, settlement
from reconciliation.ui.i18n import translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal
from reconciliation.ui.signin import signed_form as _signed_form

FILTERS = ("payer", "period", "status", "offset")


def _problem(error: ServiceError) -> str:
    return error.detail if not error.faults else "; ".join(f"{p}: {d}" for p, d in error.faults)


async def list_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway
    query = {k: request.query_params[k] for k in FILTERS if request.query_params.get(k)}

    def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with gateway.sessions.begin() as session:
            return batches.list_batches(session, principal, query), settlement.next_batch(session)

    problem = None
    try:
        found, pending = await run_in_threadpool(load)
    except ServiceError as error:
        found, pending, problem = {"total": 0, "offset": 0, "batches": []}, [], _problem(error)
    return _render(
        request,
        "batches.html",
        principal,
        found=found,
        pending=pending,
        query=query,
        states=clearing.STATES,
        may_declare=clearing.may(clearing.TRANSITIONS["declare"], batches.role_of(principal)),
        this_period=batches.period_of(gateway.today()),
        problem=problem,
        pages=_pages(query, found),
    )


def _pages(query: dict[str, str], found: dict[str, Any]) -> dict[str, str]:
    """The previous and next pages' query strings (same filters), where there are such pages."""
    offset, shown = int(found.get("offset", 0)), len(found["batches"])
    links = {}
    if offset > 0:
        links["previous"] = urlencode({**query, "offset": max(0, offset - batches.PAGE)})
    if offset + shown < found["total"]:
        links["next"] = urlencode({**query, "offset": offset + shown})
    return links


async def declare(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway
    document = {"payer_code": form.get("payer_code", "").strip(), "period": form.get("period", "").strip()}

    def act() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return batches.declare(session, principal, document, gateway.today())

    try:
        batch = await run_in_threadpool(act)
    except ServiceError as error:
        return await _after(request, "/ui/settlement-batches", "problem", _problem(error))
    t = translator(_lang(request))
    message = f"#{batch['batch_id']} {t('declared', 'clearing')} · {batch['item_count']}"
    return await _after(request, f"/ui/settlement-batches/{batch['batch_id']}", "message", message)


async def batch_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    gateway = request.app.state.gateway

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return batches.view(session, principal, batches.parse_id(request.path_params["id"]))

    try:
        batch = await run_in_threadpool(load)
    except ServiceError as error:
        return _render(
            request,
            "batches.html",
            principal,
            status=status_of(error)[0],
            problem=error.detail,
            found={"total": 0, "offset": 0, "batches": []},
            pending=[],
            pages={},
            query={},
            states=clearing.STATES,
            may_declare=False,
            this_period="",
        )
    place = clearing.STATES.index(batch["status"])
    return _render(request, "batch.html", principal, b=batch, states=clearing.STATES, place=place)


async def transition(request: Request) -> Response:
    posted = await _signed_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway
    batch_id = request.path_params["id"]
    document: dict[str, Any] = {"action": form.get("action", ""), "note": form.get("note", "")}
    if form.get("payment_reference", "").strip():
        document["payment_reference"] = form["payment_reference"].strip()

    def act() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return batches.transition(
                session,
                principal,
                batches.parse_id(batch_id),
                document,
                approval_fen=gateway.settings.settlement_approval_fen,
            )

    back = f"/ui/settlement-batches/{batch_id}"
    try:
        batch = await run_in_threadpool(act)
    except ServiceError as error:
        return await _after(request, back, "problem", _problem(error))
    t = translator(_lang(request))
    return await _after(request, back, "message", f"→ {t(batch['status'], 'clearing')}")


def _download(document: str, kind: str) -> Any:
    async def download(request: Request) -> Response:
        principal = await _principal(request)
        if principal is None:
            return _to_login()
        gateway = request.app.state.gateway

        def load() -> dict[str, Any]:
            with gateway.sessions.begin() as session:
                return batches.view(
                    session, principal, batches.parse_id(request.path_params["id"]), item_limit=None
                )

        try:
            batch = await run_in_threadpool(load)
        except ServiceError as error:
            return Response(error.detail, status_code=status_of(error)[0], media_type="text/plain")
        content, media, name = batch_files.export(batch, document, kind)
        disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
        return Response(content, media_type=media, headers={"Content-Disposition": disposition})

    return download


routes = [
    Route("/ui/settlement-batches", list_page, methods=["GET"]),
    Route("/ui/settlement-batches", declare, methods=["POST"]),
    Route("/ui/settlement-batches/{id}.xlsx", _download("batch", "xlsx"), methods=["GET"]),
    Route("/ui/settlement-batches/{id}.csv", _download("batch", "csv"), methods=["GET"]),
    Route("/ui/settlement-batches/{id}/payment-file.xlsx", _download("payment", "xlsx"), methods=["GET"]),
    Route("/ui/settlement-batches/{id}/payment-file.csv", _download("payment", "csv"), methods=["GET"]),
    Route("/ui/settlement-batches/{id}", batch_page, methods=["GET"]),
    Route("/ui/settlement-batches/{id}/transitions", transition, methods=["POST"]),
]
