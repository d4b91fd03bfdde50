"""Records kept about the gateway's own work: answers kept for idempotent writes, the
hash-chained audit log and its head, and policy simulations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.personal import Encrypted
from gateway.storage.tables.base import Base, utcnow


class IdempotencyKeyRow(Base):
    """A write answered under the caller's ``Idempotency-Key``: the same key and request again get
    this answer back; the same key with another request is a conflict. Keys belong to a party."""

    __tablename__ = "idempotency_keys"

    party_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Encrypted())  # may hold personal data: stored encrypted
    location: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntryRow(Base):
    """An append-only, hash-chained record of a state change: who, when, what, before and after.
    ``mac`` (HMAC of its content and random ``nonce`` under the audit key) is set when it is
    written; ``seq``, the entry's place in the chain, and ``hash`` (covering its content and the
    previous entry's hash) when it is sealed after commit. An edited, inserted or deleted row breaks the chain
    (``ltc-gateway audit verify``)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # the bureau's search: a subject prefix (LIKE needs pattern ops where the collation is
        # not C) and a Beijing day
        Index("ix_audit_log_subject_prefix", "subject", postgresql_ops={"subject": "varchar_pattern_ops"}),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(100), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    nonce: Mapped[str | None] = mapped_column(String(32), unique=True)
    mac: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The end of the audit chain (one row): sealing locks it, so entries chain in one order.
    ``mac`` (HMAC of the other columns under the audit key) keeps the end from being rolled back."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64))


class SimulationRow(Base):
    """A policy simulation (domain.md section 9): its inputs (period, draft products, funding),
    progress and report. Simulations write here only, never to the live tables."""

    __tablename__ = "simulations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    progress: Mapped[int] = mapped_column(Integer, default=0)  # members replayed
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None]
    # what it is doing (queued, generating, replaying, done, failed), of how many members, and
    # when it last said so: a run whose process ended stops saying so and no longer counts as running
    phase: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int | None] = mapped_column(Integer)
    inputs_digest: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(String(200))
