"""Importing a payer's settlement statement: JSON (``schemas/statement.schema.json``) or CSV with
the header ``claim_id,line_no,paid_fen,payer_reference,settled_on``; or pulled from the payer
through its adapter.

Policy: a statement is a financial document, so a file with any faulty row is refused as a whole
and every fault names its row (CSV: the line of the file, the header being row 1; JSON: the
entry's position, from 1). The same file twice (same content hash) is refused. An entry already
imported from an earlier statement (same payer reference, claim and line) is counted once;
entries that differ only by their payer reference are distinct settlements.

Statements can hold millions of rows, so a statement is read as a stream (a file, or the bytes of
a request) and never held whole. On PostgreSQL a CSV file of plain rows (``PLAIN_ROW``: one
pattern per line, which ``_check`` accepts and the database reads alike) is parsed by the database
straight into the staging table (``COPY``); any other file, and every file on SQLite, goes
through the checks in Python, which are the authority and name every fault. Those check rows one
by one as they stream (the schema's checks, written out, since a schema validator per row would
dominate the import) and land them in batches. Either way the rows then move to
``statement_lines`` in one set-based statement, all in the caller's transaction, so a refused file
leaves nothing behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import IO, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.model import Fault
from gateway.domain.numbers import MAX_FEN, MAX_LINE_NO, integer
from gateway.services.errors import Conflict, Invalid, NotFound
from gateway.services.parsing import load_json
from gateway.storage.tables import PayerRow, StatementRow

CSV_COLUMNS = ("claim_id", "line_no", "paid_fen", "payer_reference", "settled_on")
FIELDS = frozenset(CSV_COLUMNS)
BATCH = 10_000
CHUNK = 1 << 20  # bytes read at a time: memory stays flat whatever the size of the file
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # no database takes a NUL; no payer reference needs any
MAX_FAULTS = 200  # enough to fix a file; a file wrong on every row would otherwise flood the answer

STAGING = Table(
    "statement_staging",
    MetaData(),
    Column("row_no", Integer, nullable=False),
    Column("claim_id", Uuid),
    Column("line_no", Integer),
    Column("paid_fen", BigInteger),
    Column("payer_reference", String(128)),
    Column("settled_on", Date),
    prefixes=["TEMPORARY"],
)

Row = dict[str, Any]
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _check(where: str, document: Any) -> tuple[Row | None, list[Fault]]:
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
    _check_header(next(reader, None))
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


def _check_header(header: list[str] | None) -> None:
    if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
        raise Invalid([("row 1", f"the header must be {','.join(CSV_COLUMNS)}")])


def _number(text_: str) -> int | str:
    """A CSV cell's integer, or the text itself for the entry check to refuse by name."""
    number = integer(text_)
    return text_ if number is None else number


def import_statement(
    session: Session,
    payer_code: str,
    content: bytes | IO[bytes],
    media_type: str,
    source: str = "upload",
    actor: str = "system",
) -> dict[str, Any]:
    """``content``: the file's bytes, or a binary stream that can seek (it is read twice: once
    for its content hash, once for its rows). ``actor``: who imported it (audited)."""
    if session.get(PayerRow, payer_code) is None:
        raise NotFound(f"no payer {payer_code}")
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    content_hash = digest.hexdigest()
    known = session.scalar(
        select(StatementRow.id).where(
            StatementRow.payer_code == payer_code, StatementRow.content_hash == content_hash
        )
    )
    if known is not None:
        raise Conflict(f"this statement was already imported (statement {known}, same content)")
    _stage(session, stream, media_type)
    faults = _repeats(session, media_type)
    if faults:
        raise Invalid(faults)
    statement = StatementRow(
        payer_code=payer_code,
        content_hash=content_hash,
        media_type=media_type,
        source=source,
        rows=0,
        accepted=0,
    )
    session.add(statement)
    try:
        session.flush()
    except IntegrityError:  # the same file, imported concurrently
        raise Conflict("this statement was already imported (same content)") from None
    total = int(session.scalar(select(func.count()).select_from(STAGING)) or 0)
    # Entries already imported from an earlier statement leave the staging table first: inserting
    # while checking the same table would make the database re-read what it just wrote.
    session.execute(
        text(
            """
            DELETE FROM statement_staging
            WHERE EXISTS (
                SELECT 1 FROM statement_lines l
                WHERE l.payer_code = CAST(:payer AS VARCHAR(64))
                  AND l.payer_reference = statement_staging.payer_reference
                  AND l.claim_id = statement_staging.claim_id AND l.line_no = statement_staging.line_no)
            """
        ),
        {"payer": payer_code},
    )
    imported = int(session.scalar(select(func.count()).select_from(STAGING)) or 0)
    session.execute(
        text(
            """
            INSERT INTO statement_lines
                (statement_id, row_no, payer_code, claim_id, line_no, paid_fen, payer_reference, settled_on)
            SELECT :statement, row_no, CAST(:payer AS VARCHAR(64)), claim_id, line_no, paid_fen,
                   payer_reference, settled_on
            FROM statement_staging ORDER BY claim_id, line_no, payer_reference
            """
        ),
        {"statement": statement.id, "payer": payer_code},
    )
    statement.rows, statement.accepted = total, imported
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TABLE pg_temp.statement_staging"))  # not kept on a pooled connection
    else:
        session.execute(STAGING.delete())
    summary = {
        "statement_id": statement.id,
        "payer_code": payer_code,
        "rows": total,
        "imported": imported,
        "already_known": total - imported,
        "content_hash": content_hash,
    }
    # counts and the file's hash, not its rows: the statement itself stays in statement_lines
    after = {**summary, "media_type": media_type, "source": source}
    audit.record(session, "statement.imported", f"statement:{statement.id}", actor, before=None, after=after)
    return summary


