"""Webhooks to providers: the endpoints a provider registered (its secret encrypted at rest) and
every delivery of an event to one of them, which is also the delivery log the provider reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.personal import Encrypted
from gateway.storage.tables.base import Base, utcnow


class WebhookEndpointRow(Base):
    """A provider's endpoint: the events it wants and the secret deliveries are signed with.
    Deleting keeps the row (``deleted_at``) so its delivery log stays readable to its provider."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_provider", "provider_code", "deleted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_code: Mapped[str] = mapped_column(ForeignKey("providers.provider_code"))
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(Encrypted())  # the gateway signs with it: encrypted, not hashed
    event_types: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class WebhookDeliveryRow(Base):
    """One event for one endpoint: written in the transaction of the claim's change that caused it,
    sent by the workers with retries and backoff, dead after the configured attempts; a replay is a
    new row (``replay_of``) carrying the same event id, so the receiver can tell it is the same."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_log", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(32))
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.claim_id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # no personal data (domain/webhooks.py)
    status: Mapped[str] = mapped_column(String(16))  # waiting | sent | dead | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    replay_of: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
