"""The work queue as a list: filters, search, sorting and keyset pages, and its totals.

A page is found by a cursor (the sort key and id of the row it continues from), not an offset,
so page 1,000 of 250,000 open items costs what page 1 does. The totals (count and Σ difference)
are over every item the filters select, not just the page (kept per status, payer and kind by
triggers, so the whole queue's totals are not a scan of it). An item's age is counted in Beijing
business dates up to the queue's date: the later of today and the latest run's business date
(a run may be for a night ahead of today, and an age is never negative).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from gateway.domain.numbers import LARGEST, MAX_FEN, whole_number
from gateway.errors import Invalid
from gateway.storage.tables import (
    ClaimRow,
    MismatchRow,
    QueueTotalRow,
    ReconciliationRunRow,
    StatementLineRow,
)
from reconciliation.matching import OPEN_MISMATCH_STATUSES

PAGE = 50
LARGEST_PAGE = 500
# sort name → column; the id breaks ties, so every row has one place in the order
SORTS = {
    "first_seen": MismatchRow.first_seen,
    "difference": MismatchRow.difference_fen,
    "payer": MismatchRow.payer_code,
    "kind": MismatchRow.kind,
    "status": MismatchRow.status,
    "id": MismatchRow.id,
}
SEARCHES = ("claim_number", "provider", "reference")
NARROWING = ("min_age_days", "min_amount_fen", *SEARCHES)  # filters the kept totals do not split by


def queue_date(session: Session, today: date) -> date:
    """The date ages are counted to: the later of today (Beijing) and the latest run's date."""
    latest = session.scalar(select(func.max(ReconciliationRunRow.business_date)))
    return max(today, latest) if latest else today


def _sort(query: dict[str, str]) -> tuple[str, bool]:
    wanted = query.get("sort") or "first_seen"
    name, descending = wanted.removeprefix("-"), wanted.startswith("-")
    if name not in SORTS:
        raise Invalid([("/sort", f"must be one of {', '.join(SORTS)}, with '-' for descending")])
    return name, descending


def filtered(session: Session, query: dict[str, str], as_of: date) -> Select[Any]:
    """The items the filters and searches select (no order, no page)."""
    statement: Select[Any] = select(MismatchRow)
    if query.get("kind"):
        statement = statement.where(MismatchRow.kind.in_(query["kind"].split(",")))
    if query.get("payer"):
        statement = statement.where(MismatchRow.payer_code == query["payer"].strip())
    statuses = query.get("status") or "active"
    statement = statement.where(
        MismatchRow.status.in_(OPEN_MISMATCH_STATUSES if statuses == "active" else statuses.split(","))
    )
    faults, numbers = [], {}
    for name, largest in (("min_age_days", LARGEST), ("min_amount_fen", MAX_FEN), ("offset", LARGEST)):
        if query.get(name):
            number = whole_number(query[name].strip(), largest=largest)
            if number is None:
                faults.append((f"/{name}", f"must be a non-negative integer of at most {largest}"))
            else:
                numbers[name] = number
    if faults:
        raise Invalid(faults)
    if "min_age_days" in numbers:
        cutoff = date.fromordinal(max(1, as_of.toordinal() - numbers["min_age_days"]))
        statement = statement.where(MismatchRow.first_seen <= cutoff)
    if "min_amount_fen" in numbers:
        amount = numbers["min_amount_fen"]
        statement = statement.where(
            (MismatchRow.difference_fen >= amount) | (MismatchRow.difference_fen <= -amount)
        )
    if query.get("claim_number"):
        numbered = select(ClaimRow.claim_id).where(ClaimRow.claim_number == query["claim_number"].strip())
        statement = statement.where(MismatchRow.claim_id.in_(numbered))
    if query.get("provider"):
        provider = select(ClaimRow.claim_id).where(ClaimRow.provider_code == query["provider"].strip())
        statement = statement.where(_among(session, provider))
    if query.get("reference"):
        reference = select(StatementLineRow.claim_id).where(
            StatementLineRow.payer_reference == query["reference"].strip()
        )
        statement = statement.where(MismatchRow.claim_id.in_(reference))
    return statement


def _totals(session: Session, query: dict[str, str], base: Select[Any]) -> tuple[int, int]:
    """Count and Σ difference of the selection: for a queue filtered by status, payer and kind
    alone, from the totals migration 0035's triggers keep per status, payer and kind (exact,
    and a few dozen rows); for a narrower selection, counted over its items."""
    if not any(query.get(name) for name in NARROWING):
        kept = QueueTotalRow
        statuses = query.get("status") or "active"
        statement = select(
            func.coalesce(func.sum(kept.items), 0), func.coalesce(func.sum(kept.difference_fen), 0)
        )
        statement = statement.where(
            kept.status.in_(OPEN_MISMATCH_STATUSES if statuses == "active" else statuses.split(","))
        )
        if query.get("kind"):
            statement = statement.where(kept.kind.in_(query["kind"].split(",")))
        if query.get("payer"):
            statement = statement.where(kept.payer_code == query["payer"].strip())
        items, total = session.execute(statement).one()
        return int(items), int(total)
    selected = base.with_only_columns(MismatchRow.difference_fen).subquery()
    items, total = session.execute(
        select(func.count(), func.coalesce(func.sum(selected.c.difference_fen), 0))
    ).one()
    return int(items), int(total)


def _among(session: Session, claims: Select[Any]) -> Any:
    """Items of these claims. On PostgreSQL the claims are gathered first, once, into an array
    the items' claim index is probed with (a provider has thousands of claims; planned as a
    semi-join, the 250,000 open items were scanned instead: 1.9 s)."""
    if session.get_bind().dialect.name == "postgresql":
        return MismatchRow.claim_id == func.any(func.array(claims.scalar_subquery()))
    return MismatchRow.claim_id.in_(claims)


