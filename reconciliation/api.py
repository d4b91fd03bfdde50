"""Reconciliation in the public API: statements, runs, the work queue and settlement batches."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import schemas
from gateway.api import idempotency
from gateway.api.contract import contract
from gateway.api.endpoint import Call, authorise, endpoint, read_json
from gateway.audit import actor_of
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.services.keys import Role
from gateway.storage.tables import ReconciliationRunRow
from reconciliation import batch_api, batches, bulk, queue, settlement
from reconciliation.matching import MISMATCHES
from reconciliation.report import levels_of, run_view
from reconciliation.run import Reconciliation
from reconciliation.statements import import_statement

PAYER_FILTER = {"payer": {"type": "string", "description": "only this payer's"}}
QUEUE_FILTERS = {
    "kind": {"type": "string", "description": f"comma-separated kinds: {', '.join(MISMATCHES)}"},
    **PAYER_FILTER,
    "status": {
        "type": "string",
        "default": "active",
        "description": "comma-separated statuses (open, pending_approval, awaiting_payer, carried, resolved);"
        " active: every unresolved one",
    },
    "min_age_days": {
        "type": "integer",
        "minimum": 0,
        "description": "first seen at least this many days ago",
    },
    "min_amount_fen": {"type": "integer", "minimum": 0, "description": "|difference| at least this, in fen"},
    "claim_number": {"type": "string", "description": "only the items of claims with this number"},
    "provider": {"type": "string", "description": "only the items of this provider's claims"},
    "reference": {"type": "string", "description": "the items of claims settled under this payer reference"},
    "sort": {
        "type": "string",
        "default": "first_seen",
        "description": "first_seen, difference, payer, kind, status or id; '-' first for descending",
    },
    "after": {"type": "string", "description": "the next page: a page's next cursor"},
    "before": {"type": "string", "description": "the previous page: a page's previous cursor"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50, "description": "items a page"},
    "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "skip this many (prefer after)"},
}


def reconciliation_for(gateway: Any) -> Reconciliation:
    settings = gateway.settings
    return Reconciliation(
        gateway.sessions,
        window_days=settings.settlement_window_days,
        lease_seconds=settings.reconciliation_lease_seconds,
        clearing=settings.clearing_category,
    )


@endpoint(
    Role.PAYER,
    Role.BUREAU,
    body="statement",
    raw=("application/json", "text/csv"),
    status=201,
    response="statement-import",
    answers=(409,),
)
def post_statement(call: Call) -> Response:
    """A payer's settlement statement, JSON (schemas/statement.schema.json) or CSV."""
    payer_code = call.param("payer_code")
    if call.principal.role == Role.PAYER and call.principal.party_code != payer_code:
        raise Forbidden(f"a key of payer {call.principal.party_code} cannot send statements for {payer_code}")
    media, raw = call.body
    summary = import_statement(call.session, payer_code, raw, media, actor=actor_of(call.principal))
    return JSONResponse(summary, status_code=201)


def _business_date(document: Any) -> tuple[date, bool]:
    """The run's date is checked against the data's range by ``Reconciliation.start``."""
    faults = schemas.faults("run", document)
    if faults:
        raise Invalid(faults)
    return date.fromisoformat(document["business_date"]), bool(document.get("wait", False))


