"""The audit trail of state changes (claims, payer decisions, adjustments, reconciliation actions,
keys): append-only and hash-chained, without making the changes wait for one another.

An entry is written in the transaction of the change it describes (so it commits, or not, with
it), carrying a MAC of its own content under the audit key (``LTC_AUDIT_KEY``): from that moment an
edit shows. Chaining happens after commit: the sealer takes the committed, unsealed entries, gives
each the next place in the chain (``seq``) and a hash, an HMAC of the previous entry's hash and
its own content; the chain's end is kept in ``audit_head``. Only sealing locks the head, in short
transactions of its own, so concurrent claims and decisions never queue behind one another's
audit entries (they did when each append locked the head to its commit).

Every gateway process seals right after each commit that wrote entries (``Sealer``); ``verify``
seals what is left (say, by a process killed in between), then recomputes the chain and names the
first entry that does not fit: an edited row, a row inserted among the others, a deleted row, or a
cut end. An unsealed row without a valid MAC is never sealed: it is reported as forged.

The head carries a MAC too (of its place, entry and hash), so a cut end cannot be hidden by rolling
the head back: that needs the key. What a MAC cannot show is a genuine older head copied back with
the entries after it deleted (a replay); an external checkpoint does (``gateway.audit_checkpoints``).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Protocol, cast

from sqlalchemy import Table, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.bulk import insert_rows, update_rows
from gateway.storage.tables import AuditEntryRow, AuditHeadRow, utcnow

GENESIS = "0" * 64
SEAL_BATCH = 5000
# Seconds a wake-up waits for more commits, so one seal chains them together: a seal is a
# transaction of four statements, and at 50 ms a busy worker sealed after nearly every move.
# Entries carry their MAC from the start, so an edit shows at once; a deleted entry shows only once
# its neighbours are sealed, so this is also the window in which a deletion would go unseen.
SEAL_DELAY = 0.5
_DEV_KEY = b"ltc-gateway audit key for development only"
# Whether the session's transaction wrote entries: set by ``record``, taken by the sealer's hook
# after commit (``Sealer._after_commit``). The one piece of a transaction's state kept on the
# session (in ``Session.info``, SQLAlchemy's slot for it) rather than in the fan-out's
# ``Transaction``, because a session hook is what sealing needs: entries are written in every
# layer's transactions (API, CLI, reconciliation, workers), each begun and committed by its own
# ``sessions.begin()``, and only the session's events see every one of those commits. Passing an
# object to every ``record`` instead would carry the flag to the same hook, and audit, below the
# fan-out, cannot take the fan-out's object.
_PENDING = "audit_pending"
_LOG = cast(Table, AuditEntryRow.__table__)
log = logging.getLogger(__name__)


def audit_key() -> bytes:
    key = os.environ.get("LTC_AUDIT_KEY")
    return key.encode() if key else _DEV_KEY


def _content(entry: Any, name: str = "id") -> str:
    """The entry (an ``AuditEntryRow`` or a row of its columns) as hashed: in the chain under its
    id; in its MAC under its nonce (written before the database gives the id, and unique, so a
    copied row cannot pass as another entry)."""
    return json.dumps(
        {
            name: entry.id if name == "id" else entry.nonce,
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


def _mac(key: bytes, entry: Any) -> str:
    return hmac.new(key, _content(entry, "nonce").encode(), hashlib.sha256).hexdigest()


def _digest(key: bytes, prev_hash: str, entry: Any) -> str:
    return hmac.new(key, (prev_hash + _content(entry)).encode(), hashlib.sha256).hexdigest()


def _entry_is_genuine(key: bytes, entry: Any) -> bool:
    if entry.mac is None or entry.nonce is None:
        return False
    return hmac.compare_digest(entry.mac, _mac(key, entry))


def head_mac(key: bytes, last_seq: int, last_id: int, hash_: str) -> str:
    """The head's MAC: who can write the database but lacks the key cannot move the chain's end."""
    return hmac.new(key, f"head:{last_seq}:{last_id}:{hash_}".encode(), hashlib.sha256).hexdigest()


def _head_is_genuine(key: bytes, head: AuditHeadRow) -> bool:
    expected = head_mac(key, head.last_seq, head.last_id, head.hash)
    return head.mac is not None and hmac.compare_digest(head.mac, expected)


class Party(Protocol):  # a services.keys.Principal, without importing upwards
    @property
    def role(self) -> Any: ...
    @property
    def party_code(self) -> str: ...
    @property
    def key_id(self) -> str: ...


def actor_of(principal: Party) -> str:
    """Who made a change: ``person:<username>`` for a named member of staff (the console; with
    ``/key:<id>`` when they called with a key of their own), else (the API) the role, party and
    key it used."""
    person = getattr(principal, "person", None)
    if person:
        key_id = getattr(principal, "key_id", "")
        return f"person:{person}/key:{key_id}" if key_id else f"person:{person}"
    role = getattr(principal.role, "value", principal.role)
    return f"{role}:{principal.party_code}/key:{principal.key_id}"


def operator() -> str:
    """Who made a change on the command line: the operating-system account running it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (say, in a container)
        return f"cli:uid {os.getuid()}"


