"""Claims and their coordination: the assessments claims cite, the claim and its lines, the
payer steps of each round, line payments and fixed benefits, flags for the bureau, adjustments
between rounds, and the outbox of messages to payers."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.personal import Encrypted, SealedFields
from gateway.storage.tables.base import Base, utcnow


class AssessmentRow(Base):
    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("member_id", "agency_code", "concluded_on"),)

    assessment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(64))
    concluded_on: Mapped[date]
    disabled_since: Mapped[date]
    scores: Mapped[dict[str, Any]]
    adl_score: Mapped[int] = mapped_column(Integer)
    adl_level: Mapped[str] = mapped_column(String(16))
    cognition_score: Mapped[int] = mapped_column(Integer)
    cognition_level: Mapped[str] = mapped_column(String(16))
    perception_score: Mapped[int] = mapped_column(Integer)
    perception_level: Mapped[str] = mapped_column(String(16))
    grade: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date]
    valid_until: Mapped[date]
    request_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The member's identity as this assessment recorded it (member_versions); claims citing the
    # assessment are routed by it. None only for rows written outside the API (bench fixtures).
    member_version: Mapped[int | None] = mapped_column(Integer)


class ClaimRow(Base):
    """A claim is also the unit of work of the fan-out: workers lease it to advance its steps."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("provider_code", "claim_number"),
        Index("ix_claims_work", "status", "next_attempt_at"),
        # the workers' lease query (orchestration.worker.due_claims): only claims with a next move
        Index(
            "ix_claims_due",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
            sqlite_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index("ix_claims_coordination_order", "member_id", "coordination_seq", unique=True),
        # claims as a list (services/claim_lists.py): its keyset order, per provider too, and filters
        Index("ix_claims_listing", "created_at", "claim_id"),
        Index("ix_claims_provider_listing", "provider_code", "created_at", "claim_id"),
        Index("ix_claims_period_start", "period_start"),
        Index("ix_claims_coordinated_at", "coordinated_at"),
        Index("ix_claims_claim_number", "claim_number"),  # the work queue's search by claim number
    )

    claim_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider_code: Mapped[str] = mapped_column(ForeignKey("providers.provider_code"))
    claim_number: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), index=True)
    assessment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessments.assessment_id"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    billed_fen: Mapped[int] = mapped_column(BigInteger)
    member_responsibility_fen: Mapped[int | None] = mapped_column(BigInteger)
    round: Mapped[int] = mapped_column(Integer, default=1)
    request_digest: Mapped[str] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    coordinated_at: Mapped[datetime | None]
    # The claim's place in its member's coordination order (1, 2, …), given when its coordination
    # starts, under the member's row lock: earlier claims' lines are what its repeats are found against.
    coordination_seq: Mapped[int | None] = mapped_column(Integer)
    # Corrections (docs/corrections.md): a void's time and reason
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)
    # earlier versions, replaced by a corrected one: [{round, period, billed_fen, lines, replaced_at}]
    versions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class ClaimLineRow(Base):
    __tablename__ = "claim_lines"
    __table_args__ = (Index("ix_claim_lines_caregiver", "caregiver_id", "check_in"),)

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_code: Mapped[str] = mapped_column(String(32))
    setting: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    service_date: Mapped[date]
    service_end_date: Mapped[date | None]
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    billed_fen: Mapped[int] = mapped_column(BigInteger)
    exclusion: Mapped[str | None] = mapped_column(String(32))
    visit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    caregiver_id: Mapped[str | None] = mapped_column(String(64))
    check_in: Mapped[datetime | None]
    check_out: Mapped[datetime | None]


