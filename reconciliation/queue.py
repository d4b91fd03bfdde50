"""The work queue: open mismatches, the reconcilers' actions on them (each audited), the four-eyes
rule for every large movement of money. Accepting a payer's figure is ``reconciliation.accept_payer``;
the net adjustments per payer that form the next settlement batch, ``reconciliation.settlement``.

A reconciler is a person: the four-eyes rule compares people (``gateway.services.staff.person_of``:
a signed-in staff account, or a key issued to one), so asking for a movement above the threshold
and approving it take a named person (``staff.named``): one person's two keys are one person.
A person resolves with the reconciler role and approves with the approver role.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import schemas
from gateway import audit
from gateway.domain.catalogue import ServiceCatalogue
from gateway.domain.numbers import INT32, whole_number
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.services.keys import Principal
from gateway.services.staff import StaffRole, named, person_of, require
from gateway.storage.tables import ClaimRow, MismatchActionRow, MismatchRow, SettlementItemRow, utcnow
from reconciliation.accept_payer import accept_payer, check_accept_payer
from reconciliation.matching import ACROSS_PAYERS, OPEN_MISMATCH_STATUSES
from reconciliation.queue_listing import list_mismatches, mismatch_view, queue_date

__all__ = ["actions_for", "get_mismatch", "list_mismatches", "resolve"]

MOVES_MONEY = ("recover", "top_up", "accept_payer", "write_off")  # four eyes above the threshold
ACTIONS = ("accept_payer", "request_correction", "recover", "top_up", "write_off", "carry_forward", "approve")
_ALL = ("request_correction", "recover", "top_up", "write_off", "carry_forward")
# The actions that apply to each kind: accepting the payer's figure needs a gateway decision that
# the figure replaces; nothing is missing for the payer to recover or top up when it never settled
# the gateway's line (it is asked to); an over-coordinated line has no one payer to ask or pay.
KIND_ACTIONS = {
    "AMOUNT_MISMATCH": ("accept_payer", *_ALL),
    "STALE_COORDINATION": ("accept_payer", *_ALL),
    "MISSING_AT_PAYER": ("request_correction", "write_off", "carry_forward"),
    "UNKNOWN_AT_GATEWAY": ("request_correction", "recover", "write_off", "carry_forward"),
    "DUPLICATE_SETTLEMENT": ("request_correction", "recover", "write_off", "carry_forward"),
    "OVER_COORDINATED": ("write_off", "carry_forward"),
}


def history(session: Session, mismatch_id: int) -> list[dict[str, Any]]:
    return [
        {
            "action": a.action,
            "actor": a.actor,
            "note": a.note,
            "amount_fen": a.amount_fen,
            "before": a.before_status,
            "after": a.after_status,
            "at": a.created_at.isoformat(),
        }
        for a in session.scalars(
            select(MismatchActionRow)
            .where(MismatchActionRow.mismatch_id == mismatch_id)
            .order_by(MismatchActionRow.id)
        )
    ]


def get_mismatch(session: Session, mismatch_id: int, today: date) -> dict[str, Any]:
    row = session.get(MismatchRow, mismatch_id)
    if row is None:
        raise NotFound(f"no mismatch {mismatch_id}")
    claim = session.get(ClaimRow, row.claim_id)
    view = mismatch_view(
        row,
        queue_date(session, today),
        claim.claim_number if claim else None,
        claim.provider_code if claim else None,
    )
    return {**view, "actions": actions_for(row.kind, row.status), "history": history(session, mismatch_id)}


def actions_for(kind: str, status: str) -> list[str]:
    """What a reconciler may do to an item of this kind in this status."""
    if status == "pending_approval":
        return ["approve"]
    if status not in OPEN_MISMATCH_STATUSES:
        return []
    return list(KIND_ACTIONS.get(kind, ()))


def resolve(
    session: Session,
    principal: Principal,
    mismatch_id: int,
    document: Any,
    *,
    write_off_approval_fen: int,
    catalogue: ServiceCatalogue,
    today: date,
) -> dict[str, Any]:
    """``write_off_approval_fen``: any action that moves more money than this (``MOVES_MONEY``)
    waits for a second reconciler's ``approve``; it takes effect (a settlement item, a revision)
    only then, so a settlement batch holds approved movements only."""
    faults = schemas.faults("resolution", document)
    if faults:
        raise Invalid(faults)
    # a person resolves as a reconciler and approves as an approver (a key: its key role)
    require(principal, StaffRole.APPROVER if document["action"] == "approve" else StaffRole.RECONCILER)
    row = session.get(MismatchRow, mismatch_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no mismatch {mismatch_id}")
    action, note = document["action"], document["note"].strip()
    if not note:
        raise Invalid([("/note", "a note is required for every action")])
    before = row.status
    if before not in OPEN_MISMATCH_STATUSES:
        raise Conflict(f"mismatch {mismatch_id} is {before}; there is nothing left to do")
    if before == "pending_approval" and action != "approve":
        raise Conflict(f"mismatch {mismatch_id} waits for a second reconciler to approve its resolution")
    amount = document.get("amount_fen")
    if action != "approve" and action not in actions_for(row.kind, before):
        raise Conflict(f"{action} does not apply to a {row.kind} item", [("/action", "not for this kind")])
    if action == "approve":
        if before != "pending_approval":
            raise Conflict(f"mismatch {mismatch_id} has no resolution waiting for approval")
        if row.approval_by == named(principal, "approving a movement of money"):
            raise Forbidden("four eyes: the resolution must be approved by another reconciler")
        waiting = _waiting(session, row)
        # checked again against the mismatch as it is now: a run may have changed its amounts
        asked = (
            abs(waiting.amount_fen)
            if waiting.action in ("recover", "top_up") and waiting.amount_fen
            else None
        )
        amount = _movement(row, waiting.action, asked)
        _take_effect(session, row, waiting.action, amount, catalogue, waiting.note)
        row.status = "resolved"
    elif action in MOVES_MONEY:
        amount = _movement(row, action, amount)
        if abs(amount) > write_off_approval_fen:
            if action == "accept_payer":
                check_accept_payer(row)
            row.status = "pending_approval"
            row.approval_by = named(principal, "a movement of money above the threshold")
        else:
            _take_effect(session, row, action, amount, catalogue, note)
            row.status = "resolved"
    elif action == "carry_forward":
        row.status = "carried"
    elif action == "request_correction":
        if row.payer_code == ACROSS_PAYERS:
            raise Conflict("an over-coordinated line has no single payer to ask; resolve it per payer")
        row.status = "awaiting_payer"
    row.updated_at = utcnow()
    who = principal.party_code
    audit.record(
        session,
        f"mismatch.{action}",
        f"mismatch:{row.id}",
        actor=audit.actor_of(principal) if principal.person else f"{principal.role.value}:{who}",
        before=before,
        after=row.status,
        note=note,
        amount_fen=amount,
    )
    session.add(
        MismatchActionRow(
            mismatch_id=row.id,
            action=action,
            actor=person_of(principal) if principal.person else f"{who} ({principal.key_id})",
            note=note,
            amount_fen=amount,
            before_status=before,
            after_status=row.status,
        )
    )
    session.flush()
    return get_mismatch(session, row.id, today)


def _movement(row: MismatchRow, action: str, amount: int | None) -> int:
    """The fen the action moves (signed as the settlement item would be): a recovery or top-up
    is at most the mismatch's difference, so no one pays out more than the mismatch is about."""
    if action in ("accept_payer", "write_off"):
        return row.difference_fen
    if row.payer_code == ACROSS_PAYERS:
        raise Invalid([("/action", "name the payer: recover or top up on that payer's own mismatch")])
    bound = abs(row.difference_fen)
    size = bound if amount is None else amount
    if size <= 0:
        raise Invalid([("/amount_fen", "must be a positive amount of fen")])
    if size > bound:
        raise Invalid([("/amount_fen", f"must be at most the mismatch's difference, {bound} fen")])
    return size if action == "top_up" else -size


