"""A settlement batch as files people and banks read: the batch (one row per item) and its
payment file (one row per payee: the net amount, the payment reference), each as XLSX (xlsxwriter:
Chinese headers, yuan shown ``#,##0.00``, dates as dates, the header frozen and filtered, a totals
row) and as CSV (UTF-8 with a BOM, yuan with two decimals, no totals row so a program reads every
row as data). Built from ``reconciliation.batches.view``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from reconciliation.clearing import STATE_LABELS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
ITEM_HEADERS = ("理赔号", "理赔ID", "明细行", "护理机构", "业务日期", "金额（元）", "来源")
PAYMENT_HEADERS = ("收款方类型", "收款方", "笔数", "净额（元）", "支付方", "结算期间", "支付凭证号")
MEMBER, PROVIDER = "参保人", "护理机构"


def item_rows(batch: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            i["claim_number"] or "",
            i["claim_id"],
            i["line_no"],
            i["provider_code"] or "",
            date.fromisoformat(i["business_date"]),
            i["amount_fen"],
            i["source"],
        )
        for i in batch["items"]
    ]


def payment_rows(batch: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per payee: the provider for care lines; for a claim-level item (line 0, a fixed
    benefit, paid to the person) the member, named by the claim's number (no personal data)."""
    payees: dict[tuple[str, str], list[int]] = {}
    for i in batch["items"]:
        if i["line_no"] == 0:
            key = (MEMBER, f"理赔 {i['claim_number'] or i['claim_id']}")
        else:
            key = (PROVIDER, i["provider_code"] or i["claim_id"])
        payees.setdefault(key, []).append(i["amount_fen"])
    reference = batch["payment_reference"] or ""
    return [
        (kind, payee, len(amounts), sum(amounts), batch["payer_code"], batch["period"], reference)
        for (kind, payee), amounts in sorted(payees.items())
    ]


def _yuan_text(fen: int) -> str:
    sign, fen = ("-" if fen < 0 else ""), abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def to_csv(headers: Sequence[str], rows: list[tuple[Any, ...]], money: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [
                _yuan_text(v) if c == money else v.isoformat() if isinstance(v, date) else v
                for c, v in enumerate(row)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(
    title: str, headers: Sequence[str], rows: list[tuple[Any, ...]], money: int, batch: dict[str, Any]
) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "default_date_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet(title)
    head = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    yuan = book.add_format({"num_format": "#,##0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True, "top": 1})
    bold_yuan = book.add_format({"bold": True, "top": 1, "num_format": "#,##0.00"})
    sheet.set_column(0, len(headers) - 1, 16)
    sheet.set_column(1, 1, 38 if headers is ITEM_HEADERS else 16)
    sheet.write_row(0, 0, headers, head)
    sheet.freeze_panes(1, 0)
    r = 0
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if c == money:
                sheet.write_number(r, c, value / 100, yuan)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif isinstance(value, int):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    sheet.autofilter(0, 0, max(r, 1), len(headers) - 1)
    last = r + 1
    sheet.write_string(last, 0, "合计", bold)
    letter = xl_col_to_name(money)
    total = sum(row[money] for row in rows)
    formula = f"=SUBTOTAL(109,{letter}2:{letter}{max(last, 2)})"  # 109: the rows the filter shows
    sheet.write_formula(last, money, formula, bold_yuan, total / 100)
    about = book.add_worksheet("批次信息")
    about.set_column(0, 1, 20)
    facts = (
        ("批次号", batch["batch_id"]),
        ("支付方", batch["payer_code"]),
        ("结算期间", batch["period"]),
        ("状态", STATE_LABELS.get(batch["status"], batch["status"])),
        ("笔数", batch["item_count"]),
        ("净额（元）", batch["net_fen"] / 100),
        ("支付凭证号", batch["payment_reference"] or ""),
    )
    for n, (label, value) in enumerate(facts):
        about.write_string(n, 0, label, head)
        about.write(n, 1, value, yuan if label == "净额（元）" else None)
    book.close()
    return out.getvalue()


def export(batch: dict[str, Any], document: str, kind: str) -> tuple[bytes, str, str]:
    """(content, media type, file name) of ``document`` (``batch`` or ``payment``) as ``kind``
    (``xlsx`` or ``csv``)."""
    if document == "payment":
        headers, rows, money, title = PAYMENT_HEADERS, payment_rows(batch), 3, "拨付文件"
    else:
        headers, rows, money, title = ITEM_HEADERS, item_rows(batch), 5, "结算批次"
    name = f"settlement-batch-{batch['batch_id']}-{batch['payer_code']}-{batch['period']}"
    name += "-payment" if document == "payment" else ""
    if kind == "xlsx":
        return to_xlsx(title, headers, rows, money, batch), XLSX, f"{name}.xlsx"
    return to_csv(headers, rows, money), CSV, f"{name}.csv"
