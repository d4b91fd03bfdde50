"""A month's claims as rows of a sheet (batch upload): one row a claim line, the claim's own fields
repeated on each of its rows, grouped by claim number. Pure: cells in, claim documents out (the
claim JSON of ``schemas/claim.schema.json``, checked by the same path as ``POST /v1/claims``), and a
fault's JSON pointer in a claim back to the row and column it came from.

Amounts are in yuan (people read yuan), at most two decimals, converted to fen exactly. A cell
that does not convert is passed on as it is, so that the claim's schema names the fault; only what
the schema cannot see (an amount with three decimals) is a fault of its own here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Cell = str  # a cell as text, stripped; "" when empty


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the English header (also accepted as a header) and the fault's column name
    header: str  # the template's Chinese header
    path: str  # where it goes: "/…" in the claim, else in the line ("visit/…" in its visit)
    kind: str = "text"  # text | integer | yuan | date | datetime | number | setting | method | exclusion


COLUMNS: tuple[Column, ...] = (
    Column("claim_number", "申报单号", "/claim_number"),
    Column("member_id_number", "身份证号", "/member_id_number"),
    Column("assessment_id", "评估编号", "/assessment_id"),
    Column("period_start", "服务期起", "/period/start", "date"),
    Column("period_end", "服务期止", "/period/end", "date"),
    Column("line_no", "行号", "line_no", "integer"),
    Column("service_code", "服务代码", "service_code"),
    Column("setting", "服务场景", "setting", "setting"),
    Column("method", "结算方式", "method", "method"),
    Column("service_date", "服务日期", "service_date", "date"),
    Column("service_end_date", "服务结束日期", "service_end_date", "date"),
    Column("quantity", "数量", "quantity", "integer"),
    Column("unit_price_yuan", "单价(元)", "unit_price_fen", "yuan"),
    Column("billed_yuan", "金额(元)", "billed_fen", "yuan"),
    Column("exclusion", "除外类别", "exclusion", "exclusion"),
    Column("caregiver_id", "护理员编号", "visit/caregiver_id"),
    Column("check_in", "签到时间", "visit/check_in", "datetime"),
    Column("check_out", "签退时间", "visit/check_out", "datetime"),
    Column("lat", "纬度", "visit/lat", "number"),
    Column("lon", "经度", "visit/lon", "number"),
    Column("visit_method", "核验方式", "visit/method"),
)
BY_KEY = {c.key: c for c in COLUMNS}
CLAIM_COLUMNS = tuple(c for c in COLUMNS if c.path.startswith("/"))
OPTIONAL = frozenset(
    {"service_end_date", "exclusion", "caregiver_id", "check_in", "check_out", "lat", "lon", "visit_method"}
)
EXAMPLE_ROW = {  # the template's one example row (the domain brief's worked example)
    "claim_number": "P3301020001-202611-0001",
    "member_id_number": "11010519491231002X",
    "assessment_id": "e0ac25ab-c224-4a5b-a9bb-17a35bf9ca04",
    "period_start": "2026-11-01",
    "period_end": "2026-11-30",
    "line_no": "1",
    "service_code": "INST-BED-DAY",
    "setting": "机构护理",
    "method": "按床日",
    "service_date": "2026-11-01",
    "service_end_date": "2026-11-30",
    "quantity": "30",
    "unit_price_yuan": "150.00",
    "billed_yuan": "4500.00",
}
# Codes may be written as the template's Chinese words too.
WORDS: dict[str, dict[str, str]] = {
    "setting": {
        "机构护理": "institutional",
        "社区护理": "community",
        "居家上门护理": "home",
        "居家亲情护理": "family",
    },
    "method": {"按床日": "per_diem", "按项目": "per_item", "按服务包": "package"},
    "exclusion": {
        "医保支付": "medical_insurance",
        "工伤保险支付": "work_injury",
        "第三方负担": "third_party",
        "公共卫生负担": "public_health",
    },
}
_YUAN = re.compile(r"^-?\d{1,13}(\.\d{1,2})?$")
_INTEGER = re.compile(r"^-?\d{1,20}$")


@dataclass(frozen=True, slots=True)
class RowFault:
    row: int  # the sheet's row number (the header is row 1)
    column: str | None  # a column's key, or None for the row as a whole
    detail: str  # English; the catalogue gives the other languages (gateway.services.batch_faults)


@dataclass(frozen=True, slots=True)
class SheetClaim:
    """A claim as the sheet gave it: its document and the sheet row of each line (in line order)."""

    claim_number: str
    document: dict[str, Any]
    rows: tuple[int, ...]

    def locate(self, pointer: str) -> tuple[int, str | None]:
        """The row and column a fault's pointer in this claim's document came from."""
        match = re.match(r"^/lines/(\d+)(/.*)?$", pointer)
        if match and int(match.group(1)) < len(self.rows):
            row, inner = self.rows[int(match.group(1))], (match.group(2) or "")[1:]
            found = [c for c in COLUMNS if not c.path.startswith("/") and inner.startswith(c.path)]
            return row, max(found, key=lambda c: len(c.path)).key if found else None
        column = next((c.key for c in CLAIM_COLUMNS if pointer.startswith(c.path)), None)
        return self.rows[0], column

    def in_rows(self, detail: str) -> str:
        """A fault's text with the lines it names by pointer named by row (``/lines/4`` → ``row 6``)."""

        def row(match: re.Match[str]) -> str:
            n = int(match.group(1))
            return f"row {self.rows[n]}" if n < len(self.rows) else match.group(0)

        return re.sub(r"/lines/(\d+)", row, detail)


