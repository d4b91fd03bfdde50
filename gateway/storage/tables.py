"""The gateway's tables. Money is BIGINT fen; timestamps are UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from gateway.storage.personal import Encrypted, SealedFields, lookup_hash

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    party_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class UiSessionRow(Base):
    """A staff member signed in to the UI with an API key. The cookie holds a random token; only
    its SHA-256 is kept here, so a copy of the table signs no one in. Idle and absolute expiry
    are checked on every request; logout (or revoking the key) ends the session."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    party_code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    flash: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # shown once on the next page


class PayerRow(Base):
    __tablename__ = "payers"

    payer_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # How the gateway reaches the payer (adapters.registry); none: the gateway adjudicates locally.
    adapter: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductRow(Base):
    __tablename__ = "products"

    product_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    tier: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductVersionRow(Base):
    """Every definition a product has had: a step records the version it was decided under."""

    __tablename__ = "product_versions"
    __table_args__ = (UniqueConstraint("product_code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.product_code"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderRow(Base):
    __tablename__ = "providers"

    provider_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(6))
    designated: Mapped[bool] = mapped_column(Boolean)
    designated_from: Mapped[date | None]
    designated_to: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssessmentAgencyRow(Base):
    """An assessment agency (评估机构) the bureau designated: the only party that submits assessments."""

    __tablename__ = "assessment_agencies"

    agency_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    designated_from: Mapped[date]
    designated_to: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberRow(Base):
    __tablename__ = "members"

    member_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Personal data is stored encrypted; the ID number is found by its keyed hash (storage/personal.py).
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number: Mapped[str] = mapped_column("id_number_enc", Encrypted())
    name: Mapped[str | None] = mapped_column("name_enc", Encrypted())
    address_text: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # The district of residence (行政区划代码): routes the tier-1 share to its administrator.
    district: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @validates("id_number")
    def _hash_id_number(self, key: str, value: str) -> str:
        self.id_hash = lookup_hash(value)
        return value


class MemberVersionRow(Base):
    """One version of a member's identity (name, address) as an assessment recorded it, with who
    recorded it and when: a change never overwrites, and claims route by the version they cite."""

    __tablename__ = "member_versions"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column("name_enc", Encrypted())
    address_text: Mapped[str | None] = mapped_column("address_text_enc", Encrypted())
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(6))
    party_code: Mapped[str] = mapped_column(String(64))  # who: the party of the key
    key_id: Mapped[str | None] = mapped_column(String(16))  # and the key (none before versioning)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentRow(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("member_id", "product_code", "start_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.member_id"), index=True)
    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    product_code: Mapped[str] = mapped_column(ForeignKey("products.product_code"))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


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
        Index("ix_claims_coordination_order", "member_id", "coordination_seq", unique=True),
        # claims as a list (services/claim_lists.py): its keyset order, per provider too, and filters
        Index("ix_claims_listing", "created_at", "claim_id"),
        Index("ix_claims_provider_listing", "provider_code", "created_at", "claim_id"),
        Index("ix_claims_period_start", "period_start"),
        Index("ix_claims_coordinated_at", "coordinated_at"),
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


class DistrictRouteRow(Base):
    """Which contracted administrator (承办机构) handles a tier-1 payer's shares in a district."""

    __tablename__ = "district_routes"

    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), primary_key=True)
    administrator_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    kind: Mapped[str] = mapped_column(String(16))  # assessment | adjustment
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


# --- reconciliation -----------------------------------------------------------------------------


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
    __tablename__ = "settlement_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payer_code: Mapped[str] = mapped_column(String(64))
    items: Mapped[int] = mapped_column(Integer)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
