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
pattern per line, which ``check_entry`` accepts and the database reads alike) is parsed by the
database straight into the staging table (``COPY``: ``reconciliation.statement_copy``); any other
file, and every file on SQLite, goes through the checks in Python
(``reconciliation.statement_files``), which are the authority and name every fault. Those check
rows one by one as they stream and land them in batches. Either way the rows then move to
``statement_lines`` in one set-based statement, all in the caller's transaction, so a refused file
leaves nothing behind. That statement first runs as if every entry were new; only
a file the primary key refuses (an entry repeated, or imported before) is checked entry by entry,
so the usual statement is spared a pass over its rows for repeats and one for known entries.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
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
from gateway.domain.beijing_time import beijing_date
from gateway.domain.model import Fault
from gateway.errors import Conflict, Invalid, NotFound
from gateway.services.scorecards import ON_TIME_DAYS
from gateway.storage.tables import PayerRow, StatementRow
from reconciliation.sql.tuning import for_bulk
from reconciliation.statement_copy import copy_csv
from reconciliation.statement_files import CHUNK, Row, check_entry, csv_rows, json_rows

BATCH = 10_000
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
    postgres = session.get_bind().dialect.name == "postgresql"
    for_bulk(session)  # the staged rows are sorted into statement_lines
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
    # Most statements repeat no entry and hold only new ones: inserted at once; only a file the
    # primary key refuses is checked entry by entry.
    if _insert_if_all_new(session, statement.id, payer_code):
        imported = total
    else:
        if postgres:
            session.execute(text("ANALYZE pg_temp.statement_staging"))  # a fresh temp table has no statistics
        _refuse_repeats(session, media_type)
        imported = _insert_new_entries(session, statement.id, payer_code)
    statement.rows, statement.accepted = total, imported
    _keep_timeliness(session, statement, payer_code)
    if postgres:
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


_INSERT = """
    INSERT INTO statement_lines
        (statement_id, row_no, payer_code, claim_id, line_no, paid_fen, payer_reference, settled_on)
    SELECT :statement, row_no, CAST(:payer AS VARCHAR(64)), claim_id, line_no, paid_fen,
           payer_reference, settled_on
    FROM statement_staging ORDER BY claim_id, line_no, payer_reference
"""


def _insert_if_all_new(session: Session, statement_id: int, payer_code: str) -> bool:
    """Every staged entry inserted, if none is already stored or repeated in the file (the primary
    key refuses it); otherwise nothing, and False."""
    savepoint = session.begin_nested()
    try:
        session.execute(text(_INSERT), {"statement": statement_id, "payer": payer_code})
    except IntegrityError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _insert_new_entries(session: Session, statement_id: int, payer_code: str) -> int:
    """The staged entries not already imported from an earlier statement, inserted; how many."""
    # They leave the staging table first: inserting while checking the same table would make the
    # database re-read what it just wrote.
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
    session.execute(text(_INSERT), {"statement": statement_id, "payer": payer_code})
    return imported


def _keep_timeliness(session: Session, statement: StatementRow, payer_code: str) -> None:
    """The statement's lines added to their payer's monthly timeliness (``StatementMonthRow``):
    one set-based statement over the staged lines this import inserted (the staging table, not
    ``statement_lines``, which has no index by statement)."""
    dialect = session.get_bind().dialect.name
    received = beijing_date(statement.received_at)
    lag = (
        "(:received - settled_on)"
        if dialect == "postgresql"
        else "CAST(julianday(:received) - julianday(settled_on) AS INTEGER)"
    )
    month = "substr(CAST(settled_on AS TEXT), 1, 7)"
    session.execute(
        text(
            f"""
            INSERT INTO statement_months (payer_code, month, lines, on_time, lag_days)
            SELECT CAST(:payer AS VARCHAR(64)), {month}, count(*),
                   sum(CASE WHEN {lag} <= :on_time THEN 1 ELSE 0 END), sum({lag})
            FROM statement_staging GROUP BY {month}
            ON CONFLICT (payer_code, month) DO UPDATE SET lines = statement_months.lines + excluded.lines,
                on_time = statement_months.on_time + excluded.on_time,
                lag_days = statement_months.lag_days + excluded.lag_days
            """
        ),
        {"payer": payer_code, "received": received, "on_time": ON_TIME_DAYS},
    )


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
    if not (postgres and media_type == "text/csv" and copy_csv(connection, stream)):
        stream.seek(0)
        _check_and_stage(connection, csv_rows(stream) if media_type == "text/csv" else json_rows(stream))


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
        row, row_faults = check_entry(where, document)
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


def _refuse_repeats(session: Session, media_type: str) -> None:
    """The file refused where it holds the same claim, line and payer reference twice."""
    rows = session.execute(
        select(STAGING.c.payer_reference, func.min(STAGING.c.row_no), func.max(STAGING.c.row_no))
        .group_by(STAGING.c.claim_id, STAGING.c.line_no, STAGING.c.payer_reference)
        .having(func.count() > 1)
        .limit(MAX_FAULTS)
    ).all()
    where = (lambda row: f"row {row}") if media_type == "text/csv" else (lambda row: f"/entries/{row - 1}")
    if rows:
        raise Invalid(
            [
                (where(last), f"repeats row {first} (same claim, line and payer_reference)")
                for _, first, last in rows
            ]
        )


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
