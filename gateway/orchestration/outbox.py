"""Messages to payers that must get through: assessments (one assessment serves every tier) and
adjustment notices. They are written in the transaction that makes them necessary and delivered
by the workers, with retries and a dead-letter state like payer steps."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from adapters.registry import capabilities
from adapters.sdk import AssessmentNotice, PermanentError, to_wire
from gateway import audit
from gateway.errors import Conflict, NotFound
from gateway.orchestration.transaction import Transaction, unflushed
from gateway.storage.tables import (
    AssessmentRow,
    ClaimRow,
    FlagRow,
    MemberRow,
    MemberVersionRow,
    OutboxRow,
    PayerRow,
    utcnow,
)

SENT, WAITING, DEAD = "sent", "waiting", "dead"


def assessment_notice(
    assessment: AssessmentRow, member: MemberRow, party: str, identity: MemberVersionRow | None = None
) -> AssessmentNotice:
    """The notice of an assessment, naming the member as that assessment recorded them
    (``identity``, its member version), not as a later assessment did."""
    scores = assessment.scores
    named = identity or member
    return AssessmentNotice(
        idempotency_key=f"assessment:{assessment.assessment_id}:{party}",
        assessment_id=str(assessment.assessment_id),
        member={"id_number": member.id_number, "name": named.name, "district": named.district},
        agency_code=assessment.agency_code,
        concluded_on=assessment.concluded_on.isoformat(),
        disabled_since=assessment.disabled_since.isoformat(),
        grade=assessment.grade,
        levels={
            "adl": assessment.adl_level,
            "cognition": assessment.cognition_level,
            "perception": assessment.perception_level,
        },
        scores={k: dict(v) for k, v in scores.items()},
        effective_from=assessment.effective_from.isoformat(),
        valid_until=assessment.valid_until.isoformat(),
    )


_OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]

# Queued once whether or not it is queued already (every tier of a claim asks): one INSERT, which
# depends on nothing the transaction has pending: on the table, run on the session's connection
# with no flush first (``recording``).
_QUEUE_ONCE = {
    dialect.__name__.rpartition(".")[2]: dialect.insert(_OUTBOX)
    .on_conflict_do_nothing(index_elements=[_OUTBOX.c.idempotency_key])
    .returning(_OUTBOX.c.id)
    for dialect in (postgresql, sqlite)
}


def send_assessment(
    tx: Transaction, assessment: AssessmentRow, party: str, claim_id: uuid.UUID | None = None
) -> None:
    """Queue the assessment for a payer, once (a payer with no adapter is the gateway itself):
    leased to the transaction's worker if it has one (``Transaction.lessee``). ``claim_id``: the
    claim whose step asks; a worker that queued the notice for that claim already (two steps of
    one payer) skips building and upserting it again."""
    key = f"assessment:{assessment.assessment_id}:{party}"
    if claim_id is not None and tx.kept is not None and key in tx.kept.noticed.get(claim_id, ()):
        return
    if claim_id is not None:
        tx.noticed.append((claim_id, key))  # the worker keeps it once the transaction commits
    session = tx.session
    payer = session.get(PayerRow, party)
    if payer is None or capabilities(payer.adapter).adjudicates_locally:
        return
    member = session.get_one(MemberRow, assessment.member_id)
    identity = (
        None
        if assessment.member_version is None
        else session.get(MemberVersionRow, (assessment.member_id, assessment.member_version))
    )
    notice = assessment_notice(assessment, member, party, identity)
    now, payload = utcnow(), to_wire(notice)
    lessee = tx.lessee
    owner, expires = (lessee.owner, now + lessee.lease) if lessee else (None, None)
    queued = (
        session.connection()
        .execute(  # no flush first (``recording``)
            _QUEUE_ONCE[session.get_bind().dialect.name],
            {
                "kind": "assessment",
                "payer_code": party,
                "idempotency_key": notice.idempotency_key,
                "payload": payload,
                "status": WAITING,
                "attempts": 1 if lessee else 0,  # sent at once: counted before it is
                "next_attempt_at": now,
                "lease_owner": owner,
                "lease_expires_at": expires,
            },
        )
        .scalar()
    )
    if queued is None:  # queued by an earlier claim or tier
        return
    if lessee:
        tx.taken.append(Message(queued, "assessment", party, payer.adapter, payload))
    else:
        tx.queued = True


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    party: str
    adapter: dict[str, Any] | None
    payload: dict[str, Any]


def lease_messages(
    tx: Transaction, owner: str, lease: timedelta, limit: int, max_attempts: int | None = None
) -> list[Message]:
    """Due messages, leased to ``owner``, each attempt counted before it is sent (a call lost to a
    crash counts); a message that has had ``max_attempts`` goes to the dead-letter state instead."""
    session = tx.session
    now = utcnow()
    rows = session.execute(
        select(
            OutboxRow.id,
            OutboxRow.kind,
            OutboxRow.payer_code,
            OutboxRow.payload,
            PayerRow.adapter,
            OutboxRow.attempts,
        )
        .outerjoin(PayerRow, PayerRow.payer_code == OutboxRow.payer_code)
        .where(
            OutboxRow.status == WAITING,
            OutboxRow.next_attempt_at <= now,
            or_(OutboxRow.lease_expires_at.is_(None), OutboxRow.lease_expires_at < now),
        )
        .order_by(OutboxRow.next_attempt_at)
        .limit(limit)
        .with_for_update(of=OutboxRow, skip_locked=True)
    ).all()
    spent = [row for row in rows if max_attempts is not None and row.attempts >= max_attempts]
    for row in spent:
        dead_letter(tx, session.get_one(OutboxRow, row.id), f"gave up after {row.attempts} attempts")
    rows = [row for row in rows if row not in spent]
    if rows:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_([row.id for row in rows]))
            .values(lease_owner=owner, lease_expires_at=now + lease, attempts=OutboxRow.attempts + 1)
        )
    return [Message(row.id, row.kind, row.payer_code, row.adapter, row.payload) for row in rows]


# A delivered message, the usual case: one statement, built once, run for a whole batch of them
# (executemany); the rows were written by earlier transactions, so nothing needs a flush first.
_DELIVERED = unflushed(
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("message_id"))
    .values(
        attempts=_OUTBOX.c.attempts + bindparam("more"),
        lease_owner=None,
        lease_expires_at=None,
        status=SENT,
        sent_at=bindparam("sent_at"),
        last_error=None,
    )
)


def settle_delivered(tx: Transaction, delivered: Sequence[tuple[int, int]]) -> None:
    """Messages delivered, each with the calls made (the first was counted when it was leased)."""
    if delivered:
        now = utcnow()
        tx.session.execute(
            _DELIVERED,
            [{"message_id": id_, "more": max(0, calls - 1), "sent_at": now} for id_, calls in delivered],
        )


def settle_message(
    tx: Transaction,
    message_id: int,
    error: Exception | None,
    calls: int,
    backoff: Callable[[int], timedelta],
    max_attempts: int,
) -> None:
    """How a delivery went: ``calls`` made (the first was counted when the message was leased);
    ``backoff``: the wait before the next lease, after so many attempts in all."""
    session, more = tx.session, max(0, calls - 1)
    if error is None:
        settle_delivered(tx, [(message_id, calls)])
        return
    row = session.get_one(OutboxRow, message_id)
    row.attempts += more
    row.lease_owner, row.lease_expires_at = None, None
    row.last_error = f"{type(error).__name__}: {error}"
    if isinstance(error, PermanentError):
        dead_letter(tx, row, row.last_error)
    elif row.attempts >= max_attempts:
        dead_letter(tx, row, f"gave up after {row.attempts} attempts; last: {row.last_error}")
    else:
        row.next_attempt_at = utcnow() + backoff(row.attempts)


def dead_letter(tx: Transaction, row: OutboxRow, error: str) -> None:
    """The message waits for the bureau to re-drive it (``redeliver``); once the transaction
    commits, ``flag_dead`` flags it (``Transaction.dead``)."""
    row.status, row.last_error = DEAD, error
    row.lease_owner, row.lease_expires_at = None, None
    tx.dead.append(row.id)


def flag_dead(sessions: sessionmaker[Session], message_ids: list[int]) -> None:
    """Flag dead messages on the claims they concern, audited: a message's own claim, or for an
    assessment every claim that cites it."""
    with sessions.begin() as session:
        for row in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(message_ids))):
            claims = [row.claim_id] if row.claim_id is not None else []
            if row.kind == "assessment":  # the key names the assessment: "assessment:<id>:<payer>"
                assessment = uuid.UUID(row.idempotency_key.split(":")[1])
                citing = select(ClaimRow.claim_id).where(ClaimRow.assessment_id == assessment)
                claims += session.scalars(citing)
            detail = f"{row.kind} notice to {row.payer_code} is dead-lettered: {row.last_error}"
            session.add_all(
                FlagRow(kind="notice_dead", claim_id=claim, payer_code=row.payer_code, detail=detail)
                for claim in claims
            )
            subject, error = f"outbox:{row.id}", row.last_error
            audit.record(session, "outbox.dead", subject, kind=row.kind, payer=row.payer_code, error=error)


def redeliver(session: Session, message_id: int) -> dict[str, Any]:
    """The bureau re-drives a dead message: the same row, so the same idempotency key and the
    payload as stored, byte for byte (never rebuilt from today's records: a payer that did get
    it recognises it), due now with its attempts counted afresh. The row is locked first, so two
    presses resend it once. Returns the delivery it replaces (its attempts and last error), for
    the caller to record: the row itself keeps only the current delivery."""
    row = session.get(OutboxRow, message_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no notice {message_id}", [("/notice_id", "no such notice")])
    if row.status != DEAD:
        raise Conflict(f"notice {message_id} is {row.status}; only dead notices are resent")
    replaced = {"attempts": row.attempts, "error": row.last_error}
    row.status, row.next_attempt_at, row.attempts, row.last_error = WAITING, utcnow(), 0, None
    row.lease_owner, row.lease_expires_at = None, None
    return replaced
