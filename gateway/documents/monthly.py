"""A provider's monthly 对账单: every claim of a service month with what it billed, what each
tier paid, what the member pays and where it stands, as XLSX (XlsxWriter, row by row with
constant memory) and as CSV (UTF-8 with a BOM, for Excel). Rows are read from the database in
batches and written to a temporary file as they come, so a month of any size is never held whole."""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any

import xlsxwriter
from sqlalchemy import and_, case, exists, false, func, or_, select
from sqlalchemy.orm import Session

from gateway.documents.translations import Translator
from gateway.domain.beijing_time import BEIJING
from gateway.domain.identity import mask_id_number
from gateway.errors import Invalid, NotFound
from gateway.services.keys import Principal, Role
from gateway.storage.tables import (
    ClaimRow,
    LinePaymentRow,
    MemberRow,
    PayerRow,
    PayerStepRow,
    ProductRow,
    ProviderRow,
)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
COLUMNS = (
    "monthly.claim_number",
    "monthly.period_start",
    "monthly.period_end",
    "monthly.member",
    "monthly.billed",
    "monthly.tier1",
    "monthly.tier2",
    "monthly.tier3",
    "monthly.member_share",
    "monthly.status",
    "monthly.coordinated_at",
)
AMOUNTS = range(4, 9)  # the columns in yuan
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Month:
    provider_code: str
    first: date
    after: date  # the first day of the next month
    payer: str | None

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m")


def month_of(
    session: Session, principal: Principal, provider_code: str, month: str, payer: str | None
) -> Month:
    """The month asked for, if ``principal`` may read it: a provider its own, the bureau any."""
    if principal.role == Role.PROVIDER and principal.party_code != provider_code:
        raise NotFound(f"no provider {provider_code}")  # as for claims: another's is not there
    if session.get(ProviderRow, provider_code) is None:
        raise NotFound(f"no provider {provider_code}")
    found = _MONTH.match(month)
    if not found:
        raise Invalid([("/month", f"expected a service month as YYYY-MM, got {month!r}")])
    year, number = int(found[1]), int(found[2])
    if payer is not None and session.get(PayerRow, payer) is None:
        raise Invalid([("/payer", f"no payer {payer}")])
    after = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return Month(provider_code, date(year, number, 1), after, payer)


def rows(session: Session, month: Month) -> Iterator[tuple[Any, ...]]:
    """The month's claims by claim number: (claim number, period start, end, masked ID number,
    billed, tier 1, 2 and 3 paid, member share, status, coordinated at) with amounts in fen."""
    in_month = and_(
        ClaimRow.provider_code == month.provider_code,
        ClaimRow.period_start >= month.first,
        ClaimRow.period_start < month.after,
    )

    def paid(tier: int) -> Any:
        return func.sum(case((ProductRow.tier == tier, LinePaymentRow.paid_fen), else_=0)).label(
            f"tier{tier}"
        )

    payments = (
        select(LinePaymentRow.claim_id, paid(1), paid(2), paid(3))
        .join(ProductRow, ProductRow.product_code == LinePaymentRow.product_code)
        .join(
            ClaimRow,
            and_(ClaimRow.claim_id == LinePaymentRow.claim_id, ClaimRow.round == LinePaymentRow.round),
        )
        .where(in_month, LinePaymentRow.provisional == false())
        .group_by(LinePaymentRow.claim_id)
        .subquery()
    )
    statement = (
        select(
            ClaimRow.claim_number,
            ClaimRow.period_start,
            ClaimRow.period_end,
            MemberRow.id_number,
            ClaimRow.billed_fen,
            func.coalesce(payments.c.tier1, 0),
            func.coalesce(payments.c.tier2, 0),
            func.coalesce(payments.c.tier3, 0),
            ClaimRow.member_responsibility_fen,
            ClaimRow.status,
            ClaimRow.coordinated_at,
        )
        .join(MemberRow, MemberRow.member_id == ClaimRow.member_id)
        .outerjoin(payments, payments.c.claim_id == ClaimRow.claim_id)
        .where(in_month)
        .order_by(ClaimRow.claim_number)
    )
    if month.payer is not None:
        statement = statement.where(
            exists().where(
                PayerStepRow.claim_id == ClaimRow.claim_id,
                or_(PayerStepRow.payer_code == month.payer, PayerStepRow.administrator_code == month.payer),
            )
        )
    for row in session.execute(statement.execution_options(yield_per=BATCH)):
        number, start, end, id_number, *amounts, member, status, coordinated = row
        member_share = member if status == "coordinated" else None
        yield (
            number,
            start,
            end,
            mask_id_number(id_number),
            *[int(a) for a in amounts],
            member_share,
            status,
            _beijing_date(coordinated),
        )


