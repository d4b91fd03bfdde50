"""Searching the audit trail (issue 22 §1 item 4): by action, subject and actor (each a prefix)
and by Beijing date, newest first, in keyset pages by id. Reading only: the chain is untouched."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.beijing_time import BEIJING
from gateway.domain.numbers import whole_number
from gateway.errors import Invalid
from gateway.storage.tables import AuditEntryRow

PAGE = 50
TEXT = {"action": 40, "subject": 100, "actor": 100}


def _day(text: str, pointer: str, faults: list[tuple[str, str]]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        faults.append((pointer, "a date, e.g. 2026-12-01"))
        return None


def _prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(session: Session, query: dict[str, str], limit: int = PAGE) -> dict[str, Any]:
    entry = AuditEntryRow
    faults: list[tuple[str, str]] = []
    statement = select(entry)
    for name, longest in TEXT.items():
        value = query.get(name, "").strip()
        if len(value) > longest:
            faults.append((f"/{name}", f"at most {longest} characters"))
        elif value:
            statement = statement.where(getattr(entry, name).like(_prefix(value), escape="\\"))
    if query.get("from"):
        day = _day(query["from"], "/from", faults)
        if day:
            statement = statement.where(entry.at >= datetime.combine(day, time(), BEIJING))
    if query.get("to"):
        day = _day(query["to"], "/to", faults)
        if day:
            statement = statement.where(entry.at < datetime.combine(day + timedelta(days=1), time(), BEIJING))
    if query.get("before"):
        before = whole_number(query["before"])
        if before is None:
            faults.append(("/before", "a cursor from a previous page"))
        else:
            statement = statement.where(entry.id < before)
    if faults:
        raise Invalid(faults)
    rows = list(session.scalars(statement.order_by(entry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "entries": [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "subject": r.subject,
                "detail": r.detail,
            }
            for r in rows
        ],
        "next": str(rows[-1].id) if more and rows else None,
    }
