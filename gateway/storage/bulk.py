"""Many rows of one table written in one statement: the accept path's claims, lines, payer steps and
audit entries (a batch of concurrent claims, ``gateway.api.endpoint.batched``), and the audit
sealer's links.

On PostgreSQL the rows travel as one JSON parameter that the server unpacks
(``INSERT … SELECT … FROM jsonb_to_recordset``): one round trip and one bound value, where an
executemany binds and sends every row on its own (most of the accept path's client CPU was that).
Elsewhere (SQLite) it is the plain executemany INSERT. Values are the columns' Python values, as
for a Core insert; a datetime must carry its offset (``UTCDateTime``'s rule).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import JSON, Table, TextClause, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

_DIALECT = postgresql.dialect()


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts: bool = False,
    returning: tuple[str, ...] = (),
    same: dict[str, Any] | None = None,
) -> list[Row[Any]]:
    """Insert ``rows`` (each with the same keys) into ``table`` in the session's transaction;
    ``skip_conflicts``: a row whose key is taken (or repeated among ``rows``) inserts nothing;
    ``returning``: these columns of each row inserted (order not promised); ``same``: values of
    every row, sent once."""
    if not rows:
        return []
    same = same or {}
    if session.get_bind().dialect.name != "postgresql":
        statement: Any = sqlite_insert(table).on_conflict_do_nothing() if skip_conflicts else insert(table)
        every = [row | same for row in rows] if same else list(rows)
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
            return list(session.execute(statement, every))
        session.execute(statement, every)
        return []
    parameters = {
        "rows": json.dumps(rows, default=_json_value),
        "same": json.dumps(same, default=_json_value),
    }
    result = session.execute(
        _statement(table, tuple(rows[0]), tuple(same), skip_conflicts, returning), parameters
    )
    return list(result) if returning else []


@cache
def _statement(
    table: Table,
    names: tuple[str, ...],
    shared: tuple[str, ...],
    skip_conflicts: bool,
    returning: tuple[str, ...],
) -> TextClause:
    columns = ", ".join(f'"{name}"' for name in (*names, *shared))
    values = ", ".join([*(f'x."{name}"' for name in names), *(f's."{name}"' for name in shared)])
    sql = (
        f'INSERT INTO "{table.name}" ({columns}) SELECT {values} FROM {_recordset(table, "rows", "x", names)}'
    )
    if shared:
        sql += f" CROSS JOIN {_recordset(table, 'same', 's', shared)}"
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(f'"{name}"' for name in returning)
    return text(sql).columns(*(table.c[name] for name in returning)) if returning else text(sql)  # type: ignore[return-value]


def _recordset(table: Table, parameter: str, alias: str, names: tuple[str, ...]) -> str:
    """The rows of a JSON parameter as a table (``same`` is one object: a table of one row)."""
    types = ", ".join(f'"{name}" {_type(table, name)}' for name in names)
    function = "jsonb_to_recordset" if parameter == "rows" else "jsonb_to_record"
    return f"{function}(CAST(:{parameter} AS jsonb)) AS {alias}({types})"


def update_rows(session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set, in each row of ``table`` whose ``key`` column is a row's ``key`` value, that row's other
    values (each row with the same keys): one statement on PostgreSQL, an executemany elsewhere."""
    if not rows:
        return
    names = tuple(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names if name != key}
        statement = update(table).where(table.c[key] == bindparam(f"new_{key}")).values(values)
        session.execute(statement, [{f"new_{name}": row[name] for name in names} for row in rows])
        return
    session.execute(_update(table, key, names), {"rows": json.dumps(rows, default=_json_value)})


@cache
def _update(table: Table, key: str, names: tuple[str, ...]) -> TextClause:
    assign = ", ".join(f'"{name}" = x."{name}"' for name in names if name != key)
    return text(
        f'UPDATE "{table.name}" SET {assign} FROM {_recordset(table, "rows", "x", names)} '
        f'WHERE "{table.name}"."{key}" = x."{key}"'
    )


def _type(table: Table, name: str) -> str:
    kind = table.c[name].type
    if isinstance(kind, JSON):
        return "jsonb"
    return str(kind.compile(dialect=_DIALECT))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot be written in bulk")
