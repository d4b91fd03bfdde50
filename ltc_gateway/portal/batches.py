"""Batch upload in the portal: the month's claims as the template's CSV or XLSX
(``gateway.services.claim_batches``, as ``POST /v1/claims/batches``), the batch page with its
per-row faults in Chinese or English, and its progress while a large file runs in the
background (a meta refresh: the policy allows no inline script)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.domain.claim_rows import COLUMNS
from gateway.errors import NotFound, ServiceError
from gateway.services import batch_files, claim_batches
from ltc_gateway.portal import web
from ltc_gateway.portal.claims import _problem, _within

log = logging.getLogger("ltc_gateway.portal")


async def upload_page(request: Request) -> Response:
    if await web.signed_in(request) is None:
        return web.to_login()
    return web.render(request, "upload.html", accept="all")


async def upload(request: Request) -> Response:
    signed = await web.signed_form(request)
    if isinstance(signed, Response):
        return signed
    principal, form = signed
    gateway = request.app.state.gateway
    settings = gateway.settings
    t = web.translator(web.lang(request))
    accept = str(form.get("accept", "all"))
    raw = form.get("file")
    if not isinstance(raw, bytes) or not raw:
        return web.render(request, "upload.html", status=422, accept=accept, problem=t("file_missing"))
    if len(raw) > settings.max_batch_bytes:
        problem = t("file_too_large", limit=settings.max_batch_bytes)
        return web.render(request, "upload.html", status=413, accept=accept, problem=problem)
    kind = batch_files.kind_of(str(form.get("file.type", "")), raw)

    def begin(session: Session) -> claim_batches.Started:
        return claim_batches.start(session, principal, raw, kind, accept, settings.max_batch_rows)

    try:
        started = await _within(request, begin)
    except ServiceError as error:
        return web.render(request, "upload.html", status=422, accept=accept, problem=_problem(error, t))
    work = started.work
    if work is not None and started.view["progress"]["rows_total"] <= settings.batch_sync_rows:
        await run_in_threadpool(claim_batches.process, gateway.sessions, work, gateway.catalogue)
    elif work is not None:
        threading.Thread(
            target=claim_batches.run_guarded,
            args=(gateway.sessions, work, gateway.catalogue, log.error),
            daemon=True,
            name=f"portal-batch-{work.batch_id}",
        ).start()
    return RedirectResponse(f"/portal/batches/{started.view['batch_id']}", status_code=303)


async def batch_page(request: Request) -> Response:
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    batch_id = request.path_params["batch_id"]
    try:
        batch = await _within(request, lambda s: claim_batches.batch_view(s, principal, batch_id))
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    running = batch["status"] in claim_batches.RUNNING
    return web.render(request, "batch.html", batch=batch, refresh=running)


async def template(request: Request) -> Response:
    if await web.signed_in(request) is None:
        return web.to_login()
    kind = "csv" if request.url.path.endswith(".csv") else "xlsx"
    headers = [c.key for c in COLUMNS] if web.lang(request) == "en" else None
    media = batch_files.XLSX if kind == "xlsx" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="claims-template.{kind}"'
    return Response(
        batch_files.template(kind, headers), media_type=media, headers={"Content-Disposition": disposition}
    )


routes = [
    Route("/portal/batches", upload_page, methods=["GET"]),
    Route("/portal/batches", upload, methods=["POST"]),
    Route("/portal/batches/template.xlsx", template, methods=["GET"]),
    Route("/portal/batches/template.csv", template, methods=["GET"]),
    Route("/portal/batches/{batch_id}", batch_page, methods=["GET"]),
]
