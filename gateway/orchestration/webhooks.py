"""Claim events for providers' webhooks, written in the transaction of the claim's change that
causes them (as the outbox's notices to payers are): a delivery per endpoint of the claim's
provider that subscribed to the event, sent later by ``webhook_delivery``. A change that rolls
back leaves no event; one that commits leaves its deliveries.

``emit`` is the one call: the fan-out emits ``claim.coordinated`` (``moves.finish``),
``claim.failed`` (``moves.fail``) and ``claim.revised`` (``revisions.revise``); corrections emit
``claim.voided`` and a payer's return ``claim.returned`` the same way."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from gateway.domain.webhooks import EVENT_TYPES, WebhookEvent, payload
from gateway.orchestration.transaction import unflushed
from gateway.storage.tables import ClaimRow, WebhookDeliveryRow, WebhookEndpointRow, utcnow

WAITING, SENT, DEAD, CANCELLED = "waiting", "sent", "dead", "cancelled"

# the provider's live endpoints: registered by earlier transactions, so read without a flush
_ENDPOINTS = unflushed(
    select(WebhookEndpointRow.id, WebhookEndpointRow.event_types).where(
        WebhookEndpointRow.provider_code == bindparam("provider"),
        WebhookEndpointRow.deleted_at.is_(None),
    )
)
_QUEUE = insert(cast(Table, WebhookDeliveryRow.__table__))  # the table's: no ORM bulk layer


def emit(session: Session, claim: ClaimRow, event: WebhookEvent | str) -> int:
    """Queue ``event`` about ``claim`` for every endpoint of its provider that wants it, in the
    caller's transaction; how many deliveries were queued. The payload carries the claim's status
    and round as they stand now: emit after the change."""
    event = str(event)
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = [
        endpoint_id
        for endpoint_id, wanted in session.execute(_ENDPOINTS, {"provider": claim.provider_code})
        if event in wanted
    ]
    if not endpoints:
        return 0
    now, event_id = utcnow(), uuid.uuid4()
    document = payload(
        str(event_id),
        event,
        now.isoformat(timespec="milliseconds"),
        str(claim.claim_id),
        claim.claim_number,
        claim.status,
        claim.round,
    )
    session.connection().execute(  # no flush first (``recording``)
        _QUEUE,
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event,
                "claim_id": claim.claim_id,
                "payload": document,
                "status": WAITING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in endpoints
        ],
    )
    return len(endpoints)
