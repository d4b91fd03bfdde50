"""Settlement batches through the clearing lifecycle (``reconciliation.clearing``): declaring a
payer's batch for a period, each transition in one transaction (audited, kept as an event), and
the batches as lists and pages.

A batch's **period** is a Beijing calendar month (``YYYY-MM``). An adjustment's business date is
the Beijing date it was recorded on (the settlement item's ``created_at``, as the ledger's
``business_date``); a batch of period M takes the payer's pending items dated M or earlier — at
申报, and again at 初审 (what arrived in between). From 初审 on its content is fixed, so 复核 approves
exactly what 初审 reviewed, and from 复核 on the batch is frozen: a later adjustment, whatever its
date, waits for the payer's next batch.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

import schemas
from gateway import audit
from gateway.domain.beijing_time import BEIJING
from gateway.domain.numbers import INT32, LARGEST, whole_number
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.services.keys import Principal, Role
from gateway.services.staff import named, person_of
from gateway.storage.tables import (
    ClaimRow,
    SettlementBatchEventRow,
    SettlementBatchRow,
    SettlementItemRow,
    utcnow,
)
from reconciliation import clearing

PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
PAGE = 50
MAX_PAGE = 200
SHOWN_ITEMS = 1000  # a batch's page and JSON show this many items; its files hold every one


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_end(period: str) -> datetime:
    """The first moment after the period (midnight Beijing of the next month's first day), in UTC."""
    year, month = int(period[:4]), int(period[5:])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=BEIJING).astimezone(UTC)


def parse_period(text: Any, today: date, pointer: str = "/period") -> str:
    if not isinstance(text, str) or not PERIOD.match(text):
        raise Invalid([(pointer, "must be a month, YYYY-MM")])
    if text > period_of(today):
        raise Invalid([(pointer, f"must not be after this month ({period_of(today)})")])
    if text < "2000-01":
        raise Invalid([(pointer, "must be 2000-01 or later")])
    return text


def parse_id(text: str) -> int:
    number = whole_number(text, largest=INT32)
    if number is None or number == 0:
        raise NotFound(f"no settlement batch {text}", [("/id", f"is not a batch id (1 to {INT32})")])
    return number


FOUR_EYES = ("first_review", "second_review")  # the steps the rule compares: a named person each


def person(principal: Principal, action: str = "") -> str:
    """Who acts, for the four-eyes rule (``gateway.services.staff.person_of``); 初审 and 复核 take
    a named person (``staff.named``), not a key issued to no one."""
    if action in FOUR_EYES:
        return named(principal, f"{clearing.TRANSITIONS[action].label} ({action})")
    return person_of(principal)


def role_of(principal: Principal) -> clearing.Role:
    """What ``clearing`` checks: a person's staff roles, or a key's role."""
    return principal.staff_roles if principal.person else principal.role.value


def declare(session: Session, principal: Principal, document: Any, today: date) -> dict[str, Any]:
    """申报: a new batch of the payer's pending items of the period or earlier; Conflict if none."""
    clearing.may_declare(role_of(principal))
    faults = schemas.faults("settlement-batch", document)
    if faults:
        raise Invalid(faults)
    period = parse_period(document["period"], today)
    batch = SettlementBatchRow(payer_code=document["payer_code"], period=period, status=clearing.DECLARED)
    batch.items, batch.net_fen = 0, 0
    session.add(batch)
    session.flush()
    if not _take_in(session, batch):
        raise Conflict(f"no pending adjustments of {batch.payer_code} dated {period} or earlier")
    _record(session, principal, batch, "declare", None, document.get("note", ""))
    return view(session, principal, batch.id)


