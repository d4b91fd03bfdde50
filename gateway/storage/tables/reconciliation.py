"""Settlement and reconciliation: the ledger of what each party is expected to settle,
the statements payers send, the nightly runs and their results, the work queue of mismatches
and its audit trail, and the settlement items and batches that net adjustments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables.base import Base, utcnow
from gateway.storage.tables.figures import slot_column


class LedgerEntryRow(Base):
    """What a payer is expected to settle, appended from every coordination and adjustment and
    never updated: a correction is a reversing entry. ``line_no`` 0 is a claim-level entry (a
    fixed benefit, with its ``month``). The expected amount is the sum of a key's entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_key", "payer_code", "claim_id", "line_no"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    payer_code: Mapped[str] = mapped_column(String(64))  # the party that settles
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_code: Mapped[str] = mapped_column(String(64))
    month: Mapped[str | None] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(16))  # payment | adjustment | fixed_benefit | reversal
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    round: Mapped[int] = mapped_column(Integer)
    business_date: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatementRow(Base):
    """A settlement statement as received (uploaded or pulled); the same content twice is refused."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("payer_code", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    content_hash: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8))  # upload | pull
    rows: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatementLineRow(Base):
    """One settled entry. The payer's reference tells identical legitimate entries apart; the
    same entry arriving again in another file is kept once. The key leads with the payer-line
    key, so it is also the index reconciliation looks keys up by.

    No surrogate id and no foreign key to ``statement_id``: lines are written only by
    ``import_statement``, in the transaction that creates their statement, and statements are
    never deleted; a second index and a sequence (or a per-row key check) cost more than the rest
    of a million-line insert."""

    __tablename__ = "statement_lines"
    # the work queue's search by the payer's reference (a page of 1.8 million lines otherwise): an
    # equality, so a hash index on PostgreSQL, cheaper to fill than a B-tree (migration 0038)
    __table_args__ = (Index("ix_statement_lines_reference", "payer_reference", postgresql_using="hash"),)

    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    payer_reference: Mapped[str] = mapped_column(String(128), primary_key=True)
    statement_id: Mapped[int] = mapped_column(Integer)
    row_no: Mapped[int] = mapped_column(Integer)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    settled_on: Mapped[date]


class ReconciliationRunRow(Base):
    """One business date's run; one row per date, so several schedulers never run a date twice
    at once (the row is leased while a run works)."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    phase: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    totals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ReconciliationTotalsRow(Base):
    """Level 1 of a run: one payer's totals for one clearing category and period beside the
    gateway's, whether they agree, and what level 2 (line by line) found where they do not."""

    __tablename__ = "reconciliation_totals"
    __table_args__ = (UniqueConstraint("run_id", "payer_code", "category", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    payer_code: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the claims' service month
    source: Mapped[str] = mapped_column(String(8))  # payer (its own totals) | lines (summed here)
    gateway_count: Mapped[int] = mapped_column(Integer)
    gateway_fen: Mapped[int] = mapped_column(BigInteger)
    gateway_billed_fen: Mapped[int] = mapped_column(BigInteger)
    payer_count: Mapped[int] = mapped_column(Integer)
    payer_fen: Mapped[int] = mapped_column(BigInteger)
    payer_billed_fen: Mapped[int | None] = mapped_column(BigInteger)
    agreed: Mapped[bool]
    # level 2: skipped (agreed) | matched (lines compared) | unavailable (totals only)
    line_level: Mapped[str] = mapped_column(String(16))
    found: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # mismatch kind → lines


class ReconciliationResultRow(Base):
    """The classification of every payer-line key (and every over-paid line) in a run; once the
    run has updated the queue only the mismatches stay (the run keeps the counts of the rest)."""

    __tablename__ = "reconciliation_results"
    __table_args__ = (
        Index("ix_reconciliation_results_run", "run_id", "kind"),
        # the work queue's set-based update finds an item's result by its key
        Index("ix_reconciliation_results_key", "run_id", "claim_id", "line_no", "payer_code", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    payer_code: Mapped[str] = mapped_column(String(64))  # "*" for a line over-paid across payers
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    expected_fen: Mapped[int] = mapped_column(BigInteger)
    settled_fen: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(Integer)


class MismatchRow(Base):
    """An item of the work queue. Identified by kind, key and amounts, so a run repeated finds
    the same items; it stays until a reconciler resolves it or a later statement clears it."""

    __tablename__ = "mismatches"
    __table_args__ = (
        Index("ix_mismatches_queue", "status", "kind", "payer_code"),
        # a run looks each result up here by key: without it, a first night's empty queue is
        # planned as a scan per result
        Index("ix_mismatches_key", "payer_code", "claim_id", "line_no", "kind"),
        # the queue's keyset orders (reconciliation/queue_listing.py): a page walks the index
        Index("ix_mismatches_first_seen", "first_seen", "id"),
        Index("ix_mismatches_difference", "difference_fen", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))
    payer_code: Mapped[str] = mapped_column(String(64))
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    expected_fen: Mapped[int] = mapped_column(BigInteger)
    settled_fen: Mapped[int] = mapped_column(BigInteger)
    difference_fen: Mapped[int] = mapped_column(BigInteger)  # settled − expected
    status: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[date]
    last_seen: Mapped[date]
    last_run_id: Mapped[int] = mapped_column(Integer)
    approval_by: Mapped[str | None] = mapped_column(String(64))  # who asked for a four-eyes write-off
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueTotalRow(Base):
    """The work queue's items and Σ difference per status, payer and kind, kept by migration
    0035's triggers as items are found, resolved or changed: the totals row of a page filtered
    by those alone reads a few dozen rows, not the 250,000 open items."""

    __tablename__ = "queue_totals"

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    slot: Mapped[int] = slot_column()  # summed over by readers (migration 0037)
    items: Mapped[int] = mapped_column(BigInteger)
    difference_fen: Mapped[int] = mapped_column(BigInteger)


class MismatchActionRow(Base):
    """The audit trail of the work queue: every action, who, when, the note, before and after."""

    __tablename__ = "mismatch_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mismatch_id: Mapped[int] = mapped_column(ForeignKey("mismatches.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    before_status: Mapped[str] = mapped_column(String(16))
    after_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementItemRow(Base):
    """A net adjustment between a payer and a provider (or member) waiting for the next batch:
    from re-coordinations (top-ups, recoveries) and from reconcilers' recover / top_up actions."""

    __tablename__ = "settlement_items"
    __table_args__ = (Index("ix_settlement_items_open", "payer_code", "batch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payer_code: Mapped[str] = mapped_column(String(64))
    claim_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    line_no: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # + the payer pays more, − it recovers
    source: Mapped[str] = mapped_column(String(32))  # adjustment:<id> | mismatch:<id>
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("settlement_batches.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementBatchRow(Base):
    """A payer's settlement batch for a period (a Beijing calendar month, ``YYYY-MM``) and where it
    is in the clearing lifecycle (``reconciliation.clearing``); its items point at it."""

    __tablename__ = "settlement_batches"
    __table_args__ = (Index("ix_settlement_batches_listing", "payer_code", "period", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payer_code: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7), default="")
    status: Mapped[str] = mapped_column(String(16), default="declared")
    items: Mapped[int] = mapped_column(Integer)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    payment_reference: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementBatchEventRow(Base):
    """A batch's transitions, never edited: who (the person: the key's party), when, from → to,
    the payment reference of 拨付, the totals at that moment. The four-eyes rule reads it."""

    __tablename__ = "settlement_batch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    person: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(160))
    before_status: Mapped[str | None] = mapped_column(String(16))
    after_status: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column(Integer)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    payment_reference: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
