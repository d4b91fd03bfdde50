"""The bureau's fund page (issue 22 §1): paid per tier, payer and product by month, and by
district, care setting and grade; members' responsibility; fixed benefits apart; each tier-1
fund's budget against actual and the months of payment its balance leaves, with a warning; a
chart and an XLSX workbook (xlsxwriter). Figures from ``gateway.services.fund``."""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import xlsxwriter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import audit
from gateway.api.problems import status_of
from gateway.errors import ServiceError
from gateway.services import fund
from gateway.services.keys import Principal
from reconciliation.ui.bureau_pages import bureau_form, bureau_only, reader, refused_page
from reconciliation.ui.fund_chart import by_month
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import render as _render
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year(request: Request) -> int:
    text = request.query_params.get("year", "").strip()
    if text.isdigit() and len(text) == 4:
        return int(text)
    return request.app.state.gateway.today().year if not text else 0


async def _load(request: Request) -> dict[str, Any]:
    gateway, year = request.app.state.gateway, _year(request)

    def load() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return fund.report(session, year)

    return await run_in_threadpool(load)


async def fund_page(
    request: Request,
    principal: Principal | None = None,
    form: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    if principal is None:
        principal = await _principal(request)
        if principal is None:
            return _to_login()
    if (refused := bureau_only(request, principal)) is not None:
        return refused
    t = translator(_lang(request))
    try:
        figures = await _load(request)
    except ServiceError as error:
        return refused_page(request, principal, error)
    chart = by_month(figures["by_month"], figures["year"], t("paid_by_month", "bureau"), t("tier"))
    return _render(
        request,
        "fund.html",
        principal,
        status=status,
        f=figures,
        chart=chart,
        form=form or {"year": str(figures["year"]), "warn_months": "3"},
        problem=problem,
    )


async def set_figures(request: Request) -> Response:
    posted = await bureau_form(request)
    if isinstance(posted, Response):
        return posted
    principal, form = posted
    gateway = request.app.state.gateway

    def work() -> dict[str, Any]:
        with gateway.sessions.begin() as session:
            return fund.set_figures(session, audit.actor_of(principal), form)

    try:
        done = await run_in_threadpool(work)
    except ServiceError as error:  # the page again, with what was typed
        return await fund_page(request, principal, form, refusal(error, _lang(request)), status_of(error)[0])
    text = translator(_lang(request))("figures_saved", "bureau")
    return await _after(request, f"/ui/fund?year={done['year']}", "message", text)


def workbook(figures: dict[str, Any], t: Any) -> bytes:
    """One sheet per view, headers in the page's language, amounts in yuan (#,##0.00)."""
    out = BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})

    def sheet(name: str, headers: list[str], rows: list[list[Any]], money_from: int) -> None:
        ws = book.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", name)[:31])  # Excel forbids these
        ws.write_row(0, 0, headers, head)
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(headers) - 1, 14)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if c >= money_from and isinstance(value, int):
                    ws.write_number(r, c, value / 100, money)
                else:
                    ws.write(r, c, value)

    sheet(
        t("paid_by_month", "bureau"),
        [t("month", "bureau"), t("tier"), t("payer"), t("product"), t("paid")],
        [
            [r["month"], r["tier"], r["payer_code"], r["product_code"], r["paid_fen"]]
            for r in figures["by_month"]
        ],
        4,
    )
    for name in fund.DIMENSIONS:
        sheet(
            t(f"by_{name}", "bureau"),
            [t("month", "bureau"), t("tier"), t(f"dim_{name}", "bureau"), t("paid")],
            [[r["month"], r["tier"], r["value"], r["paid_fen"]] for r in figures["by"][name]],
            3,
        )
    sheet(
        t("member"),
        [t("month", "bureau"), t("member")],
        [[r["month"], r["member_fen"]] for r in figures["member"]],
        1,
    )
    sheet(
        t("fixed", "bureau"),
        [t("month", "bureau"), t("payer"), t("product"), t("paid")],
        [[r["month"], r["payer_code"], r["product_code"], r["amount_fen"]] for r in figures["fixed"]],
        3,
    )
    sheet(
        t("funds", "bureau"),
        [t("payer"), t("budget", "bureau"), t("paid"), t("balance", "bureau"), t("months_left", "bureau")],
        [
            [
                r["payer_code"],
                r["budget_fen"] or "",
                r["paid_fen"],
                r["balance_fen"] if r["balance_fen"] is not None else "",
                str(r["months_left"] or ""),
            ]
            for r in figures["funds"]
        ],
        1,
    )
    book.close()
    return out.getvalue()


async def fund_xlsx(request: Request) -> Response:
    principal = await reader(request)
    if isinstance(principal, Response):
        return principal
    t = translator(_lang(request))
    try:
        figures = await _load(request)
    except ServiceError as error:
        return refused_page(request, principal, error)
    body = await run_in_threadpool(workbook, figures, t)
    name = f"fund-{figures['year']}.xlsx"
    return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [
    Route("/ui/fund", fund_page, methods=["GET"]),
    Route("/ui/fund", set_figures, methods=["POST"]),
    Route("/ui/fund.xlsx", fund_xlsx, methods=["GET"]),
]
