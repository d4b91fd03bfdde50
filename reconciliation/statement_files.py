"""Reading a payer's statement file as rows: CSV (the header
``claim_id,line_no,paid_fen,payer_reference,settled_on``) or JSON (``schemas/statement.schema.json``),
streamed, each row numbered as its faults name it; and the check of one entry as the schema says,
written out, since a schema validator per row would dominate an import of millions."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import IO, Any

from gateway.domain.model import Fault
from gateway.domain.numbers import MAX_FEN, MAX_LINE_NO, integer
from gateway.errors import Invalid
from gateway.parsing import load_json

CSV_COLUMNS = ("claim_id", "line_no", "paid_fen", "payer_reference", "settled_on")
FIELDS = frozenset(CSV_COLUMNS)
CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the size of the file
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # no database takes a NUL; no payer reference needs any

Row = dict[str, Any]
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_entry(where: str, document: Any) -> tuple[Row | None, list[Fault]]:
    """One entry, checked as ``schemas/statement.schema.json`` says."""
    if not isinstance(document, dict):
        return None, [(where, "must be an object")]
    faults: list[Fault] = [
        (f"{where}/{k}", "is not a field of a statement entry") for k in document if k not in FIELDS
    ]
    row: Row = {}
    for name in ("claim_id", "paid_fen", "payer_reference", "settled_on"):
        if name not in document:
            faults.append((f"{where}/{name}", "is required"))
    value = document.get("claim_id")
    if "claim_id" in document:
        row["claim_id"] = uuid.UUID(value) if isinstance(value, str) and UUID.fullmatch(value) else None
        if row["claim_id"] is None:
            faults.append((f"{where}/claim_id", f"{value!r} is not a uuid"))
    line_no = document.get("line_no")
    if line_no is None:
        row["line_no"] = 0
    elif isinstance(line_no, bool) or not isinstance(line_no, int) or not 0 <= line_no <= MAX_LINE_NO:
        faults.append((f"{where}/line_no", f"{line_no!r} is not a line number (an integer ≥ 0, or empty)"))
    else:
        row["line_no"] = line_no
    paid = document.get("paid_fen")
    if "paid_fen" in document:
        if isinstance(paid, bool) or not isinstance(paid, int):
            faults.append((f"{where}/paid_fen", f"{paid!r} is not an integer amount of fen"))
        elif not -MAX_FEN <= paid <= MAX_FEN:
            faults.append((f"{where}/paid_fen", f"{paid!r} is out of range"))
        else:
            row["paid_fen"] = paid
    reference = document.get("payer_reference")
    if "payer_reference" in document:
        if not isinstance(reference, str) or not 1 <= len(reference) <= 128:
            faults.append((f"{where}/payer_reference", "must be text of 1 to 128 characters"))
        elif CONTROL.search(reference):
            faults.append((f"{where}/payer_reference", "must not hold control characters"))
        else:
            row["payer_reference"] = reference
    settled = document.get("settled_on")
    if "settled_on" in document:
        try:
            row["settled_on"] = (
                date.fromisoformat(settled) if isinstance(settled, str) and len(settled) == 10 else None
            )
        except ValueError:
            row["settled_on"] = None
        if row["settled_on"] is None:
            faults.append((f"{where}/settled_on", f"{settled!r} is not a date (YYYY-MM-DD)"))
    return (None, faults) if faults else (row, [])


def json_rows(stream: IO[bytes]) -> Iterator[tuple[int, str, Any]]:
    try:
        document = load_json(stream.read())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise Invalid([("", f"the statement is not JSON: {error}")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise Invalid([("/entries", "a statement is an object with a list of entries")])
    extra = sorted(set(document) - {"entries"})
    if extra:
        raise Invalid([(f"/{extra[0]}", "is not a field of a statement")])
    for i, entry in enumerate(document["entries"]):
        yield i + 1, f"/entries/{i}", entry


def csv_rows(stream: IO[bytes]) -> Iterator[tuple[int, str, Any]]:
    text_ = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(csv.reader(text_))
    except UnicodeDecodeError as error:
        raise Invalid([("", f"the statement is not UTF-8 text: {error}")]) from None
    finally:
        text_.detach()  # the caller's stream stays open


def _csv_rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, str, Any]]:
    check_header(next(reader, None))
    for row_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(CSV_COLUMNS):
            yield row_no, f"row {row_no}", f"has {len(cells)} columns, not {len(CSV_COLUMNS)}"
            continue
        claim_id, line_no, paid, reference, settled = (c.strip() for c in cells)
        yield (
            row_no,
            f"row {row_no}",
            {
                "claim_id": claim_id,
                "line_no": _number(line_no) if line_no else None,
                "paid_fen": _number(paid),
                "payer_reference": reference,
                "settled_on": settled,
            },
        )


def check_header(header: list[str] | None) -> None:
    if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
        raise Invalid([("row 1", f"the header must be {','.join(CSV_COLUMNS)}")])


def _number(text_: str) -> int | str:
    """A CSV cell's integer, or the text itself for the entry check to refuse by name."""
    number = integer(text_)
    return text_ if number is None else number