def _beijing_date(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).date()


def write_xlsx(out: IO[bytes], records: Iterator[tuple[Any, ...]], t: Translator) -> None:
    """Chinese (or English) headers, amounts as yuan numbers shown ``#,##0.00``, dates as dates,
    the header frozen and filtered, and a totals row of SUBTOTAL formulas (with their values)."""
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet(t("monthly.sheet"))
    head = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1, "text_wrap": True})
    money = book.add_format({"num_format": "#,##0.00"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    total_label = book.add_format({"bold": True, "top": 1})
    total_money = book.add_format({"bold": True, "top": 1, "num_format": "#,##0.00"})
    for column, width in enumerate((26, 12, 12, 22, 14, 16, 14, 16, 14, 10, 12)):
        sheet.set_column(column, column, width)
    sheet.write_row(0, 0, [t(c) for c in COLUMNS], head)
    sheet.freeze_panes(1, 0)
    totals = [0] * len(COLUMNS)
    r = 0
    for r, record in enumerate(records, start=1):
        for c, value in enumerate(record):
            if value is None:
                continue
            if c in AMOUNTS:
                totals[c] += value
                sheet.write_number(r, c, value / 100, money)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif c == 9:
                sheet.write_string(r, c, t(f"status.{value}"))
            else:
                sheet.write_string(r, c, str(value))
    sheet.autofilter(0, 0, max(r, 1), len(COLUMNS) - 1)
    last = r + 1
    sheet.write_string(last, 0, t("monthly.totals"), total_label)
    for c in AMOUNTS:
        letter = xlsxwriter.utility.xl_col_to_name(c)
        formula = f"=SUBTOTAL(109,{letter}2:{letter}{max(last, 2)})"  # 109: the rows the filter shows
        sheet.write_formula(last, c, formula, total_money, totals[c] / 100)
    book.close()


def write_csv(out: IO[str], records: Iterator[tuple[Any, ...]], t: Translator) -> None:
    """UTF-8 with a BOM (Excel opens it as such), yuan with two decimals, dates ISO; no totals
    row, so that a program reads every row as a claim."""
    writer = csv.writer(out)
    writer.writerow([t(c) for c in COLUMNS])
    for record in records:
        writer.writerow([_csv_cell(c, value, t) for c, value in enumerate(record)])


def _csv_cell(column: int, value: Any, t: Translator) -> str:
    if value is None:
        return ""
    if column in AMOUNTS:
        sign, fen = ("-" if value < 0 else ""), abs(value)
        return f"{sign}{fen // 100}.{fen % 100:02d}"
    if column == 9:
        return t(f"status.{value}")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def spool(kind: str, session: Session, month: Month, t: Translator) -> IO[bytes]:
    """The month written to an anonymous temporary file, rewound for streaming."""
    target: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    if kind == "xlsx":
        write_xlsx(target, rows(session, month), t)
    else:
        text = open(target.fileno(), "w", encoding="utf-8-sig", newline="", closefd=False)  # noqa: SIM115
        with text:
            write_csv(text, rows(session, month), t)
    target.seek(0)
    return target