def record(session: Session, action: str, subject: str, actor: str = "system", **detail: Any) -> None:
    """Append one entry in the caller's transaction; it is sealed into the chain after commit."""
    entry = AuditEntryRow(
        nonce=uuid.uuid4().hex,
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        detail=json.loads(json.dumps(detail, default=str)),
    )
    entry.mac = _mac(audit_key(), entry)
    session.add(entry)
    session.info[_PENDING] = True


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry to append with ``record_many``."""

    action: str
    subject: str
    actor: str = "system"
    detail: dict[str, Any] = field(default_factory=dict)


def record_many(session: Session, entries: Sequence[Entry]) -> None:
    """``record`` for a batch (the busiest writer, the accept path): one INSERT of many rows, with
    no unit-of-work bookkeeping per entry; sealed after commit as ``record``'s are."""
    if not entries:
        return
    key, at = audit_key(), utcnow()
    rows = []
    for entry in entries:
        row = {"nonce": uuid.uuid4().hex, "at": at, "actor": entry.actor, "action": entry.action}
        row |= {"subject": entry.subject, "detail": json.loads(json.dumps(entry.detail, default=str))}
        row["mac"] = _mac(key, SimpleNamespace(**row))
        del row["at"]  # the same for every entry: sent once
        rows.append(row)
    insert_rows(session, _LOG, rows, same={"at": at})  # one statement (gateway.storage.bulk)
    session.info[_PENDING] = True


def seal(session: Session, key: bytes | None = None) -> int:
    """Chain every committed, unsealed entry, in id order, after the head; how many were sealed.
    Holds the head's lock to the end of the caller's (short) transaction."""
    key = key or audit_key()
    head = session.get(AuditHeadRow, 1, with_for_update=True)
    if head is None and session.scalar(
        select(AuditEntryRow.id).where(AuditEntryRow.seq.is_not(None)).limit(1)
    ):
        log.error("the audit chain's head is missing: nothing sealed (run audit verify)")
        return 0  # a new head would start a second chain over the first
    if head is None:
        # Another sealer (a process's, or verify's) may be creating it at this moment: the second
        # waits for the first and then takes its row.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(AuditHeadRow)
            .values(id=1, last_id=0, last_seq=0, hash=GENESIS, mac=head_mac(key, 0, 0, GENESIS))
            .on_conflict_do_nothing()
        )
        head = session.get_one(AuditHeadRow, 1, with_for_update=True)
    if not _head_is_genuine(key, head):
        # chaining onto a rolled-back head would make its cut end look genuine
        log.error("the audit chain's head does not match its MAC: nothing sealed (run audit verify)")
        return 0
    sealed, after = 0, 0
    content = [getattr(AuditEntryRow, name) for name in ("id", "at", "actor", "action", "subject", "detail")]
    while True:
        # plain rows and one UPDATE of their links: no unit-of-work bookkeeping per entry
        batch = session.execute(
            select(*content, AuditEntryRow.nonce, AuditEntryRow.mac)
            .where(AuditEntryRow.seq.is_(None), AuditEntryRow.id > after)
            .order_by(AuditEntryRow.id)
            .limit(SEAL_BATCH)
        ).all()
        chained = []
        for entry in batch:
            if not _entry_is_genuine(key, entry):
                log.error("audit entry %s does not match its MAC: left unsealed", entry.id)
                continue
            link = {"id": entry.id, "seq": head.last_seq + 1, "prev_hash": head.hash}
            link["hash"] = _digest(key, head.hash, entry)
            chained.append(link)
            head.last_seq, head.last_id, head.hash = link["seq"], entry.id, link["hash"]
        if chained:
            update_rows(session, _LOG, "id", chained)  # one statement (gateway.storage.bulk)
            head.mac = head_mac(key, head.last_seq, head.last_id, head.hash)
        sealed += len(chained)
        session.flush()
        if len(batch) < SEAL_BATCH:
            return sealed
        after = batch[-1].id