def encode_cursor(value: Any, row_id: int) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, date) else value, row_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(text: str, name: str, pointer: str) -> tuple[Any, int]:
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if name == "first_seen":
            value = date.fromisoformat(value)
        if not isinstance(row_id, int) or (name in ("difference", "id") and not isinstance(value, int)):
            raise ValueError(text)
    except (ValueError, TypeError):
        raise Invalid(
            [(pointer, "is not a cursor of this queue's pages (start from the first page)")]
        ) from None
    return value, row_id


def _after(name: str, descending: bool, cursor: tuple[Any, int]) -> Any:
    column, (value, row_id) = SORTS[name], cursor
    if name == "id":
        return MismatchRow.id < row_id if descending else MismatchRow.id > row_id
    # the first term bounds the index range (an OR alone made PostgreSQL walk the index from its
    # start: 1.3 s for a page 200,000 items deep); the second places the row among equal keys
    if descending:
        return and_(column <= value, or_(column < value, MismatchRow.id < row_id))
    return and_(column >= value, or_(column > value, MismatchRow.id > row_id))


def ordered(statement: Select[Any], name: str, descending: bool) -> Select[Any]:
    column: Any = SORTS[name]
    keys: list[Any] = (
        [column.desc(), MismatchRow.id.desc()] if descending else [column.asc(), MismatchRow.id.asc()]
    )
    return statement.order_by(*(keys if name != "id" else keys[:1]))


def list_mismatches(
    session: Session, query: dict[str, str], today: date, limit: int = PAGE
) -> dict[str, Any]:
    """One page of the queue. ``after``/``before``: a cursor from a previous page's ``next``/
    ``previous``; ``sort``: a name of ``SORTS`` (``-`` first for descending); ``limit`` (the
    query's, at most 500) rows a page. The answer carries the totals of every selected item."""
    as_of = queue_date(session, today)
    name, descending = _sort(query)
    if query.get("limit"):
        asked = whole_number(query["limit"], largest=LARGEST_PAGE)
        if not asked:
            raise Invalid([("/limit", f"must be an integer from 1 to {LARGEST_PAGE}")])
        limit = asked
    base = filtered(session, query, as_of)
    count, total = _totals(session, query, base)
    backwards = bool(query.get("before")) and not query.get("after")
    page = base
    if query.get("after") or query.get("before"):
        pointer = "/after" if not backwards else "/before"
        cursor = _decode_cursor(query.get("after") or query["before"], name, pointer)
        page = page.where(_after(name, descending != backwards, cursor))
    elif query.get("offset"):  # the API's older paging, kept for its clients
        page = page.offset(int(query["offset"]))
    rows = session.execute(_with_claims(ordered(page, name, descending != backwards).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = list(rows[:limit])
    if backwards:
        rows.reverse()
    items = [mismatch_view(row, as_of, claim_number, provider) for row, claim_number, provider in rows]
    cursors = [encode_cursor(_key(row, name), row.id) for row, *_ in rows]
    started = bool(query.get("after") or query.get("offset")) or (backwards and more)
    ends = (not backwards and more) or (backwards and bool(rows))
    return {
        "total": int(count),
        "total_difference_fen": int(total),
        "as_of": as_of.isoformat(),
        "sort": ("-" if descending else "") + name,
        "mismatches": items,
        "next": cursors[-1] if cursors and ends else None,
        "previous": cursors[0] if cursors and started else None,
    }


def _key(row: MismatchRow, name: str) -> Any:
    return getattr(row, SORTS[name].key)


def _with_claims(statement: Select[Any]) -> Select[Any]:
    """The rows with their claim's number and provider (none for a claim the gateway never had)."""
    return statement.add_columns(ClaimRow.claim_number, ClaimRow.provider_code).outerjoin(
        ClaimRow, ClaimRow.claim_id == MismatchRow.claim_id
    )


def every_row(
    session: Session, query: dict[str, str], today: date, chunk: int = 5000
) -> Iterator[dict[str, Any]]:
    """Every selected item in the queue's order, read a chunk at a time by keyset (an export of
    a million items never holds them all)."""
    as_of = queue_date(session, today)
    name, descending = _sort(query)
    base = filtered(session, {k: v for k, v in query.items() if k != "offset"}, as_of)
    # plain rows, not ORM objects: an export reads each once and keeps none
    columns = base.with_only_columns(
        *MismatchRow.__table__.columns, ClaimRow.claim_number, ClaimRow.provider_code
    )
    joined = columns.outerjoin(ClaimRow, ClaimRow.claim_id == MismatchRow.claim_id)
    cursor: tuple[Any, int] | None = None
    while True:
        page = joined if cursor is None else joined.where(_after(name, descending, cursor))
        rows = session.execute(ordered(page, name, descending).limit(chunk)).all()
        for row in rows:
            yield mismatch_view(row, as_of, row.claim_number, row.provider_code)  # type: ignore[arg-type]
        if len(rows) < chunk:
            return
        cursor = (getattr(rows[-1], SORTS[name].key), rows[-1].id)


def mismatch_view(
    row: MismatchRow, as_of: date, claim_number: str | None = None, provider: str | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "payer_code": row.payer_code,
        "claim_id": str(row.claim_id),
        "claim_number": claim_number,
        "provider_code": provider,
        "line_no": row.line_no,
        "expected_fen": row.expected_fen,
        "settled_fen": row.settled_fen,
        "difference_fen": row.difference_fen,
        "status": row.status,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "age_days": max(0, (as_of - row.first_seen).days),
        **({"approval_requested_by": row.approval_by} if row.approval_by else {}),
    }
