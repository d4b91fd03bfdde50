"""The queue's exports: every item the filters select (not just a page), in the queue's order,
with headers in the page's language, amounts in yuan and dates as dates.

CSV is streamed as it is read (a chunk of rows at a time by keyset). The XLSX is written by
xlsxwriter in constant-memory mode (rows go to a temporary file as they come) and then streamed
from that file; a selection beyond a worksheet's 1,048,576 rows cannot be one sheet, so it is
refused with a message that offers the CSV, which has no such limit."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import xlsxwriter
from sqlalchemy import func, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from gateway.errors import ServiceError
from gateway.storage.tables import MismatchRow
from reconciliation.queue_listing import every_row, filtered, queue_date
from reconciliation.ui.i18n import refusal, translator
from reconciliation.ui.queue_pages import listing_query
from reconciliation.ui.render import lang as _lang
from reconciliation.ui.render import to_login as _to_login
from reconciliation.ui.signin import after as _after
from reconciliation.ui.signin import current_principal as _principal

XLSX_ROWS = 1_048_576  # a worksheet's rows, the header's included
COLUMNS = (
    ("id", "id"),
    ("kind", "kind"),
    ("payer", "payer_code"),
    ("claim_number", "claim_number"),
    ("provider", "provider_code"),
    ("claim", "claim_id"),
    ("line", "line_no"),
    ("expected", "expected_fen"),
    ("settled", "settled_fen"),
    ("difference", "difference_fen"),
    ("status", "status"),
    ("first_seen", "first_seen"),
    ("age_days", "age_days"),
)
MONEY = {"expected_fen", "settled_fen", "difference_fen"}
MONEY_COLUMNS = [c for c, (_, field) in enumerate(COLUMNS) if field in MONEY]


def _yuan(fen: int) -> str:
    """12.50 for 1250: two decimals, no grouping, so a program reads it as a number."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


def _records(rows: Iterator[dict[str, Any]], t: Any) -> Iterator[list[Any]]:
    """Each item as the export's cells: dates as dates, words translated (money still in fen)."""
    for m in rows:
        out: list[Any] = []
        for _, field in COLUMNS:
            value = m[field]
            if field == "first_seen":
                value = date.fromisoformat(value)
            elif field == "kind":
                value = t(value, "kinds")
            elif field == "status":
                value = t(value, "statuses")
            out.append("" if value is None else value)
        yield out


def _rows(gateway: Any, query: dict[str, str]) -> Iterator[dict[str, Any]]:
    with gateway.sessions.begin() as session:
        yield from every_row(session, query, gateway.today())


async def queue_csv(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    try:
        query = listing_query(request)
    except ServiceError as error:
        return await _after(request, "/ui/queue", "problem", refusal(error, _lang(request)))
    t = translator(_lang(request))
    gateway = request.app.state.gateway

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")  # a BOM so spreadsheet programs read the UTF-8 as UTF-8
        writer.writerow([t(header) for header, _ in COLUMNS])
        for n, record in enumerate(_records(_rows(gateway, query), t), start=1):
            writer.writerow([_yuan(v) if c in MONEY_COLUMNS else v for c, v in enumerate(record)])
            if n % 2000 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mismatches.csv"'},
    )


def write_xlsx(path: str, rows: Iterator[dict[str, Any]], t: Any) -> None:
    """Headers in the page's language, frozen and filtered; yuan shown ``#,##0.00``; dates as
    dates; a last row of totals (SUBTOTAL, so it follows the filter)."""
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet(t("queue")[:31])
    head = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True, "top": 1})
    bold_money = book.add_format({"bold": True, "top": 1, "num_format": "#,##0.00"})
    for column, width in enumerate((9, 14, 12, 16, 14, 38, 7, 13, 13, 13, 12, 12, 8)):
        sheet.set_column(column, column, width)
    sheet.write_row(0, 0, [t(header) for header, _ in COLUMNS], head)
    sheet.freeze_panes(1, 0)
    totals = dict.fromkeys(MONEY_COLUMNS, 0)
    r = 0
    for r, record in enumerate(_records(rows, t), start=1):
        for c, value in enumerate(record):
            if c in totals:
                totals[c] += value
                sheet.write_number(r, c, value / 100, money)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif isinstance(value, int):
                sheet.write_number(r, c, value)
            elif value != "":  # an empty cell is left out (a claim the gateway does not know)
                sheet.write_string(r, c, str(value))
    sheet.autofilter(0, 0, max(r, 1), len(COLUMNS) - 1)
    last = r + 1
    sheet.write_string(last, 0, t("totals"), bold)
    for c in MONEY_COLUMNS:
        letter = xlsxwriter.utility.xl_col_to_name(c)
        sheet.write_formula(
            last, c, f"=SUBTOTAL(109,{letter}2:{letter}{max(last, 2)})", bold_money, totals[c] / 100
        )
    book.close()


async def queue_xlsx(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _to_login()
    lang = _lang(request)
    try:
        query = listing_query(request)
    except ServiceError as error:
        return await _after(request, "/ui/queue", "problem", refusal(error, lang))
    t = translator(lang)
    gateway = request.app.state.gateway

    def count() -> int:
        with gateway.sessions.begin() as session:
            selected = filtered(session, query, queue_date(session, gateway.today()))
            return (
                session.scalar(
                    select(func.count()).select_from(selected.with_only_columns(MismatchRow.id).subquery())
                )
                or 0
            )

    try:
        n = await run_in_threadpool(count)
    except ServiceError as error:
        return await _after(request, "/ui/queue", "problem", refusal(error, lang))
    if n + 2 > XLSX_ROWS:  # the header and the totals row take two
        text = t("export_too_large", count=f"{n:,}", limit=f"{XLSX_ROWS:,}")
        back = "/ui/queue?" + request.url.query if request.url.query else "/ui/queue"
        return await _after(request, back, "problem", text)
    handle, path = tempfile.mkstemp(prefix="ltc-queue-", suffix=".xlsx")
    os.close(handle)
    try:
        await run_in_threadpool(write_xlsx, path, _rows(gateway, query), t)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename="mismatches.xlsx",
        background=BackgroundTask(os.unlink, path),
    )