class Sealer:
    """Seals in the background after every commit that wrote audit entries: commits only wake it,
    and one seal covers whatever committed meanwhile, so under load it chains entries in batches."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._wake = threading.Event()
        self._closing = threading.Event()  # cuts the wait for more commits short
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        event.listen(sessions, "after_commit", self._after_commit)
        event.listen(sessions, "after_soft_rollback", self._after_rollback)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_PENDING, False):  # see _PENDING
            self.wake()

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        if not session.in_transaction():
            session.info.pop(_PENDING, None)

    def wake(self) -> None:
        if self._closed:
            return
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="audit-sealer", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._closed:
                return
            self._closing.wait(SEAL_DELAY)
            self._wake.clear()
            if self._closed:  # close() came while it slept: its wake-up was just cleared
                return
            self.seal_now()

    def seal_now(self) -> int:
        try:
            with self.sessions.begin() as session:
                return seal(session)
        except Exception:  # the next commit, or verify, seals what this one left
            log.exception("sealing the audit trail failed")
            return 0

    def close(self) -> None:
        """Stop the thread and seal what this process committed last."""
        if self._closed:
            return
        thread, self._closed = self._thread, True
        self._closing.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout=30)
            self.seal_now()
        event.remove(self.sessions, "after_commit", self._after_commit)
        event.remove(self.sessions, "after_soft_rollback", self._after_rollback)


@dataclass(frozen=True)
class Verdict:
    entries: int
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def _chain(session: Session, chunk: int = 5000) -> Iterator[AuditEntryRow]:
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntryRow)
                .where(AuditEntryRow.seq > after)
                .order_by(AuditEntryRow.seq)
                .limit(chunk)
            )
        )
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].seq or 0
        session.expunge_all()


def verify(
    session: Session, key: bytes | None = None, checkpoints: Iterable[tuple[int, str]] = ()
) -> Verdict:
    """Seal what is pending, then walk the chain; entries that could not be sealed are forged.
    ``checkpoints``: (seq, hash) pairs the chain must still pass through (from ``audit checkpoint``
    lines whose MAC the caller checked)."""
    key = key or audit_key()
    seal(session, key)
    problems: list[str] = []
    wanted = dict(checkpoints)
    passed: dict[int, str] = {0: GENESIS}
    previous_hash, previous_id, previous_seq, count = GENESIS, 0, 0, 0
    for entry in _chain(session):
        count += 1
        if entry.seq in wanted:
            passed[entry.seq] = entry.hash or ""
        if entry.seq != previous_seq + 1:
            problems.append(f"entry {entry.id}: follows entry {previous_id} (entries deleted or inserted)")
        if entry.prev_hash != previous_hash:
            problems.append(f"entry {entry.id}: does not chain to the entry before it (deleted or inserted)")
        elif _digest(key, entry.prev_hash, entry) != entry.hash or (
            entry.mac is not None and not hmac.compare_digest(entry.mac, _mac(key, entry))
        ):
            problems.append(f"entry {entry.id}: its content does not match its hash (edited)")
        previous_hash, previous_id, previous_seq = entry.hash or "", entry.id, entry.seq or 0
        if len(problems) >= 20:
            break
    waiting = 0  # genuine entries left unsealed: the sealer refuses a head that is not genuine
    for entry in session.scalars(
        select(AuditEntryRow).where(AuditEntryRow.seq.is_(None)).order_by(AuditEntryRow.id).limit(100)
    ):
        if _entry_is_genuine(key, entry):
            waiting += 1
        elif len(problems) < 20:
            problems.append(
                f"entry {entry.id}: its content does not match its MAC and it was never sealed "
                "(edited or inserted)"
            )
    head = session.get(AuditHeadRow, 1)
    if head is None or not _head_is_genuine(key, head):
        problems.append(
            "the chain's head is missing (deleted: entries may have been deleted too)"
            if head is None
            else f"the chain's head (entry {head.last_id}) does not match its MAC "
            "(rolled back or edited: entries may have been deleted)"
        )
        if waiting:
            more = "+" if waiting == 100 else ""
            problems.append(f"entries written since are left unsealed ({waiting}{more}) until it is restored")
    elif head is not None and not problems and (head.last_seq, head.hash) != (previous_seq, previous_hash):
        problems.append(
            f"the chain ends at entry {previous_id} but its head says {head.last_id} (entries deleted)"
        )
    for seq, hash_ in sorted(wanted.items()):
        if seq not in passed:
            problems.append(
                f"the chain ends at place {previous_seq} (entry {previous_id}), before the checkpoint "
                f"at place {seq} (entries deleted)"
            )
        elif not hmac.compare_digest(passed[seq], hash_):
            problems.append(
                f"the entry at place {seq} is not the one checkpointed there (entries deleted and replaced)"
            )
    return Verdict(count, problems)