def header_keys(header: Sequence[Cell]) -> tuple[list[str | None], list[RowFault]]:
    """Each header cell's column key (the Chinese header or the English key; None for an empty
    trailing cell), and the faults of the header row: an unknown, repeated or missing column."""
    names = {_plain(c.header): c.key for c in COLUMNS} | {c.key: c.key for c in COLUMNS}
    keys: list[str | None] = []
    faults: list[RowFault] = []
    for n, cell in enumerate(header):
        key = names.get(_plain(cell))
        if cell and key is None:
            faults.append(RowFault(1, None, f"column {n + 1} ({cell!r}) is not a column of the template"))
        elif key is not None and key in keys:
            faults.append(RowFault(1, key, f"column {key} appears twice"))
        keys.append(key)
    for column in COLUMNS:
        if column.key not in keys and column.key not in OPTIONAL:
            faults.append(RowFault(1, column.key, f"the column {column.header} ({column.key}) is missing"))
    return keys, faults


def _plain(header: str) -> str:
    return header.strip().replace("（", "(").replace("）", ")").replace(" ", "").lower()


def claims_of(rows: Sequence[tuple[int, Mapping[str, Cell]]]) -> tuple[list[SheetClaim], list[RowFault]]:
    """Rows (sheet row number, cells by column key) grouped by claim number into claim documents,
    in order of each claim's first row; and the faults no claim's schema can name: a cell that is
    not an amount, a row without a claim number, a claim field that differs between its rows."""
    faults: list[RowFault] = []
    groups: dict[str, list[tuple[int, Mapping[str, Cell]]]] = {}
    for row, cells in rows:
        number = cells.get("claim_number", "")
        if not number:
            faults.append(RowFault(row, "claim_number", "is required"))
            continue
        groups.setdefault(number, []).append((row, cells))
    claims = []
    for number, members in groups.items():
        first_row, first = members[0]
        for row, cells in members[1:]:
            for column in CLAIM_COLUMNS:
                if cells.get(column.key, "") != first.get(column.key, ""):
                    faults.append(
                        RowFault(row, column.key, f"differs from row {first_row} of claim {number}")
                    )
        document: dict[str, Any] = {}
        for column in CLAIM_COLUMNS:
            value = _value(column, first.get(column.key, ""), first_row, faults)
            if value is not None:
                _put(document, column.path[1:].split("/"), value)
        document["lines"] = [_line(row, cells, faults) for row, cells in members]
        claims.append(SheetClaim(number, document, tuple(row for row, _ in members)))
    return claims, faults


def _line(row: int, cells: Mapping[str, Cell], faults: list[RowFault]) -> dict[str, Any]:
    line: dict[str, Any] = {}
    for column in COLUMNS:
        if column.path.startswith("/"):
            continue
        value = _value(column, cells.get(column.key, ""), row, faults)
        if value is not None:
            _put(line, column.path.split("/"), value)
    return line


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _value(column: Column, text: Cell, row: int, faults: list[RowFault]) -> Any:
    """The cell as the claim's JSON wants it; the text itself when it does not convert (the schema
    then names the fault); None when empty (a required field is then named as missing)."""
    if not text:
        return None
    kind = column.kind
    if kind in WORDS:
        return WORDS[kind].get(text, text)
    if kind == "integer":
        return int(text) if _INTEGER.match(text) else text
    if kind == "yuan":
        if not _YUAN.match(text):
            faults.append(
                RowFault(row, column.key, f"{text!r} is not an amount in yuan (2 decimals at most)")
            )
            return text
        return int(Decimal(text) * 100)
    if kind == "number":
        try:
            return float(Decimal(text))
        except InvalidOperation:
            return text
    if kind == "date":
        return text.replace("/", "-")
    if kind == "datetime":
        return _beijing_moment(text)
    return text


def _beijing_moment(text: str) -> str:
    """A check-in time; written without an offset, it is Beijing time (as the sheet's reader sees it)."""
    try:
        moment = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return moment.isoformat() + "+08:00"
    return moment.isoformat()
