"""Delivering webhooks to providers: a loop beside the fan-out (``Worker.run`` runs it) that leases
due deliveries, signs and posts each to its endpoint, and records how it went: a 2xx answer is
delivered; anything else (a timeout, a refused connection, a redirect, another status) waits
``backoff_seconds`` and is tried again, and after ``max_attempts`` it is dead-lettered, for the
provider to replay. Leases work as the outbox's: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and an
attempt is counted before it is made, so one lost to a crash counts.

A provider's endpoint is not a payer, so this is not an adapter: no payer configuration, no
payer credentials; what it shares with ``adapters/payer_http.py`` is httpx, bounded timeouts and
a ``User-Agent``. Redirects are not followed and the answer's body is never read (only its
status), so a receiver can neither steer the gateway elsewhere nor make it hold a large answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from gateway import audit
from gateway.config import Settings
from gateway.domain.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    backoff_seconds,
    body_of,
    resolved_problem,
    signature,
)
from gateway.observability.metrics import webhook_delivery
from gateway.orchestration.faults import log_fault, wait_or_stop
from gateway.orchestration.webhooks import CANCELLED, DEAD, SENT, WAITING
from gateway.storage.database import is_unavailable
from gateway.storage.tables import WebhookDeliveryRow, WebhookEndpointRow, utcnow

log = logging.getLogger("ltc_gateway.webhooks")

USER_AGENT = "ltc-gateway-webhooks"
Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout_seconds: float = 5.0
    max_attempts: int = 12
    retry_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    allow_local: bool = False
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    batch: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            timeout_seconds=settings.webhook_timeout_seconds,
            max_attempts=settings.webhook_max_attempts,
            retry_seconds=settings.webhook_retry_seconds,
            retry_max_seconds=settings.webhook_retry_max_seconds,
            allow_local=settings.webhook_allow_local,
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
        )

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=backoff_seconds(attempts, self.retry_seconds, self.retry_max_seconds))


@dataclass(frozen=True)
class Delivery:
    id: int
    url: str
    secret: str = field(repr=False)  # never in a log line
    event_id: str
    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    status_code: int | None  # the receiver's answer, if there was one
    error: str | None  # why it did not count as delivered

    @property
    def delivered(self) -> bool:
        return self.error is None


def lease_deliveries(session: Session, owner: str, policy: DeliveryPolicy, limit: int) -> list[Delivery]:
    """Due deliveries, leased to ``owner``, each attempt counted before it is made; one that has
    had ``max_attempts`` (lost in flight) is dead-lettered instead, one whose endpoint was deleted
    cancelled."""
    now = utcnow()
    rows = session.execute(
        select(WebhookDeliveryRow, WebhookEndpointRow)
        .join(WebhookEndpointRow, WebhookEndpointRow.id == WebhookDeliveryRow.endpoint_id)
        .where(
            WebhookDeliveryRow.status == WAITING,
            WebhookDeliveryRow.next_attempt_at <= now,
            or_(WebhookDeliveryRow.lease_expires_at.is_(None), WebhookDeliveryRow.lease_expires_at < now),
        )
        .order_by(WebhookDeliveryRow.next_attempt_at)
        .limit(limit)
        .with_for_update(of=WebhookDeliveryRow, skip_locked=True)
    ).all()
    leased = []
    for delivery, endpoint in rows:
        if endpoint.deleted_at is not None:
            delivery.status, delivery.last_error = CANCELLED, "the endpoint was deleted"
        elif delivery.attempts >= policy.max_attempts:
            _dead_letter(session, delivery, f"gave up after {delivery.attempts} attempts, lost in flight")
        else:
            delivery.attempts += 1
            delivery.lease_owner = owner
            delivery.lease_expires_at = now + timedelta(seconds=policy.lease_seconds)
            leased.append(
                Delivery(
                    delivery.id,
                    endpoint.url,
                    endpoint.secret,
                    str(delivery.event_id),
                    delivery.event_type,
                    dict(delivery.payload),
                )
            )
    return leased


def settle(session: Session, attempts: list[Attempt], policy: DeliveryPolicy) -> None:
    """Record how the attempts went, in one transaction."""
    now = utcnow()
    for attempt in attempts:
        row = session.get(WebhookDeliveryRow, attempt.delivery_id)
        if row is None or row.status != WAITING:
            continue
        row.lease_owner, row.lease_expires_at = None, None
        row.last_status_code = attempt.status_code
        if attempt.delivered:
            row.status, row.sent_at, row.last_error = SENT, now, None
            continue
        row.last_error = attempt.error
        if row.attempts >= policy.max_attempts:
            _dead_letter(session, row, f"gave up after {row.attempts} attempts; last: {attempt.error}")
        else:
            row.next_attempt_at = now + policy.backoff(row.attempts)


def _dead_letter(session: Session, row: WebhookDeliveryRow, error: str) -> None:
    row.status, row.last_error = DEAD, error
    row.lease_owner, row.lease_expires_at = None, None
    webhook_delivery("dead")
    audit.record(session, "webhook.dead", f"webhook_delivery:{row.id}", endpoint=row.endpoint_id, error=error)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def target_problem(url: str, allow_local: bool, resolver: Resolver = resolve) -> str | None:
    """Why the gateway must not send to ``url`` now (SSRF): a host that resolves to a private,
    loopback or link-local address. Checked again at every delivery, since a name's addresses may
    have changed since it was registered."""
    if allow_local:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = await resolver(host, parts.port or 443)
    except (OSError, UnicodeError) as error:
        return f"{host} does not resolve ({type(error).__name__})"
    return resolved_problem(host, addresses)


async def send(
    client: httpx.AsyncClient, delivery: Delivery, policy: DeliveryPolicy, resolver: Resolver = resolve
) -> Attempt:
    """Post one delivery, signed; what happened. Never raises for the receiver's faults."""
    refused = await target_problem(delivery.url, policy.allow_local, resolver)
    if refused is not None:
        webhook_delivery("refused")
        return Attempt(delivery.id, None, f"refused: {refused}")
    body = body_of(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: delivery.event_id,
        EVENT_TYPE_HEADER: delivery.event_type,
        SIGNATURE_HEADER: signature(delivery.secret, int(time.time()), body),
    }
    try:
        async with client.stream("POST", delivery.url, content=body, headers=headers) as answer:
            status = answer.status_code  # the body is not read: the status is the whole answer
    except httpx.TimeoutException as error:
        webhook_delivery("failed")
        return Attempt(delivery.id, None, f"timed out ({type(error).__name__})")
    except httpx.HTTPError as error:
        webhook_delivery("failed")
        return Attempt(delivery.id, None, f"{type(error).__name__}: {str(error)[:200]}")
    if 200 <= status < 300:
        webhook_delivery("delivered")
        return Attempt(delivery.id, status, None)
    webhook_delivery("failed")
    return Attempt(delivery.id, status, f"the endpoint answered {status}")


