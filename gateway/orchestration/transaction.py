"""One transaction of the fan-out: its session, and what the transaction carries besides, passed
in the signatures of the functions that read or add to it.

A ``Transaction`` is made where a transaction begins: by the worker for each of its own (with the
facts it keeps across them, and itself as the lessee of the messages the transaction queues), and
by a use case that moves a claim (a payer's callback, a rerun, a reconciliation action) for its
own. After commit the worker reads what the transaction queued and dead-lettered.

**Reads need no flush.** The rows the fan-out's statements read back are never left pending in
the session: a claim's line payments and ledger entries are written by INSERT statements at once
(never as objects), and claim lines, other claims' payments, grants and places, and a proposal's
rows were written by earlier transactions. So those statements run ``unflushed``: without first
flushing what the move has pending, which would cost a flush of the unit of work for each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

if TYPE_CHECKING:
    from gateway.coordination import Repeat
    from gateway.domain.claims import ClaimLine
    from gateway.domain.products import Product
    from gateway.orchestration.outbox import Message
    from gateway.orchestration.shares import Computed

S = TypeVar("S", bound=Executable)


def unflushed(statement: S, **options: Any) -> S:
    """The statement, run without flushing the transaction's pending changes first: what it reads
    (or deletes) was written by INSERT or by an earlier transaction (see the module's docstring)."""
    return statement.execution_options(autoflush=False, **options)


@dataclass(frozen=True)
class Lessee:
    """The worker whose transaction it is: what the transaction queues is written already leased
    to it, and it sends that as soon as the transaction commits, with no lease of its own (it is
    leased like any other message if the worker dies first)."""

    owner: str
    lease: timedelta


@dataclass
class Kept:
    """What a worker keeps across its transactions, because it never changes once written."""

    # product versions, by ("product", code, version): a changed definition is registered as the
    # next version
    products: dict[tuple[str, str, int], Product] = field(default_factory=dict)
    # the lines of the claims in flight, with the round they were read in: written when the claim
    # was accepted, and again only by a replacement, which opens a new round
    claim_lines: dict[uuid.UUID, tuple[int, tuple[ClaimLine, ...]]] = field(default_factory=dict)
    # by line, the repeated units of the claims in flight (``claim_facts.repeated_units``): a claim's
    # earlier claims are fixed once it has its place, and their lines never change
    repeats: dict[uuid.UUID, tuple[int, dict[int, Repeat]]] = field(default_factory=dict)

    # by step, the indemnity share its stored request was built from (``shares.asked``), with the
    # claim and round: checking the payer's answer against the share as asked needs no second
    # computation while the claim stays with this worker
    # (by claim, then step; popped whole when the claim leaves: moves run in threads meanwhile)
    asked: dict[uuid.UUID, dict[int, tuple[int, Computed]]] = field(default_factory=dict)

    # by claim in flight, the assessment notices queued for it (``outbox.send_assessment``) by
    # committed transactions: queued once, they need not be built and upserted for its next step
    noticed: dict[uuid.UUID, set[str]] = field(default_factory=dict)

    def forget(self, claim_id: uuid.UUID) -> None:
        """The claim has left the worker."""
        self.claim_lines.pop(claim_id, None)
        self.repeats.pop(claim_id, None)
        self.noticed.pop(claim_id, None)
        self.asked.pop(claim_id, None)


@dataclass
class Transaction:
    """The fan-out's view of one database transaction (see the module's docstring)."""

    session: Session
    kept: Kept | None = None  # a worker's: else product versions are held for this transaction
    lessee: Lessee | None = None  # a worker's, while its pipeline runs
    # what this transaction reads more than once and does not change (a move checks a decision and
    # builds the next request from the same claim facts); holding the rows also keeps them in the
    # session's identity map (it holds them weakly), so later lookups cost no query
    memo: dict[Any, Any] = field(default_factory=dict)
    taken: list[Message] = field(default_factory=list)  # queued leased to ``lessee``: it sends them
    queued: bool = False  # queued for any worker: lease them now rather than at the next poll
    # messages dead-lettered, flagged once the transaction commits, in a transaction of their own:
    # a flag holds its claim's key, and a move that holds the claim may be waiting to queue this
    # very message (a deadlock on PostgreSQL)
    dead: list[int] = field(default_factory=list)
    # assessment notices queued (or found queued) by claim: kept by the worker after commit
    noticed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