async def post_run(request: Request) -> Response:
    """Run (or re-run, or resume) the reconciliation of a business date; 202 while it works in
    the background, or 201 with the result when ``wait`` is true."""
    principal = await authorise(request, Role.RECONCILER, Role.BUREAU)
    day, wait = _business_date(await read_json(request))
    gateway = request.app.state.gateway
    once = idempotency.key_of(request)
    fingerprint = idempotency.digest(request, await request.body()) if once else ""

    def claim() -> Response | None:
        """A run works outside any one transaction: the key is claimed first, answered after."""
        assert once is not None
        with gateway.sessions.begin() as session:
            stored = idempotency.replay(session, principal, once, fingerprint)
        if stored is not None and stored.status_code == 0:
            raise Conflict(f"a request with Idempotency-Key {once!r} is still being answered")
        return stored

    def answer(response: Response) -> Response:
        if once is not None:
            with gateway.sessions.begin() as session:
                idempotency.remember(session, principal, once, response)
        return response

    def release() -> None:
        assert once is not None
        with gateway.sessions.begin() as session:
            idempotency.forget(session, principal, once)

    if once is not None:
        try:
            stored = await run_in_threadpool(claim)
        except IntegrityError:
            stored = await run_in_threadpool(claim)
        if stored is not None:
            return stored
    reconciliation = reconciliation_for(gateway)
    actor = actor_of(principal)
    try:
        if wait:
            result = await run_in_threadpool(reconciliation.run, day, actor=actor)
            return answer(JSONResponse(result, status_code=201))
        run_id = await run_in_threadpool(reconciliation.start, day, actor=actor)
    except Exception:
        if once is not None:
            await run_in_threadpool(release)
        raise
    threading.Thread(
        target=reconciliation.run, args=(day,), kwargs={"actor": actor}, daemon=True, name=f"reconcile-{day}"
    ).start()
    body = reconciliation.view(run_id)
    headers = {"Location": f"/v1/reconciliation/runs/{day}"}
    return answer(JSONResponse(body, status_code=202, headers=headers))


post_run.roles = frozenset({Role.RECONCILER, Role.BUREAU})  # type: ignore[attr-defined]
contract(
    roles=post_run.roles,  # type: ignore[attr-defined]
    body="run",
    media=("application/json",),
    status=(202, 201),
    response="run",
    answers=(409,),
    location=True,
    idempotent=True,
)(post_run)
post_run.body_schema = "run"  # type: ignore[attr-defined]
post_run.body_media = ("application/json",)  # type: ignore[attr-defined]


@endpoint(Role.RECONCILER, Role.BUREAU, response="runs")
def get_runs(call: Call) -> Response:
    """Recent runs, newest first, with counts per kind."""
    rows = call.session.scalars(
        select(ReconciliationRunRow).order_by(ReconciliationRunRow.business_date.desc()).limit(60)
    )
    return JSONResponse({"runs": [run_view(r) for r in rows]})


@endpoint(Role.RECONCILER, Role.BUREAU, response="run")
def get_run(call: Call) -> Response:
    """A run by id or business date: phase, progress, counts, and per payer, clearing category and
    period whether level 1's totals agreed and what level 2 found."""
    ref = call.param("run")
    run_id = whole_number(ref, largest=INT32)
    if run_id is not None:
        run = call.session.get(ReconciliationRunRow, run_id)
    else:
        try:
            day = date.fromisoformat(ref)
        except ValueError:
            raise NotFound(f"no run {ref}", [("/run", "is neither a run id nor a date")]) from None
        run = call.session.scalar(
            select(ReconciliationRunRow).where(ReconciliationRunRow.business_date == day)
        )
    if run is None:
        raise NotFound(f"no run {ref}")
    return JSONResponse(run_view(run, levels_of(call.session, run.id)))


@endpoint(Role.RECONCILER, Role.BUREAU, response="mismatches", query=QUEUE_FILTERS)
def get_mismatches(call: Call) -> Response:
    """The work queue: mismatches, oldest first (or by ``sort``), a keyset page at a time, by kind,
    payer, status, age, amount, claim number, provider and payer reference, with their totals."""
    query = dict(call.request.query_params)
    return JSONResponse(queue.list_mismatches(call.session, query, call.gateway.today()))


@endpoint(Role.RECONCILER, Role.BUREAU, response="mismatch")
def get_mismatch(call: Call) -> Response:
    return JSONResponse(
        queue.get_mismatch(call.session, queue.parse_id(call.param("id")), call.gateway.today())
    )


