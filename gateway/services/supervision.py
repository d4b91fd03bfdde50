"""The bureau's supervision queue (issue 22 §1): one list of everything it must look at, read
where each thing is recorded (the claims' flags: unverified visits, duplicate services, refused
and dead payer steps; the outbox's dead notices), with the bureau's own handling beside it
(``supervision_items``: assigned to a person, notes, closed with a reason). Keyset pages, oldest
first; every action is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from gateway import audit
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Conflict, Invalid, NotFound
from gateway.orchestration.steps import FAILED_STEPS
from gateway.storage.tables import (
    ClaimRow,
    FlagRow,
    OutboxRow,
    PayerStepRow,
    SupervisionItemRow,
    SupervisionNoteRow,
    utcnow,
)
from gateway.storage.tables.base import UTCDateTime

SOURCES = ("flag", "outbox")
KINDS = (
    "visit_unverified",
    "duplicate_service",
    "decision_refused",
    "decision_differs",
    "fixed_benefit_duplicate",
    "revision_refused",
    "returned",
    "step_dead",
    "notice_dead",
)
STATES = ("open", "closed", "all")
CLOSE_REASONS = ("checked_ok", "rerun", "referred", "recovered", "no_action")
PAGE = 50
LONGEST_NOTE = 2000
LONGEST_NAME = 64


def _things() -> Any:
    """Everything to look at, as one set: the flags and the dead notices."""
    flags = select(
        literal("flag").label("source"),
        FlagRow.id.label("source_id"),
        FlagRow.kind.label("kind"),
        FlagRow.claim_id.label("claim_id"),
        FlagRow.payer_code.label("payer_code"),
        FlagRow.product_code.label("product_code"),
        FlagRow.detail.label("detail"),
        FlagRow.created_at.label("created_at"),
    )
    notices = select(
        literal("outbox").label("source"),
        OutboxRow.id,
        literal("notice_dead"),
        OutboxRow.claim_id,
        OutboxRow.payer_code,
        literal(None),
        func.coalesce(OutboxRow.last_error, OutboxRow.kind),
        OutboxRow.created_at,
    ).where(OutboxRow.status == "dead")
    return union_all(flags, notices).subquery("things")


def _failed_step(things: Any) -> Any:
    """The claim's dead or refused step this flag speaks of (the one a rerun would replace)."""
    return (
        select(func.max(PayerStepRow.step_id))
        .where(
            PayerStepRow.claim_id == things.c.claim_id,
            PayerStepRow.status.in_(FAILED_STEPS),
            or_(
                PayerStepRow.payer_code == things.c.payer_code,
                PayerStepRow.administrator_code == things.c.payer_code,
            ),
            PayerStepRow.product_code == things.c.product_code,
        )
        .scalar_subquery()
    )


def _listing(things: Any) -> Select[Any]:
    item = SupervisionItemRow
    return (
        select(
            things,
            ClaimRow.claim_number,
            item.assignee,
            item.closed_at,
            item.closed_reason,
            item.id.label("item_id"),
        )
        .add_columns(_failed_step(things).label("step_id"))
        .outerjoin(ClaimRow, ClaimRow.claim_id == things.c.claim_id)
        .outerjoin(item, and_(item.source == things.c.source, item.source_id == things.c.source_id))
    )


def parse_filters(query: dict[str, str]) -> dict[str, str]:
    """The filters asked for, each checked (a bad one is refused naming it)."""
    faults = []
    if query.get("kind") and query["kind"] not in KINDS:
        faults.append(("/kind", f"one of {', '.join(KINDS)}"))
    if query.get("state", "open") not in STATES:
        faults.append(("/state", f"one of {', '.join(STATES)}"))
    for name in ("payer", "assignee"):
        if len(query.get(name, "")) > LONGEST_NAME:
            faults.append((f"/{name}", f"at most {LONGEST_NAME} characters"))
    if query.get("after") and _cursor(query["after"]) is None:
        faults.append(("/after", "a cursor from a previous page"))
    if faults:
        raise Invalid(faults)
    return {k: v for k, v in query.items() if v}


def _cursor(text: str) -> tuple[datetime, str, int] | None:
    moment, _, rest = text.partition("~")
    source, _, number = rest.partition("~")
    try:
        at = datetime.fromisoformat(moment)
    except ValueError:
        return None
    found = whole_number(number, largest=INT32)
    if source not in SOURCES or found is None or at.tzinfo is None:
        return None
    return at, source, found


