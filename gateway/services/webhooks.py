"""A provider's webhooks (docs/webhooks.md): register, list and delete its endpoints, read an
endpoint's delivery log and replay a delivery. A provider sees and changes only its own: another
provider's endpoint or delivery is "not found", as if it did not exist.

The secret is generated here (32 random bytes), answered once when the endpoint is registered and
stored encrypted (the gateway must sign with it, so it cannot be a hash); it reaches no log line
and no audit entry."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import schemas
from gateway import audit
from gateway.audit import actor_of
from gateway.config import Settings
from gateway.domain.numbers import INT32, whole_number
from gateway.domain.webhooks import resolved_problem, url_problems
from gateway.errors import Conflict, Invalid, NotFound
from gateway.orchestration.webhooks import CANCELLED, DEAD, SENT, WAITING
from gateway.services.claim_lists import BadQuery
from gateway.services.keys import Principal
from gateway.storage.tables import ProviderRow, WebhookDeliveryRow, WebhookEndpointRow, utcnow

SECRET_PREFIX = "whsec_"
Resolver = Callable[[str, int], list[str]]
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system's resolver, with its own timeout)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def target_problem(url: str, resolver: Resolver) -> str | None:
    """Why a public-looking URL's host must not be registered: it resolves to a private address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        return resolved_problem(host, resolver(host, parts.port or 443))
    except (OSError, UnicodeError) as error:
        return f"{host} does not resolve ({type(error).__name__})"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def endpoint_view(row: WebhookEndpointRow, secret: str | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "webhook_id": row.id,
        "url": row.url,
        "event_types": list(row.event_types),
        "created_at": _time(row.created_at),
        "deleted_at": _time(row.deleted_at),
    }
    if secret is not None:
        view["secret"] = secret
    return view


def delivery_view(row: WebhookDeliveryRow) -> dict[str, Any]:
    return {
        "delivery_id": row.id,
        "webhook_id": row.endpoint_id,
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "claim_id": str(row.claim_id),
        "status": row.status,
        "attempts": row.attempts,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "next_attempt_at": _time(row.next_attempt_at) if row.status == WAITING else None,
        "dead_lettered": row.status == DEAD,
        "replay_of": row.replay_of,
        "created_at": _time(row.created_at),
        "sent_at": _time(row.sent_at),
    }


def register(
    session: Session,
    principal: Principal,
    body: Any,
    settings: Settings,
    resolver: Resolver = resolve,
) -> dict[str, Any]:
    """A new endpoint of the caller's provider, with its secret (shown this once)."""
    faults = schemas.faults("webhook", body)
    if faults:
        raise Invalid(faults)
    provider = principal.party_code
    if session.get(ProviderRow, provider) is None:
        raise Invalid([("", f"{provider} is not a registered provider")])
    url: str = body["url"]
    problems = url_problems(url, settings.webhook_allow_local)
    if not problems and not settings.webhook_allow_local:
        # a name that resolves to a private address is refused now, and again at each delivery
        problem = target_problem(url, resolver)
        problems = [problem] if problem else []
    if problems:
        raise Invalid([("/url", problem) for problem in problems])
    live = session.scalar(
        select(func.count())
        .select_from(WebhookEndpointRow)
        .where(WebhookEndpointRow.provider_code == provider, WebhookEndpointRow.deleted_at.is_(None))
    )
    if (live or 0) >= settings.webhook_max_endpoints:
        raise Conflict(
            f"a provider has at most {settings.webhook_max_endpoints} webhook endpoints: delete one first"
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = WebhookEndpointRow(
        provider_code=provider, url=url, secret=secret, event_types=sorted(set(body["event_types"]))
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "webhook.registered",
        f"webhook:{row.id}",
        actor_of(principal),
        provider=provider,
        url=url,
        event_types=row.event_types,
    )
    return endpoint_view(row, secret)


def list_endpoints(session: Session, principal: Principal) -> dict[str, Any]:
    rows = session.scalars(
        select(WebhookEndpointRow)
        .where(
            WebhookEndpointRow.provider_code == principal.party_code,
            WebhookEndpointRow.deleted_at.is_(None),
        )
        .order_by(WebhookEndpointRow.id)
    )
    return {"webhooks": [endpoint_view(row) for row in rows]}


def _own_endpoint(session: Session, principal: Principal, text: str) -> WebhookEndpointRow:
    number = whole_number(text, largest=INT32)
    row = None if number is None else session.get(WebhookEndpointRow, number)
    if row is None or row.provider_code != principal.party_code:
        raise NotFound(f"no webhook {text}")
    return row


def delete(session: Session, principal: Principal, text: str) -> dict[str, Any]:
    """Delete the endpoint: nothing more is sent to it (waiting deliveries are cancelled); its
    delivery log stays readable. Deleting it again answers the same."""
    row = _own_endpoint(session, principal, text)
    if row.deleted_at is None:
        row.deleted_at = utcnow()
        session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.endpoint_id == row.id, WebhookDeliveryRow.status == WAITING)
            .values(status=CANCELLED, last_error="the endpoint was deleted", lease_owner=None)
        )
        audit.record(session, "webhook.deleted", f"webhook:{row.id}", actor_of(principal))
    return endpoint_view(row)


