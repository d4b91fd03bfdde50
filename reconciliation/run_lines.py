"""Lines done of a run's line-by-line phase, for whichever process serves its page.

A run reports after each payer's lines (a few times a run). On PostgreSQL the report is written
into the run's ``counts`` (``lines``) by a short transaction of its own: the run's transaction
holds no lock on its run row while it works through the lines, and it rewrites ``counts`` when
the phase ends, so the figure disappears with the phase. ``serve --workers N`` answers the page
from any of its processes. SQLite lets one writer at a time, and the run's transaction is that
writer, so there the report is kept in the memory of the process that runs it (SQLite is the
embedded, one-process deployment)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("ltc_gateway.reconciliation")

_WRITE = text(
    "UPDATE reconciliation_runs SET counts = CAST(CAST(counts AS jsonb) || CAST(:lines AS jsonb) AS json) "
    "WHERE business_date = :day AND status = 'running'"
)


class RunLines:
    """The latest (phase, done, of) of each business date's run working in this process, and
    on PostgreSQL the same written where every process reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_date: dict[date, tuple[str, int, int]] = {}

    def report(self, engine: Engine | None, day: date, phase: str, done: int, of: int) -> None:
        with self._lock:
            self._by_date[day] = (phase, done, of)
        if engine is not None and engine.dialect.name == "postgresql":
            lines = json.dumps({"lines": {"phase": phase, "done": done, "of": of}})
            try:
                with engine.begin() as connection:
                    # a figure to show is not worth waiting for: the run's inserts take only a key
                    # share of its row, which this update does not wait for, but never block the run
                    connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                    connection.execute(_WRITE, {"lines": lines, "day": day})
            except DBAPIError:
                log.warning("the lines of the run of %s were not recorded for other processes", day)

    def of(self, day: date, run: dict[str, Any]) -> tuple[int, int] | None:
        """Lines done and of, while the run (its view) is working in a phase that has any."""
        if run["status"] != "running":
            return None
        with self._lock:
            found = self._by_date.get(day)
        if found is None:
            stored = (run.get("counts") or {}).get("lines")
            if isinstance(stored, dict):
                found = (str(stored.get("phase")), int(stored.get("done", 0)), int(stored.get("of", 0)))
        return (found[1], found[2]) if found and found[0] == run["phase"] and found[2] else None

    def forget(self, day: date) -> None:
        with self._lock:
            self._by_date.pop(day, None)


LINES = RunLines()