def _take_effect(
    session: Session,
    row: MismatchRow,
    action: str,
    amount: int,
    catalogue: ServiceCatalogue,
    note: str,
) -> None:
    if action in ("recover", "top_up"):
        session.add(
            SettlementItemRow(
                payer_code=row.payer_code,
                claim_id=row.claim_id,
                line_no=row.line_no,
                amount_fen=amount,
                source=f"mismatch:{row.id}",
            )
        )
    elif action == "accept_payer":
        accept_payer(session, row, catalogue, note)


def _waiting(session: Session, row: MismatchRow) -> MismatchActionRow:
    """The action that waits for approval: the last one that put the mismatch into waiting."""
    waiting = session.scalars(
        select(MismatchActionRow)
        .where(
            MismatchActionRow.mismatch_id == row.id,
            MismatchActionRow.after_status == "pending_approval",
        )
        .order_by(MismatchActionRow.id.desc())
        .limit(1)
    ).first()
    if waiting is None:
        raise Conflict(f"mismatch {row.id} has no resolution on record to approve")
    return waiting


def parse_id(text: str) -> int:
    number = whole_number(text, largest=INT32)  # the column is an int32 on PostgreSQL
    if number is None:
        raise NotFound(f"no mismatch {text}", [("/id", f"is not a mismatch id (1 to {INT32})")])
    return number


def claim_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)