@cache
def _tls() -> ssl.SSLContext:
    """The system's certificate store, loaded once (loading it costs ~0.2 s of CPU)."""
    return ssl.create_default_context()


class WebhookDispatcher:
    """Leases and sends due deliveries; any number may run (each worker runs one)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: DeliveryPolicy | None = None,
        owner: str | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.sessions = sessions
        self.policy = policy or DeliveryPolicy()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:webhooks:{uuid.uuid4().hex[:6]}"
        self.resolver = resolver

    def client(self) -> httpx.AsyncClient:
        timeout = self.policy.timeout_seconds
        return httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.policy.batch),
            verify=_tls(),
            trust_env=False,  # no proxy from the environment: the targets were checked as given
        )

    def _lease(self) -> list[Delivery]:
        with self.sessions.begin() as session:
            return lease_deliveries(session, self.owner, self.policy, self.policy.batch)

    def _settle(self, attempts: list[Attempt]) -> None:
        with self.sessions.begin() as session:
            settle(session, attempts, self.policy)

    async def _send_all(self, client: httpx.AsyncClient, deliveries: list[Delivery]) -> None:
        sending = (send(client, d, self.policy, self.resolver) for d in deliveries)
        attempts = list(await asyncio.gather(*sending))
        await asyncio.to_thread(self._settle, attempts)

    async def drain_async(self, passes: int | None = None) -> int:
        """Send until nothing is due now (tests, ``worker --once``), or for ``passes`` batches; how
        many attempts. The client (and its certificate store) is made only if there is work."""
        worked, client = 0, None
        try:
            while passes is None or passes > 0:
                deliveries = await asyncio.to_thread(self._lease)
                if not deliveries:
                    break
                client = client or self.client()
                await self._send_all(client, deliveries)
                worked += len(deliveries)
                passes = None if passes is None else passes - 1
        finally:
            if client is not None:
                await client.aclose()
        return worked

    def drain(self) -> int:
        return asyncio.run(self.drain_async())

    def once(self) -> int:
        """One pass: lease what is due now and send it; how many were sent."""
        return asyncio.run(self.drain_async(passes=1))

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: send what is due, then wait a poll; a database fault is waited out."""
        faults, client = 0, None
        try:
            while not stop.is_set():
                try:
                    deliveries = await asyncio.to_thread(self._lease)
                    if deliveries:
                        client = client or self.client()  # made once there is work
                        await self._send_all(client, deliveries)
                    faults = 0
                except Exception as error:
                    if not is_unavailable(error):
                        log.exception("webhook delivery turn failed")
                    faults += 1
                    await wait_or_stop(log_fault("delivering webhooks", error, faults), stop)
                    continue
                if len(deliveries) < self.policy.batch:
                    await wait_or_stop(self.policy.poll_seconds, stop)
        finally:
            if client is not None:
                await client.aclose()
