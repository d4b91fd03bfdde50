"""The audit trail of state changes (claims, payer decisions, adjustments, reconciliation actions,
keys): append-only and hash-chained. Each entry's hash is an HMAC-SHA256, under the audit key
(``LTC_AUDIT_KEY``), of the previous entry's hash and the entry's own content; the chain's end is
kept in ``audit_head``. ``verify`` recomputes the chain and names the first entry that does not
fit: an edited row, a row inserted among the others, a deleted row, or a cut end.

Appending locks the head row for the rest of the transaction, so entries chain in commit order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import AuditEntryRow, AuditHeadRow, utcnow

GENESIS = "0" * 64
_DEV_KEY = b"ltc-gateway audit key for development only"


def audit_key() -> bytes:
    key = os.environ.get("LTC_AUDIT_KEY")
    return key.encode() if key else _DEV_KEY


def _digest(key: bytes, prev_hash: str, entry: AuditEntryRow) -> str:
    content = json.dumps(
        {
            "id": entry.id,
            "at": entry.at.isoformat(),
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "detail": entry.detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hmac.new(key, (prev_hash + content).encode(), hashlib.sha256).hexdigest()


def record(session: Session, action: str, subject: str, actor: str = "system", **detail: Any) -> None:
    """Append one entry in the caller's transaction (so it commits, or not, with the change)."""
    head = session.get(AuditHeadRow, 1, with_for_update=True)
    if head is None:
        head = AuditHeadRow(id=1, last_id=0, hash=GENESIS)
        session.add(head)
        session.flush()
        head = session.get_one(AuditHeadRow, 1, with_for_update=True)
    entry = AuditEntryRow(
        id=head.last_id + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        detail=json.loads(json.dumps(detail, default=str)),
        prev_hash=head.hash,
        hash="",
    )
    entry.hash = _digest(audit_key(), head.hash, entry)
    session.add(entry)
    head.last_id, head.hash = entry.id, entry.hash


@dataclass(frozen=True)
class Verdict:
    entries: int
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def _entries(session: Session, chunk: int = 5000) -> Iterator[AuditEntryRow]:
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntryRow).where(AuditEntryRow.id > after).order_by(AuditEntryRow.id).limit(chunk)
            )
        )
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].id
        session.expunge_all()


def verify(session: Session, key: bytes | None = None) -> Verdict:
    key = key or audit_key()
    problems: list[str] = []
    previous_hash, previous_id, count = GENESIS, 0, 0
    for entry in _entries(session):
        count += 1
        if entry.id != previous_id + 1:
            problems.append(f"entry {entry.id}: follows entry {previous_id} (entries deleted or inserted)")
        if entry.prev_hash != previous_hash:
            problems.append(f"entry {entry.id}: does not chain to the entry before it (deleted or inserted)")
        elif _digest(key, entry.prev_hash, entry) != entry.hash:
            problems.append(f"entry {entry.id}: its content does not match its hash (edited)")
        previous_hash, previous_id = entry.hash, entry.id
        if len(problems) >= 20:
            break
    head = session.get(AuditHeadRow, 1)
    if head is not None and not problems and (head.last_id, head.hash) != (previous_id, previous_hash):
        problems.append(
            f"the chain ends at entry {previous_id} but its head says {head.last_id} (entries deleted)"
        )
    return Verdict(count, problems)