def transition(
    session: Session, principal: Principal, batch_id: int, document: Any, *, approval_fen: int
) -> dict[str, Any]:
    """Take one step of the lifecycle on a batch (``clearing.step`` decides whether it may)."""
    faults = schemas.faults("settlement-transition", document)
    if faults:
        raise Invalid(faults)
    batch = _visible(session, principal, batch_id, lock=True)
    before = batch.status
    action = document["action"]
    reference = document.get("payment_reference")
    target = clearing.step(
        clearing.Batch(batch.status, batch.net_fen, people(session, batch.id)),
        action,
        role_of(principal),
        person(principal, action),
        payment_reference=reference,
        approval_fen=approval_fen,
    )
    if before in clearing.TAKES_IN:
        _take_in(session, batch)
    batch.status, batch.updated_at = target, utcnow()
    if action == "disburse":
        batch.payment_reference = (reference or "").strip()
    _record(session, principal, batch, action, before, document.get("note", ""))
    return view(session, principal, batch.id)


def _take_in(session: Session, batch: SettlementBatchRow) -> int:
    """Put the payer's pending items of the batch's period or earlier into it (locking them, so
    a concurrent batch cannot take them too); refresh its totals. How many it took."""
    assert batch.status not in clearing.FROZEN  # a frozen batch never takes anything in
    ids = list(
        session.scalars(
            select(SettlementItemRow.id)
            .where(
                SettlementItemRow.batch_id.is_(None),
                SettlementItemRow.payer_code == batch.payer_code,
                SettlementItemRow.created_at < period_end(batch.period),
            )
            .order_by(SettlementItemRow.id)
            .with_for_update()
        )
    )
    if ids:
        session.execute(
            update(SettlementItemRow).where(SettlementItemRow.id.in_(ids)).values(batch_id=batch.id)
        )
    count, net = session.execute(
        select(func.count(), func.coalesce(func.sum(SettlementItemRow.amount_fen), 0)).where(
            SettlementItemRow.batch_id == batch.id
        )
    ).one()
    batch.items, batch.net_fen = int(count), int(net)
    return len(ids)


def _record(
    session: Session,
    principal: Principal,
    batch: SettlementBatchRow,
    action: str,
    before: str | None,
    note: str,
) -> None:
    actor = audit.actor_of(principal)
    session.add(
        SettlementBatchEventRow(
            batch_id=batch.id,
            action=action,
            person=person(principal),
            actor=actor,
            before_status=before,
            after_status=batch.status,
            items=batch.items,
            net_fen=batch.net_fen,
            payment_reference=batch.payment_reference if action == "disburse" else None,
            note=note.strip(),
        )
    )
    audit.record(
        session,
        f"settlement_batch.{action}",
        f"settlement_batch:{batch.id}",
        actor=actor,
        before=before,
        after=batch.status,
        payer_code=batch.payer_code,
        period=batch.period,
        items=batch.items,
        net_fen=batch.net_fen,
        payment_reference=batch.payment_reference if action == "disburse" else None,
    )
    session.flush()


def people(session: Session, batch_id: int) -> dict[str, str]:
    """Who took each step of the batch so far (action → person)."""
    rows = session.execute(
        select(SettlementBatchEventRow.action, SettlementBatchEventRow.person)
        .where(SettlementBatchEventRow.batch_id == batch_id)
        .order_by(SettlementBatchEventRow.id)
    )
    return {action: who for action, who in rows}


def _visible(session: Session, principal: Principal, batch_id: int, lock: bool = False) -> SettlementBatchRow:
    """The batch, if the caller may see it: a payer sees only its own (others' are not found)."""
    batch = session.get(SettlementBatchRow, batch_id, with_for_update=lock)
    if batch is None or (principal.role == Role.PAYER and batch.payer_code != principal.party_code):
        raise NotFound(f"no settlement batch {batch_id}")
    return batch


def summary(batch: SettlementBatchRow) -> dict[str, Any]:
    return {
        "batch_id": batch.id,
        "payer_code": batch.payer_code,
        "period": batch.period,
        "status": batch.status,
        "item_count": batch.items,
        "net_fen": batch.net_fen,
        "payment_reference": batch.payment_reference,
        "created_at": batch.created_at.isoformat(),
        "updated_at": batch.updated_at.isoformat(),
    }