def _stage(session: Session, stream: IO[bytes], media_type: str) -> None:
    """Check every row and stage the good ones; refuse the file with every fault (up to a limit)."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("DROP TABLE IF EXISTS pg_temp.statement_staging"))
        STAGING.create(connection)
    else:
        STAGING.create(connection, checkfirst=True)
        connection.execute(STAGING.delete())
    if not (postgres and media_type == "text/csv" and _copy_csv(connection, stream)):
        stream.seek(0)
        _check_and_stage(connection, csv_rows(stream) if media_type == "text/csv" else json_rows(stream))
    if postgres:
        connection.execute(text("ANALYZE pg_temp.statement_staging"))  # a fresh temp table has no statistics


def _check_and_stage(connection: Connection, rows: Iterator[tuple[int, str, Any]]) -> None:
    postgres = connection.dialect.name == "postgresql"
    columns = [c.name for c in STAGING.columns]

    def write(rows: list[Row]) -> None:
        if not postgres:
            connection.execute(insert(STAGING), rows)
            return
        # COPY: one round trip for the batch rather than one statement per row
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY statement_staging ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in columns])

    faults: list[Fault] = []
    batch: list[Row] = []
    for row_no, where, document in rows:
        if isinstance(document, str):  # a CSV row with the wrong number of columns
            faults.append((where, document))
            continue
        row, row_faults = _check(where, document)
        if row_faults:
            faults.extend(
                row_faults if where.startswith("row") else [(p, f"row {row_no}: {d}") for p, d in row_faults]
            )
            if len(faults) >= MAX_FAULTS:
                break
            continue
        if not faults:
            assert row is not None
            row["row_no"] = row_no
            batch.append(row)
            if len(batch) >= BATCH:
                write(batch)
                batch = []
    if faults:
        raise Invalid(faults[:MAX_FAULTS])
    if batch:
        write(batch)


# A plain row: what ``_check`` accepts and the database reads the same way, with no quoting (where
# the two CSV readers differ), no surrounding spaces, ASCII references without quotes or
# backslashes (a line "\\." would end a COPY), and nothing that does not fit its column. A date
# the pattern lets through but the calendar has not (02-30) makes the COPY fail.
_REFERENCE = rb"[!#-+\--\[\]-~]"
PLAIN_ROW = re.compile(
    UUID.pattern.encode()
    + rb",[0-9]{0,4},-?[0-9]{1,12},"
    + _REFERENCE
    + rb"(?:[ !#-+\--\[\]-~]{0,126}"
    + _REFERENCE
    + rb")?,(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\r?"
)


class _NotPlain(Exception):
    pass


def _copy_csv(connection: Connection, stream: IO[bytes]) -> bool:
    """A file of plain rows is parsed by the database straight into the staging table (COPY),
    checked on the way by one pattern per line: far less work than the checks in Python. False
    for any other file, leaving nothing staged."""
    import psycopg

    stream.seek(0)
    try:
        _check_header(next(csv.reader([stream.readline().decode("utf-8-sig")]), None))
    except (UnicodeDecodeError, Invalid):  # the checks in Python say what is wrong
        return False
    # Rows are numbered as they arrive, as ``csv_rows`` numbers them (the header is row 1).
    connection.execute(
        text("ALTER TABLE statement_staging ALTER row_no ADD GENERATED BY DEFAULT AS IDENTITY (START WITH 2)")
    )
    columns = ", ".join(CSV_COLUMNS)
    savepoint = connection.begin_nested()
    try:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY statement_staging ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            rest, blank = b"", False
            while chunk := stream.read(CHUNK):
                complete, newline, rest = (rest + chunk).rpartition(b"\n")
                if newline:
                    blank = _write_plain(copy, complete.split(b"\n"), blank)
            if rest:
                _write_plain(copy, [rest], blank)
    except (psycopg.Error, _NotPlain):
        savepoint.rollback()
        return False
    savepoint.commit()
    connection.execute(text("UPDATE statement_staging SET line_no = 0 WHERE line_no IS NULL"))
    return True


def _write_plain(copy: Any, lines: list[bytes], blank: bool) -> bool:
    """Write the lines to the COPY if each is a plain row, else raise _NotPlain. Blank lines may
    only end the file (the database refuses them, and would number the rows after them otherwise);
    whether the file has ended blank so far."""
    rows = len(lines)
    while rows and not lines[rows - 1].strip(b"\r"):
        rows -= 1
    if rows:
        if blank or not all(map(PLAIN_ROW.fullmatch, lines[:rows])):
            raise _NotPlain
        copy.write(b"\n".join(lines[:rows]) + b"\n")
    return blank or rows < len(lines)


def _repeats(session: Session, media_type: str) -> list[Fault]:
    """The same claim, line and payer reference twice in one file."""
    rows = session.execute(
        select(STAGING.c.payer_reference, func.min(STAGING.c.row_no), func.max(STAGING.c.row_no))
        .group_by(STAGING.c.claim_id, STAGING.c.line_no, STAGING.c.payer_reference)
        .having(func.count() > 1)
        .limit(MAX_FAULTS)
    ).all()
    where = (lambda row: f"row {row}") if media_type == "text/csv" else (lambda row: f"/entries/{row - 1}")
    return [
        (where(last), f"repeats row {first} (same claim, line and payer_reference)")
        for _, first, last in rows
    ]


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
