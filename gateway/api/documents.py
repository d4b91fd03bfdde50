"""Documents for people over the API: a claim's coordinated statement (结算单) as HTML or PDF,
and a provider's monthly 对账单 as XLSX or CSV. Chinese by default; ``?lang=en`` or
Accept-Language for English."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.api.endpoint import Call, endpoint
from gateway.documents import monthly
from gateway.documents.html import content_security_policy, render_page
from gateway.documents.pdf import font, render_pdf
from gateway.documents.settlement_statement import settlement_statement
from gateway.documents.translations import Translator, negotiate
from gateway.services.keys import Role

JSON, PDF, HTML = "application/json", "application/pdf", "text/html"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
PRIVATE = {"Cache-Control": "private, no-store"}  # a statement names a member's claim
LANG = {
    "lang": {
        "type": "string",
        "enum": ["zh", "en"],
        "description": "the document's language (else Accept-Language, else zh)",
    }
}
PAYER = {
    "payer": {
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        "description": "only the claims routed to this payer (or tier-1 administrator)",
    }
}
MONTHLY = {**LANG, **PAYER}


def translator(request: Request) -> Translator:
    return Translator(negotiate(request.query_params.get("lang"), request.headers.get("accept-language")))


def wanted(request: Request) -> str:
    """What the Accept header prefers of JSON, PDF and HTML; JSON on a tie or for ``*/*``."""
    best, best_q = JSON, -1.0
    for part in request.headers.get("accept", "*/*").split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = {PDF: PDF, HTML: HTML, JSON: JSON, "application/*": JSON, "*/*": JSON}.get(media)
        if kind is not None and q > 0 and (q > best_q or (q == best_q and kind == JSON)):
            best, best_q = kind, q
    return best


def statement_response(call: Call, media: str) -> Response:
    t = translator(call.request)
    if media == PDF:
        font(call.gateway.settings.statement_font)  # a missing font is a 503 before any work
    statement = settlement_statement(
        call.session, call.principal, call.param("claim_id"), call.gateway.catalogue, t
    )
    if media == PDF:
        name = f"statement-{statement.claim_number}.pdf"
        return Response(
            render_pdf(statement, call.gateway.settings.statement_font),
            media_type=PDF,
            headers={**PRIVATE, "Content-Disposition": _disposition(name, inline=True)},
        )
    headers = {**PRIVATE, "Content-Security-Policy": content_security_policy(), "Content-Language": t.lang}
    return HTMLResponse(render_page(statement), headers=headers)


@endpoint(Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER, produces=(HTML,), query=LANG)
def get_statement_html(call: Call) -> Response:
    """A claim's coordinated statement (结算单) as a printable HTML page, scoped as the claim is."""
    return statement_response(call, HTML)


@endpoint(Role.PROVIDER, Role.PAYER, Role.BUREAU, Role.RECONCILER, produces=(PDF,), query=LANG)
def get_statement_pdf(call: Call) -> Response:
    """A claim's coordinated statement (结算单) as a PDF, scoped as the claim is (503 without the font)."""
    return statement_response(call, PDF)


def _monthly(call: Call, kind: str) -> Response:
    t = translator(call.request)
    month = monthly.month_of(
        call.session,
        call.principal,
        call.param("provider_code"),
        call.param("month"),
        call.request.query_params.get("payer"),
    )
    spooled = monthly.spool(kind, call.session, month, t)
    suffix = f"-{month.payer}" if month.payer else ""
    name = f"{t('monthly.sheet')}-{month.provider_code}-{month.label}{suffix}.{kind}"
    return StreamingResponse(
        _chunks(spooled),
        media_type=XLSX if kind == "xlsx" else CSV,
        headers={**PRIVATE, "Content-Disposition": _disposition(name)},
    )


@endpoint(Role.PROVIDER, Role.BUREAU, produces=(XLSX,), query=MONTHLY)
def get_monthly_xlsx(call: Call) -> Response:
    """A provider's monthly 对账单 as an Excel workbook (``?payer=`` for one payer's claims)."""
    return _monthly(call, "xlsx")


@endpoint(Role.PROVIDER, Role.BUREAU, produces=("text/csv",), query=MONTHLY)
def get_monthly_csv(call: Call) -> Response:
    """A provider's monthly 对账单 as CSV, UTF-8 with a BOM (``?payer=`` for one payer's claims)."""
    return _monthly(call, "csv")


def _chunks(spooled: IO[bytes], size: int = 65536) -> Iterator[bytes]:
    try:
        while chunk := spooled.read(size):
            yield chunk
    finally:
        spooled.close()


def _disposition(name: str, inline: bool = False) -> str:
    plain = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"{'inline' if inline else 'attachment'}; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}"


routes = [
    Route("/v1/claims/{claim_id}/statement.html", get_statement_html, methods=["GET"]),
    Route("/v1/claims/{claim_id}/statement.pdf", get_statement_pdf, methods=["GET"]),
    Route("/v1/providers/{provider_code}/monthly-statements/{month}.xlsx", get_monthly_xlsx, methods=["GET"]),
    Route("/v1/providers/{provider_code}/monthly-statements/{month}.csv", get_monthly_csv, methods=["GET"]),
]