def deliveries(
    session: Session, principal: Principal, text: str, query: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """The endpoint's delivery log, newest first, a page at a time (``cursor``, ``limit``)."""
    endpoint = _own_endpoint(session, principal, text)
    values: dict[str, str] = {}
    for name, value in query:
        if name not in ("cursor", "limit"):
            raise BadQuery([(f"/{name}", "is not a known parameter")])
        if name in values:
            raise BadQuery([(f"/{name}", "is given more than once")])
        values[name] = value
    limit = whole_number(values.get("limit", str(DEFAULT_LIMIT)), largest=MAX_LIMIT)
    if limit is None or limit < 1:
        raise BadQuery([("/limit", f"must be a whole number from 1 to {MAX_LIMIT}")])
    page = select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint.id)
    if "cursor" in values:  # the last id of the previous page
        cursor = whole_number(values["cursor"], largest=INT32)
        if cursor is None:
            raise BadQuery([("/cursor", "is not a cursor this endpoint gave out")])
        page = page.where(WebhookDeliveryRow.id < cursor)
    rows = list(session.scalars(page.order_by(WebhookDeliveryRow.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "webhook_id": endpoint.id,
        "deliveries": [delivery_view(row) for row in rows],
        "next_cursor": str(rows[-1].id) if more else None,
    }


def replay(session: Session, principal: Principal, text: str) -> dict[str, Any]:
    """Send a delivered or dead-lettered delivery again: a new delivery of the same event (same
    event id, same payload), due now, with attempts of its own."""
    number = whole_number(text, largest=INT32)
    row = None if number is None else session.get(WebhookDeliveryRow, number)
    endpoint = None if row is None else session.get(WebhookEndpointRow, row.endpoint_id)
    if row is None or endpoint is None or endpoint.provider_code != principal.party_code:
        raise NotFound(f"no webhook delivery {text}")
    if endpoint.deleted_at is not None:
        raise Conflict(f"webhook {endpoint.id} is deleted: nothing is sent to it")
    if row.status not in (SENT, DEAD):
        raise Conflict(f"delivery {row.id} is {row.status}: only sent or dead deliveries are replayed")
    now = utcnow()
    again = WebhookDeliveryRow(
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        claim_id=row.claim_id,
        payload=dict(row.payload),
        status=WAITING,
        attempts=0,
        next_attempt_at=now,
        replay_of=row.id,
        created_at=now,
    )
    session.add(again)
    session.flush()
    audit.record(
        session, "webhook.replayed", f"webhook_delivery:{again.id}", actor_of(principal), replay_of=row.id
    )
    return delivery_view(again)
