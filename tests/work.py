"""Counting the work a database does, so tests check how it grows instead of timing it (a loaded
machine makes any wall-clock bound fail; timings belong in ``bench/``).

``statements``: SQL statements sent. ``steps``: what the database did for them. On SQLite the
virtual machine's instructions (in thousands, through sqlite3's progress handler); on PostgreSQL
the rows its scans read (``pg_stat_xact_user_tables``: seq_tup_read + idx_tup_fetch, taken in
each transaction just before it commits). A nested-loop or per-key scan shows as steps growing
with the square of the input.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

_ROWS_READ = (
    "SELECT COALESCE(SUM(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0) FROM pg_stat_xact_user_tables"
    " WHERE schemaname = current_schema()"
)
_SQLITE_GRAIN = 1000  # VM instructions a progress callback stands for


@dataclass
class Work:
    statements: int = 0
    steps: int = 0


@contextlib.contextmanager
def counting(engine: Engine, this_thread: bool = False) -> Iterator[Work]:
    """``this_thread``: count only the statements this thread sends (not the audit sealer's, whose
    thread writes when it wakes: a few statements more or less from one run to the next)."""
    work = Work()
    sqlite = engine.dialect.name == "sqlite"
    counted = threading.get_ident()

    def statement(*_: Any) -> None:
        if not this_thread or threading.get_ident() == counted:
            work.statements += 1

    def tick() -> int:
        work.steps += 1
        return 0  # go on

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_progress_handler(tick, _SQLITE_GRAIN)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_progress_handler(None, 0)

    def commit(connection: Any) -> None:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_ROWS_READ)
            work.steps += int(cursor.fetchone()[0])
        finally:
            cursor.close()

    listeners: list[tuple[Any, str, Any]] = [(engine, "before_cursor_execute", statement)]
    if sqlite:
        listeners += [(engine.pool, "checkout", checkout), (engine.pool, "checkin", checkin)]
    else:
        listeners.append((engine, "commit", commit))
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield work
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
