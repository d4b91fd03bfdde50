"""The parties and what the fan-out plans from: API keys and staff sessions, payers with
their products (every version) and district routes, providers, assessment agencies, members
(their identity versioned, personal data encrypted) and their enrolments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from gateway.storage.personal import Encrypted, lookup_hash
from gateway.storage.tables.base import Base, utcnow


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    party_code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # the member of staff the key is issued to (``ltc-gateway staff key``): it acts as that person,
    # so four-eyes compares people whichever of their keys or sessions they use
    person: Mapped[str | None] = mapped_column(String(64), ForeignKey("staff_accounts.username"), index=True)


class StaffAccountRow(Base):
    """A named member of staff who signs in to the console (``gateway.services.staff``): the
    display name sealed like members' names, the password as a scrypt hash, roles as a list."""

    __tablename__ = "staff_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(Encrypted)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class UiSessionRow(Base):
    """A member of staff signed in to the UI: a person (``username``) or, for the bureau's
    service keys, an API key (``key_id``). The cookie holds a random token; only its SHA-256 is
    kept here, so a copy of the table signs no one in. Idle and absolute expiry are checked on
    every request; logout (or revoking the key, disabling the account) ends the session."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.key_id"), index=True)
    username: Mapped[str | None] = mapped_column(ForeignKey("staff_accounts.username"), index=True)
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


class DistrictRouteRow(Base):
    """Which contracted administrator (承办机构) handles a tier-1 payer's shares in a district,
    from a Beijing date until the district's next version (a tender changes hands on a date): a
    change is a new version, never an edit. No administrator: the district is not routed from
    that date. ``gateway.reference.routing`` reads the versions, ``route_versions`` adds them."""

    __tablename__ = "district_routes"

    payer_code: Mapped[str] = mapped_column(ForeignKey("payers.payer_code"), primary_key=True)
    district: Mapped[str] = mapped_column(String(6), primary_key=True)
    effective_from: Mapped[date] = mapped_column(primary_key=True)  # inclusive
    administrator_code: Mapped[str | None] = mapped_column(ForeignKey("payers.payer_code"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the version was recorded
