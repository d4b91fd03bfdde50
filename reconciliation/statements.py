"""Importing a payer's settlement statement: JSON (``schemas/statement.schema.json``) or CSV with
the header ``claim_id,line_no,paid_fen,payer_reference,settled_on``; or pulled from the payer
through its adapter.

Policy: a statement is a financial document, so a file with any faulty row is refused as a whole
and every fault names its row (CSV: the line of the file, the header being row 1; JSON: the
entry's position, from 1). The same file twice (same content hash) is refused. An entry already
imported from an earlier statement (same payer reference, claim and line) is counted once;
entries that differ only by their payer reference are distinct settlements.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import schemas
from gateway.domain.model import Fault
from gateway.services.errors import Conflict, Invalid, NotFound
from gateway.storage.tables import PayerRow, StatementLineRow, StatementRow

CSV_COLUMNS = ("claim_id", "line_no", "paid_fen", "payer_reference", "settled_on")


@dataclass(frozen=True)
class Entry:
    row: int
    claim_id: uuid.UUID
    line_no: int
    paid_fen: int
    payer_reference: str
    settled_on: date


def parse_json(raw: bytes) -> list[Entry]:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid([("", f"the statement is not JSON: {error}")]) from None
    faults = schemas.faults("statement", document)
    if faults:
        raise Invalid([(p, f"row {_row_of(p)}: {d}" if _row_of(p) else d) for p, d in faults])
    entries = [_entry(i + 1, e) for i, e in enumerate(document["entries"])]
    _check_unique(entries, lambda row: f"/entries/{row - 1}")
    return entries


def _row_of(pointer: str) -> int | None:
    parts = pointer.split("/")
    return int(parts[2]) + 1 if len(parts) > 2 and parts[1] == "entries" and parts[2].isdigit() else None


def _entry(row: int, e: dict[str, Any]) -> Entry:
    return Entry(
        row,
        uuid.UUID(e["claim_id"]),
        int(e.get("line_no") or 0),
        int(e["paid_fen"]),
        str(e["payer_reference"]),
        date.fromisoformat(e["settled_on"]),
    )


def parse_csv(raw: bytes) -> list[Entry]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Invalid([("", f"the statement is not UTF-8 text: {error}")]) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
        raise Invalid([("row 1", f"the header must be {','.join(CSV_COLUMNS)}")])
    entries: list[Entry] = []
    faults: list[Fault] = []
    for row_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(CSV_COLUMNS):
            faults.append((f"row {row_no}", f"has {len(cells)} columns, not {len(CSV_COLUMNS)}"))
            continue
        values = dict(zip(CSV_COLUMNS, (c.strip() for c in cells), strict=True))
        document: dict[str, Any] = {
            "claim_id": values["claim_id"],
            "line_no": _int_or_text(values["line_no"]) if values["line_no"] else None,
            "paid_fen": _int_or_text(values["paid_fen"]),
            "payer_reference": values["payer_reference"],
            "settled_on": values["settled_on"],
        }
        row_faults = schemas.faults("statement", {"entries": [document]})
        if row_faults:
            faults.extend((f"row {row_no}/{p.split('/')[-1]}", d) for p, d in row_faults)
            continue
        entries.append(_entry(row_no, document))
    if faults:
        raise Invalid(faults)
    _check_unique(entries, lambda row: f"row {row}")
    return entries


def _int_or_text(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _check_unique(entries: list[Entry], where: Any) -> None:
    seen: dict[tuple[uuid.UUID, int, str], int] = {}
    faults: list[Fault] = []
    for e in entries:
        key = (e.claim_id, e.line_no, e.payer_reference)
        if key in seen:
            faults.append((where(e.row), f"repeats row {seen[key]} (same claim, line and payer_reference)"))
        seen.setdefault(key, e.row)
    if faults:
        raise Invalid(faults)


def import_statement(
    session: Session, payer_code: str, raw: bytes, media_type: str, source: str = "upload"
) -> dict[str, Any]:
    if session.get(PayerRow, payer_code) is None:
        raise NotFound(f"no payer {payer_code}")
    entries = parse_csv(raw) if media_type == "text/csv" else parse_json(raw)
    content_hash = hashlib.sha256(raw).hexdigest()
    known = session.scalar(
        select(StatementRow.id).where(
            StatementRow.payer_code == payer_code, StatementRow.content_hash == content_hash
        )
    )
    if known is not None:
        raise Conflict(f"this statement was already imported (statement {known}, same content)")
    statement = StatementRow(
        payer_code=payer_code,
        content_hash=content_hash,
        media_type=media_type,
        source=source,
        rows=len(entries),
        accepted=0,
    )
    session.add(statement)
    try:
        session.flush()
    except IntegrityError:  # the same file, imported concurrently
        raise Conflict("this statement was already imported (same content)") from None
    existing = _already_imported(session, payer_code, entries)
    new = [e for e in entries if (e.payer_reference, e.claim_id, e.line_no) not in existing]
    session.add_all(
        StatementLineRow(
            statement_id=statement.id,
            row_no=e.row,
            payer_code=payer_code,
            claim_id=e.claim_id,
            line_no=e.line_no,
            paid_fen=e.paid_fen,
            payer_reference=e.payer_reference,
            settled_on=e.settled_on,
        )
        for e in new
    )
    statement.accepted = len(new)
    return {
        "statement_id": statement.id,
        "payer_code": payer_code,
        "rows": len(entries),
        "imported": len(new),
        "already_known": len(entries) - len(new),
        "content_hash": content_hash,
    }


def _already_imported(
    session: Session, payer_code: str, entries: list[Entry]
) -> set[tuple[str, uuid.UUID, int]]:
    found: set[tuple[str, uuid.UUID, int]] = set()
    keys = [(e.payer_reference, e.claim_id, e.line_no) for e in entries]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = session.execute(
            select(
                StatementLineRow.payer_reference, StatementLineRow.claim_id, StatementLineRow.line_no
            ).where(
                StatementLineRow.payer_code == payer_code,
                tuple_(
                    StatementLineRow.payer_reference, StatementLineRow.claim_id, StatementLineRow.line_no
                ).in_(chunk),
            )
        )
        found.update((r, c, n) for r, c, n in rows)
    return found


def entries_document(entries: list[Any]) -> bytes:
    """Pulled entries (``adapters.sdk.StatementEntry``) as a canonical JSON statement."""
    document = {
        "entries": [
            {
                "claim_id": e.claim_id,
                "line_no": e.line_no,
                "paid_fen": e.paid_fen,
                "payer_reference": e.payer_reference,
                "settled_on": e.settled_on,
            }
            for e in entries
        ]
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