def list_items(session: Session, query: dict[str, str], limit: int = PAGE) -> dict[str, Any]:
    """One page of the queue, oldest first, and the cursor of the next page."""
    filters = parse_filters(query)
    things = _things()
    statement = _listing(things)
    if "kind" in filters:
        statement = statement.where(things.c.kind == filters["kind"])
    if "payer" in filters:
        statement = statement.where(things.c.payer_code == filters["payer"])
    if "assignee" in filters:
        statement = statement.where(SupervisionItemRow.assignee == filters["assignee"])
    state = filters.get("state", "open")
    if state != "all":
        closed = SupervisionItemRow.closed_at.is_not(None)
        statement = statement.where(
            closed if state == "closed" else ~closed | SupervisionItemRow.id.is_(None)
        )
    if "after" in filters:
        at, source, number = _cursor(filters["after"])  # type: ignore[misc]
        moment = literal(at, UTCDateTime())
        statement = statement.where(
            or_(
                things.c.created_at > moment,
                and_(things.c.created_at == moment, things.c.source > source),
                and_(things.c.created_at == moment, things.c.source == source, things.c.source_id > number),
            )
        )
    order = (things.c.created_at, things.c.source, things.c.source_id)
    rows = [dict(r._mapping) for r in session.execute(statement.order_by(*order).limit(limit + 1))]
    more = rows[limit:]
    rows = rows[:limit]
    for row in rows:
        row["claim_id"] = str(row["claim_id"]) if row["claim_id"] else None
    last = rows[-1] if rows and more else None
    following = f"{last['created_at'].isoformat()}~{last['source']}~{last['source_id']}" if last else None
    return {"items": rows, "next": following, "filters": filters}


def get_item(session: Session, source: str, source_id: int) -> dict[str, Any]:
    """One thing to look at, its handling and its notes."""
    things = _things()
    row = session.execute(
        _listing(things).where(things.c.source == source, things.c.source_id == source_id)
    ).first()
    if row is None:
        raise NotFound(f"no supervision item {source}/{source_id}", [("/id", "not in the queue")])
    found = dict(row._mapping)
    found["claim_id"] = str(found["claim_id"]) if found["claim_id"] else None
    notes: list[SupervisionNoteRow] = []
    if found["item_id"]:
        notes = list(
            session.scalars(
                select(SupervisionNoteRow)
                .where(SupervisionNoteRow.item_id == found["item_id"])
                .order_by(SupervisionNoteRow.id)
            )
        )
    found["notes"] = [{"actor": n.actor, "text": n.text, "at": n.at} for n in notes]
    found["actions"] = [] if found["closed_at"] else ["assign", "note", "close"]
    return found


def parse_source(source: str, number: str) -> tuple[str, int]:
    found = whole_number(number, largest=INT32)
    if source not in SOURCES or found is None:
        raise NotFound(f"no supervision item {source}/{number}", [("/id", "not in the queue")])
    return source, found


def act(session: Session, actor: str, source: str, source_id: int, form: dict[str, str]) -> str:
    """Assign, note or close one item (checked, then audited); the action done."""
    action = form.get("action", "")
    current = get_item(session, source, source_id)  # a thing that is not recorded is refused here
    if action not in ("assign", "note", "close"):
        raise Invalid([("/action", "one of assign, note, close")])
    if current["closed_at"] is not None:
        raise Conflict(f"supervision item {source}/{source_id} is closed: nothing left to do")
    item = session.scalar(
        select(SupervisionItemRow).where(
            SupervisionItemRow.source == source, SupervisionItemRow.source_id == source_id
        )
    )
    if item is None:
        item = SupervisionItemRow(source=source, source_id=source_id)
        session.add(item)
    subject = f"supervision:{source}/{source_id}"
    if action == "assign":
        person = form.get("assignee", "").strip()
        if not person or len(person) > LONGEST_NAME:
            raise Invalid([("/assignee", f"a person's name, 1 to {LONGEST_NAME} characters")])
        item.assignee = person
        audit.record(session, "supervision.assign", subject, actor, assignee=person)
    else:
        text = form.get("note", "").strip()
        if action == "close" and form.get("reason") not in CLOSE_REASONS:
            raise Invalid([("/reason", f"one of {', '.join(CLOSE_REASONS)}")])
        if (action == "note" and not text) or len(text) > LONGEST_NOTE:
            raise Invalid([("/note", f"a note of 1 to {LONGEST_NOTE} characters")])
        session.flush()
        if text:
            session.add(SupervisionNoteRow(item_id=item.id, actor=actor, text=text))
        if action == "close":
            item.closed_at, item.closed_by, item.closed_reason = utcnow(), actor, form["reason"]
        # the note's words stay in the queue's table: the audit trail keeps what was done, not prose
        audit.record(
            session, f"supervision.{action}", subject, actor, reason=form.get("reason"), noted=bool(text)
        )
    item.updated_at = utcnow()
    session.flush()
    return action