@endpoint(Role.RECONCILER, body="resolution", response="mismatch", answers=(409,))
def post_resolution(call: Call) -> Response:
    """Resolve a mismatch with an action and a note (audited; four eyes for large write-offs)."""
    gateway = call.gateway
    result = queue.resolve(
        call.session,
        call.principal,
        queue.parse_id(call.param("id")),
        call.body,
        write_off_approval_fen=gateway.settings.write_off_approval_fen,
        catalogue=gateway.catalogue,
        today=gateway.today(),
    )
    return JSONResponse(result)


@endpoint(Role.RECONCILER, body="bulk-resolution", response="bulk-resolution")
def post_bulk_resolution(call: Call) -> Response:
    """One action and note on a selection of mismatches (at most 500), each under the rules of one
    (its kind's actions, four eyes above the threshold, audited), each item's outcome answered."""
    gateway = call.gateway
    result = bulk.resolve_many(
        call.session,
        call.principal,
        call.body,
        write_off_approval_fen=gateway.settings.write_off_approval_fen,
        catalogue=gateway.catalogue,
        today=gateway.today(),
    )
    return JSONResponse(result)


@endpoint(Role.RECONCILER, Role.BUREAU, response="pending-adjustments", query=PAYER_FILTER)
def get_next_batch(call: Call) -> Response:
    """Net adjustments per payer not yet in a settlement batch."""
    return JSONResponse(
        {"pending": settlement.next_batch(call.session, call.request.query_params.get("payer"))}
    )


@endpoint(Role.RECONCILER, body="batch", status=201, response="batch", answers=(409,))
def post_batch(call: Call) -> Response:
    """Close the next settlement batch of a payer: 申报 of this month's batch (see settlement-batches)."""
    faults = schemas.faults("batch", call.body)
    if faults:
        raise Invalid(faults)
    today = call.gateway.today()
    document = {"payer_code": call.body["payer_code"], "period": batches.period_of(today)}
    declared = batches.declare(call.session, call.principal, document, today)
    return JSONResponse(settlement.batch_view(call.session, declared["batch_id"]), status_code=201)


@endpoint(
    Role.RECONCILER,
    Role.BUREAU,
    response="batch",
    produces=("text/csv",),
    path={
        "id": {
            "type": "string",
            "pattern": "^[0-9]+(\\.csv)?$",
            "description": "a batch id; 12.csv for its CSV",
        }
    },
)
def get_batch(call: Call) -> Response:
    """A settlement batch; ``.csv`` for the file a payer settles from."""
    ref = call.param("id")
    as_csv = ref.endswith(".csv")
    batch_id = ref.removesuffix(".csv")
    number = whole_number(batch_id, largest=INT32)
    if number is None:
        raise NotFound(f"no settlement batch {ref}", [("/id", f"is not a batch id (1 to {INT32})")])
    batch = settlement.batch_view(call.session, number)
    if not as_csv:
        return JSONResponse(batch)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["payer_code", "claim_id", "line_no", "amount_fen", "source"])
    for item in batch["items"]:
        writer.writerow(
            [batch["payer_code"], item["claim_id"], item["line_no"], item["amount_fen"], item["source"]]
        )
    name = f"settlement-batch-{batch['batch_id']}-{batch['payer_code']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [
    Route("/v1/payers/{payer_code}/statements", post_statement, methods=["POST"]),
    Route("/v1/reconciliation/runs", post_run, methods=["POST"]),
    Route("/v1/reconciliation/runs", get_runs, methods=["GET"]),
    Route("/v1/reconciliation/runs/{run}", get_run, methods=["GET"]),
    Route("/v1/reconciliation/mismatches", get_mismatches, methods=["GET"]),
    Route("/v1/reconciliation/mismatches/resolutions", post_bulk_resolution, methods=["POST"]),
    Route("/v1/reconciliation/mismatches/{id}", get_mismatch, methods=["GET"]),
    Route("/v1/reconciliation/mismatches/{id}/resolution", post_resolution, methods=["POST"]),
    Route("/v1/reconciliation/batches", get_next_batch, methods=["GET"]),
    Route("/v1/reconciliation/batches", post_batch, methods=["POST"]),
    Route("/v1/reconciliation/batches/{id}", get_batch, methods=["GET"]),
    *batch_api.routes,
]