def view(
    session: Session, principal: Principal, batch_id: int, item_limit: int | None = SHOWN_ITEMS
) -> dict[str, Any]:
    """A batch with its items (and each item's provider and claim number; the first
    ``item_limit``, None for all, as the files need), its totals, its history, and the actions
    the caller may take now."""
    batch = _visible(session, principal, batch_id)
    rows = session.execute(
        select(SettlementItemRow, ClaimRow.provider_code, ClaimRow.claim_number)
        .outerjoin(ClaimRow, ClaimRow.claim_id == SettlementItemRow.claim_id)
        .where(SettlementItemRow.batch_id == batch.id)
        .order_by(SettlementItemRow.id)
        .limit(item_limit)
    ).all()
    items = [
        {
            "claim_id": str(item.claim_id),
            "claim_number": number,
            "provider_code": provider,
            "line_no": item.line_no,
            "amount_fen": item.amount_fen,
            "source": item.source,
            "business_date": item.created_at.astimezone(BEIJING).date().isoformat(),
        }
        for item, provider, number in rows
    ]
    events = session.scalars(
        select(SettlementBatchEventRow)
        .where(SettlementBatchEventRow.batch_id == batch.id)
        .order_by(SettlementBatchEventRow.id)
    )
    history = [
        {
            "action": e.action,
            "person": e.person,
            "actor": e.actor,
            "before": e.before_status,
            "after": e.after_status,
            "items": e.items,
            "net_fen": e.net_fen,
            "payment_reference": e.payment_reference,
            "note": e.note,
            "at": e.created_at.isoformat(),
        }
        for e in events
    ]
    who = {str(h["action"]): str(h["person"]) for h in history}
    state = clearing.Batch(batch.status, batch.net_fen, who)
    amount = SettlementItemRow.amount_fen
    count, top_ups, recoveries = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((amount > 0, amount), else_=0)), 0),
            func.coalesce(func.sum(case((amount < 0, amount), else_=0)), 0),
        ).where(SettlementItemRow.batch_id == batch.id)
    ).one()
    return {
        **summary(batch),
        "frozen": batch.status in clearing.FROZEN,
        "totals": {
            "items": int(count),
            "top_up_fen": int(top_ups),
            "recovery_fen": int(recoveries),
            "net_fen": int(top_ups) + int(recoveries),
        },
        "items": items,
        "items_shown": len(items),
        "history": history,
        "next_actions": [
            a
            for a in clearing.next_actions(state, role_of(principal), person(principal))
            if principal.person or a not in FOUR_EYES
        ],
    }


def list_batches(session: Session, principal: Principal, query: dict[str, str]) -> dict[str, Any]:
    """Newest first; filters ``payer``, ``period``, ``status`` (comma-separated); ``offset`` and
    ``limit`` (at most 200). A payer's key lists its own batches only."""
    statement = select(SettlementBatchRow)
    faults = []
    payer = query.get("payer")
    if principal.role == Role.PAYER:
        if payer and payer != principal.party_code:
            raise Forbidden(f"a key of payer {principal.party_code} sees only its own batches")
        payer = principal.party_code
    if payer:
        statement = statement.where(SettlementBatchRow.payer_code == payer)
    if query.get("period"):
        if not PERIOD.match(query["period"]):
            faults.append(("/period", "must be a month, YYYY-MM"))
        statement = statement.where(SettlementBatchRow.period == query["period"])
    if query.get("status"):
        wanted = query["status"].split(",")
        unknown = [s for s in wanted if s not in clearing.STATES]
        if unknown:
            faults.append(("/status", f"must be among {', '.join(clearing.STATES)}"))
        statement = statement.where(SettlementBatchRow.status.in_(wanted))
    numbers = {}
    for name, largest, default in (("offset", LARGEST, 0), ("limit", MAX_PAGE, PAGE)):
        text = query.get(name)
        number = default if not text else whole_number(text, largest=largest)
        if number is None or (name == "limit" and number < 1):
            faults.append(
                (f"/{name}", f"must be a whole number{' from 1' if name == 'limit' else ''} to {largest}")
            )
        else:
            numbers[name] = number
    if faults:
        raise Invalid(faults)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(SettlementBatchRow.id.desc()).offset(numbers["offset"]).limit(numbers["limit"])
    )
    return {"total": total, "offset": numbers["offset"], "batches": [summary(r) for r in rows]}
