"""The batch-upload file: its template (XLSX or CSV, Chinese headers and one example row) and reading
an uploaded CSV or XLSX into rows of text, bounded: bytes, rows, and for XLSX the size the zip
would unpack to (a zip bomb is refused before any XML is parsed) and a read-only, row-at-a-time
sheet reader (openpyxl ``read_only``)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from gateway.domain.claim_rows import COLUMNS, EXAMPLE_ROW, Cell, RowFault, header_keys
from gateway.errors import Invalid, TooLarge

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
ZIP_MAGIC = b"PK\x03\x04"
UNPACK_RATIO = 16  # an XLSX unpacks to a few times its size; far more is a bomb, not a sheet
MAX_UNPACKED = 64 * 1024 * 1024  # and never more than this, whatever the file's size
MAX_CELL = 256  # characters a cell may hold: no field of a claim is longer


@dataclass(frozen=True, slots=True)
class Sheet:
    rows: list[tuple[int, Mapping[str, Cell]]]  # (sheet row number, cells by column key)
    kind: str  # csv | xlsx


def kind_of(media: str, raw: bytes) -> str:
    """csv or xlsx, by the media type, else by the bytes (a zip is an XLSX)."""
    if media == XLSX or (media not in (CSV, "text/plain") and raw.startswith(ZIP_MAGIC)):
        return "xlsx"
    return "csv"


def read_sheet(raw: bytes, kind: str, max_rows: int) -> Sheet:
    """The file's rows (blank ones skipped), each cell as stripped text. ``Invalid`` names the
    header's faults (row 1) or a file that is not what it says; ``TooLarge`` a file of more than
    ``max_rows`` rows or one that would unpack too large."""
    cells = _xlsx_rows(raw) if kind == "xlsx" else _csv_rows(raw)
    try:
        header = next(cells)
    except StopIteration:
        raise Invalid([("/file", "the file is empty: expected the template's header row")]) from None
    keys, faults = header_keys(header)
    if faults:
        raise Invalid([(_pointer(f), f.detail) for f in faults])
    rows: list[tuple[int, Mapping[str, Cell]]] = []
    for number, values in enumerate(cells, start=2):
        if not any(values):
            continue
        if len(rows) >= max_rows:
            raise TooLarge(f"the file has more than {max_rows} rows; split it into several batches")
        too_long = [k for k, v in zip(keys, values, strict=False) if k and len(v) > MAX_CELL]
        if too_long:
            pointer = f"/rows/{number}/{too_long[0]}"
            raise Invalid([(pointer, f"a cell is longer than {MAX_CELL} characters")])
        rows.append((number, {k: v for k, v in zip(keys, values, strict=False) if k}))
    return Sheet(rows, kind)


def _pointer(fault: RowFault) -> str:
    return f"/rows/{fault.row}" + (f"/{fault.column}" if fault.column else "")


def _csv_rows(raw: bytes) -> Iterator[list[Cell]]:
    try:
        text = raw.decode("utf-8-sig")  # Excel writes UTF-8 CSV with a BOM
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # …and a Chinese Windows' "CSV" in its own code page
        except UnicodeDecodeError:
            raise Invalid([("/file", "is neither UTF-8 nor GB18030 text")]) from None
    if "\0" in text:
        raise Invalid([("/file", "is not a CSV file (it holds NUL characters)")])
    try:
        for values in csv.reader(io.StringIO(text, newline="")):
            yield [v.strip() for v in values]
    except csv.Error as error:
        raise Invalid([("/file", f"is not a readable CSV file: {error}")]) from None


def _xlsx_rows(raw: bytes) -> Iterator[list[Cell]]:
    # imported here: only an XLSX upload needs the reader (a CSV upload never loads it)
    from openpyxl import load_workbook

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        # the declared sizes bound the work: zipfile stops reading an entry at its declared size
        unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        raise Invalid([("/file", "is not an XLSX workbook (not a zip archive)")]) from None
    if unpacked > min(MAX_UNPACKED, UNPACK_RATIO * len(raw) + 1024 * 1024):
        raise TooLarge(f"the workbook would unpack to {unpacked} bytes: refused as a zip bomb")
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged file: all are the sender's
        raise Invalid([("/file", f"is not a readable XLSX workbook ({type(error).__name__})")]) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(max_col=len(COLUMNS) + 8, values_only=True):
            yield [_text(v) for v in values]
    finally:
        book.close()


def _text(value: Any) -> Cell:
    """A cell as text: a date cell as its ISO date (its time when it has one), a whole float as an
    integer (Excel stores 30 as 30.0), None as ""."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def template(kind: str, headers: Sequence[str] | None = None) -> bytes:
    """The upload template: the Chinese headers and one example row (the domain brief's worked
    example). CSV in UTF-8 with a BOM, so that Excel opens it in Chinese."""
    headers = list(headers or [c.header for c in COLUMNS])
    example = [EXAMPLE_ROW.get(c.key, "") for c in COLUMNS]
    if kind == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerow(example)
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("申报明细")
    bold, text = book.add_format({"bold": True}), book.add_format({"num_format": "@"})
    for n, (header, value) in enumerate(zip(headers, example, strict=True)):
        sheet.write_string(0, n, header, bold)
        sheet.set_column(n, n, max(12, 2 * len(header) + 2), text)  # text cells: IDs keep their X
        if value:
            sheet.write_string(1, n, value, text)
    sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()