class PayerStepRow(Base):
    """One payer's part in one coordination round of a claim, persisted before it is attempted.
    The party that settles it is ``administrator_code or payer_code``."""

    __tablename__ = "payer_steps"
    __table_args__ = (
        UniqueConstraint("claim_id", "round", "seq", "attempt"),
        # the claims routed to a payer (a payer's claim list)
        Index("ix_payer_steps_payer_claim", "payer_code", "claim_id"),
        Index("ix_payer_steps_administrator_claim", "administrator_code", "claim_id"),
        Index("ix_payer_steps_failed", "status", "updated_at"),  # the bureau's dead letters, oldest first
    )

    step_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    tier: Mapped[int] = mapped_column(Integer)
    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    # The contracted administrator (承办机构) that handles and settles a tier-1 share for the fund.
    administrator_code: Mapped[str | None] = mapped_column(ForeignKey("payers.payer_code"))
    product_code: Mapped[str] = mapped_column(ForeignKey("products.product_code"))
    product_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    adjudication: Mapped[str] = mapped_column(String(16))
    coverage_start: Mapped[date]
    coverage_end: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # 1, then 2, 3… for each rerun
    rerun_of: Mapped[int | None] = mapped_column(ForeignKey("payer_steps.step_id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # calls made to the payer
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    # The request exactly as sent: stored before the first call, resent unchanged on every retry;
    # its personal fields are stored encrypted.
    request: Mapped[dict[str, Any] | None] = mapped_column(SealedFields)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    payer_reference: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class LinePaymentRow(Base):
    """A payer's payment on a claim line in one round, with its reasons. ``current`` marks the
    latest round; limit usage is the sum of current payments by member, product and period."""

    __tablename__ = "line_payments"
    __table_args__ = (
        UniqueConstraint("claim_id", "round", "seq", "line_no"),
        Index("ix_line_payments_usage", "member_id", "product_code", "period_month", "current"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"))
    round: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    line_no: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"))
    payer_code: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(String(64))
    period_month: Mapped[str] = mapped_column(String(7))
    period_year: Mapped[int] = mapped_column(Integer)
    billed_fen: Mapped[int] = mapped_column(BigInteger)
    remaining_fen: Mapped[int] = mapped_column(BigInteger)
    standalone_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[list[Any]]
    visit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    # A gateway proposal awaiting the payer's acknowledgement: it holds the period limit meanwhile.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FixedBenefitRow(Base):
    """A fixed benefit granted to a member for a month: once per product and month."""

    __tablename__ = "fixed_benefits"
    __table_args__ = (UniqueConstraint("member_id", "product_code", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"))
    payer_code: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(String(16))
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)  # proposed, not yet acknowledged
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlagRow(Base):
    """Something the bureau should look at: an unverified visit, a refused payer decision."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    line_no: Mapped[int | None] = mapped_column(Integer)
    payer_code: Mapped[str | None] = mapped_column(String(64))
    product_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdjustmentRow(Base):
    """What a re-coordination changed for a payer on a line: a top-up (+) or a recovery (−)."""

    __tablename__ = "adjustments"
    __table_args__ = (UniqueConstraint("claim_id", "round", "payer_code", "product_code", "line_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    round: Mapped[int] = mapped_column(Integer)  # the round that made the change
    payer_code: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(String(64))
    line_no: Mapped[int] = mapped_column(Integer)
    previous_paid_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    delta_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # top_up | recovery
    cause: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxRow(Base):
    """A message to a payer that must get through (an assessment, an adjustment notice): written
    in the transaction that makes it necessary, delivered by the workers with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # assessment | adjustment | void | reversal
    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(SealedFields)  # personal fields encrypted
    status: Mapped[str] = mapped_column(String(16))  # waiting | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ClaimBatchRow(Base):
    """A provider's uploaded file of claims (batch upload): found again by a keyed hash of the
    file, with its progress, the claims it created and its faults. The file itself is never kept;
    the faults may quote its cells (an ID number), so they are stored encrypted."""

    __tablename__ = "claim_batches"
    __table_args__ = (UniqueConstraint("provider_code", "file_key"),)

    batch_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider_code: Mapped[str] = mapped_column(String(64))
    file_key: Mapped[str] = mapped_column(String(64))  # HMAC of the file and the choice, per provider
    kind: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    accept: Mapped[str] = mapped_column(String(8))  # all | valid
    status: Mapped[str] = mapped_column(String(16))  # checking | submitting | rejected | accepted | partial
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_checked: Mapped[int] = mapped_column(Integer, default=0)
    rows_submitted: Mapped[int] = mapped_column(Integer, default=0)
    claims_total: Mapped[int] = mapped_column(Integer)
    claims: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{claim_number, claim_id, new}]
    faults: Mapped[str | None] = mapped_column(Encrypted)  # JSON list, sealed
    faults_total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
