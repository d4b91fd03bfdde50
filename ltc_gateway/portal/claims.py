"""A provider's claims in the portal: the list (the API's filters and cursor pages, scoped to the
provider by ``gateway.services.claim_lists``), a claim with its statement (结算单, HTML and PDF),
the monthly 对账单 (XLSX), and the two corrections: void, and replace by uploading the corrected
claim in the batch template (the sheet the provider already fills in every month)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.api.documents import CSV, PDF, PRIVATE, XLSX, _chunks, _disposition
from gateway.documents import monthly
from gateway.documents.html import render_body, statement_css
from gateway.documents.pdf import font, render_pdf
from gateway.documents.settlement_statement import settlement_statement
from gateway.documents.translations import Translator
from gateway.domain.claim_rows import RowFault, claims_of
from gateway.errors import NotFound, ServiceError
from gateway.services import batch_faults, batch_files, claim_lists, corrections
from gateway.services.claim_view import claim_view
from gateway.services.keys import Principal
from ltc_gateway.portal import web

T = TypeVar("T")
LIST_KEPT = (*claim_lists.FILTERS, *claim_lists.PAGING)


async def _within(request: Request, work: Callable[[Any], T]) -> T:
    gateway = request.app.state.gateway

    def run() -> T:
        with gateway.sessions.begin() as session:
            return work(session)

    return await run_in_threadpool(run)


def _problem(error: ServiceError, t: Any) -> str:
    if error.faults:
        return "; ".join(f"{pointer.strip('/') or t('file')}: {detail}" for pointer, detail in error.faults)
    return error.detail


async def claims_page(request: Request) -> Response:
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    query = [(k, v) for k, v in request.query_params.multi_items() if k in LIST_KEPT and v]
    filters = dict(query)
    try:
        page = await _within(request, lambda s: claim_lists.list_claims(s, principal, query))
    except ServiceError as error:
        t = web.translator(web.lang(request))
        page, problem = {"claims": [], "next_cursor": None}, _problem(error, t)
        return web.render(request, "claims.html", status=400, page=page, filters=filters, problem=problem)
    more = None
    if page["next_cursor"]:
        more = "?" + urlencode({**filters, "cursor": page["next_cursor"]})
    return web.render(request, "claims.html", page=page, filters=filters, more=more)


async def claim_page(request: Request, status: int = 200, **values: Any) -> Response:
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    claim_id = request.path_params["claim_id"]
    try:
        claim = await _within(request, lambda s: _own_view(s, principal, claim_id))
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    return web.render(request, "claim.html", status=status, claim=claim, **values)


def _own_view(session: Any, principal: Principal, claim_id: str) -> dict[str, Any]:
    corrections.own_claim(session, principal, claim_id)  # the provider's own, or NotFound
    return claim_view(session, principal, claim_id)


async def statement(request: Request) -> Response:
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    gateway = request.app.state.gateway
    pdf = request.url.path.endswith(".pdf")
    t = Translator(web.lang(request))
    claim_id = request.path_params["claim_id"]
    try:
        if pdf:
            font(gateway.settings.statement_font)
        found = await _within(
            request, lambda s: settlement_statement(s, principal, claim_id, gateway.catalogue, t)
        )
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    except ServiceError as error:  # the PDF's font is missing: say so on the claim's page
        return await claim_page(request, status=503, problem=error.detail)
    if pdf:
        body = await run_in_threadpool(render_pdf, found, gateway.settings.statement_font)
        name = f"statement-{found.claim_number}.pdf"
        return Response(body, media_type=PDF, headers={**PRIVATE, "Content-Disposition": _disposition(name)})
    # the statement's body in a portal page: its links stay in the portal (the API's page links /v1)
    return web.render(request, "statement.html", statement=Markup(render_body(found)), claim_id=claim_id)


async def statement_stylesheet(request: Request) -> Response:
    """The statement's own stylesheet as a file, so the page needs no inline style."""
    return Response(statement_css(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


async def monthly_sheet(request: Request) -> Response:
    """The 对账单 of a month (``?month=YYYY-MM``), as the API's XLSX or CSV."""
    principal = await web.signed_in(request)
    if principal is None:
        return web.to_login()
    kind = "csv" if request.url.path.endswith(".csv") else "xlsx"
    t = Translator(web.lang(request))
    wanted = request.query_params.get("month", "")
    gateway = request.app.state.gateway
    try:
        month = await _within(
            request, lambda s: monthly.month_of(s, principal, principal.party_code, wanted, None)
        )
    except ServiceError as error:
        page: dict[str, Any] = {"claims": [], "next_cursor": None}
        tt = web.translator(web.lang(request))
        return web.render(
            request, "claims.html", status=400, page=page, filters={}, problem=_problem(error, tt)
        )
    session = gateway.sessions()
    try:
        spooled = await run_in_threadpool(monthly.spool, kind, session, month, t)
    finally:
        session.close()
    name = f"{t('monthly.sheet')}-{month.provider_code}-{month.label}.{kind}"
    return StreamingResponse(
        _chunks(spooled),
        media_type=XLSX if kind == "xlsx" else CSV,
        headers={**PRIVATE, "Content-Disposition": _disposition(name)},
    )


async def void(request: Request) -> Response:
    signed = await web.signed_form(request)
    if isinstance(signed, Response):
        return signed
    principal, form = signed
    claim_id = request.path_params["claim_id"]
    reason = str(form.get("reason", "")).strip()
    t = web.translator(web.lang(request))
    try:
        await _within(request, lambda s: corrections.void_claim(s, principal, claim_id, {"reason": reason}))
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    except ServiceError as error:
        return await claim_page(request, status=422, problem=_problem(error, t), reason=reason)
    return await web.after(request, f"/portal/claims/{claim_id}", "message", t("voided"))


async def replace(request: Request) -> Response:
    """A corrected claim as the batch template's rows (one claim number), put in the claim's place."""
    signed = await web.signed_form(request)
    if isinstance(signed, Response):
        return signed
    principal, form = signed
    claim_id = request.path_params["claim_id"]
    t = web.translator(web.lang(request))
    raw = form.get("file")
    if not isinstance(raw, bytes) or not raw:
        return await claim_page(request, status=422, problem=t("file_missing"))
    catalogue = request.app.state.gateway.catalogue
    kind = batch_files.kind_of(str(form.get("file.type", "")), raw)
    faults: list[RowFault] = []

    def run(session: Any) -> None:
        corrections.own_claim(session, principal, claim_id)
        sheet = batch_files.read_sheet(raw, kind, max_rows=500)
        claims, row_faults = claims_of(sheet.rows)
        faults.extend(row_faults)
        if faults:
            return
        if len(claims) != 1:
            faults.append(RowFault(0, None, t("one_claim")))
            return
        try:
            corrections.replace_claim(session, principal, claim_id, claims[0].document, catalogue)
        except ServiceError as error:
            if not error.faults:
                raise
            for pointer, detail in error.faults:
                row, column = claims[0].locate(pointer)
                faults.append(RowFault(row, column, detail))

    try:
        await _within(request, run)
    except NotFound:
        return web.render(request, "not_found.html", status=404)
    except ServiceError as error:
        return await claim_page(request, status=422, problem=_problem(error, t))
    if faults:  # by row and column, in Chinese or English, as the batch page shows them
        shown = [batch_faults.described(f, None) for f in faults]
        return await claim_page(request, status=422, problem=t("replace_faults"), replace_faults=shown)
    return await web.after(request, f"/portal/claims/{claim_id}", "message", t("replaced"))


routes = [
    Route("/portal/", claims_page, methods=["GET"]),
    Route("/portal/statement.css", statement_stylesheet, methods=["GET"]),
    Route("/portal/monthly.xlsx", monthly_sheet, methods=["GET"]),
    Route("/portal/monthly.csv", monthly_sheet, methods=["GET"]),
    Route("/portal/claims/{claim_id}", claim_page, methods=["GET"]),
    Route("/portal/claims/{claim_id}/statement", statement, methods=["GET"]),
    Route("/portal/claims/{claim_id}/statement.pdf", statement, methods=["GET"]),
    Route("/portal/claims/{claim_id}/void", void, methods=["POST"]),
    Route("/portal/claims/{claim_id}/replace", replace, methods=["POST"]),
]
