"""Webhooks to providers, the pure part: the events a provider may subscribe to, the payload of
one (no personal data: no ID number, no name), its signature, and which target URLs and addresses
are acceptable (docs/webhooks.md).

The signature is ``X-LTC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under
the endpoint's secret: the timestamp is signed with the body, so a receiver that refuses an old
timestamp refuses a replayed request too."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class WebhookEvent(StrEnum):
    COORDINATED = "claim.coordinated"  # every payer decided: the claim's result is final for its round
    REVISED = "claim.revised"  # a payer revised its decision: a new round re-coordinates later tiers
    RETURNED = "claim.returned"  # a payer returned the claim unadjudicated (退回), with a reason
    VOIDED = "claim.voided"  # the provider voided the claim: payments reversed
    FAILED = "claim.failed"  # a payer step is dead-lettered or its decision refused: waits for a rerun


EVENT_TYPES = tuple(e.value for e in WebhookEvent)
SIGNATURE_HEADER = "X-LTC-Signature"
EVENT_ID_HEADER = "X-LTC-Event-Id"
EVENT_TYPE_HEADER = "X-LTC-Event-Type"
MAX_URL_LENGTH = 2048


def payload(
    event_id: str, event: str, occurred_at: str, claim_id: str, claim_number: str, status: str, round_: int
) -> dict[str, Any]:
    """What a provider is told: which of its claims changed and how; it reads the rest with its key
    (``GET /v1/claims/{claim_id}``). Nothing here identifies a person."""
    return {
        "event_id": event_id,
        "type": event,
        "occurred_at": occurred_at,
        "claim_id": claim_id,
        "claim_number": claim_number,
        "status": status,
        "round": round_,
    }


def body_of(document: dict[str, Any]) -> bytes:
    """The bytes sent and signed: compact JSON, keys in their order, UTF-8."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-LTC-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff_seconds(attempts: int, initial: float, largest: float) -> float:
    """The wait after ``attempts`` failed deliveries: ``initial``, doubling, capped at ``largest``."""
    return float(min(largest, initial * 2 ** min(max(attempts, 1) - 1, 30)))


_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")
# a DNS name as the resolver takes it: letters, digits and hyphens in labels (IDN as xn--)
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def url_problems(url: str, allow_local: bool) -> list[str]:
    """Why a target URL is refused (empty: acceptable so far; a host name's addresses are checked
    by ``address_problem`` once resolved). ``allow_local``: http and local or private targets are
    allowed (tests, development; never in production)."""
    if len(url) > MAX_URL_LENGTH:
        return [f"is longer than {MAX_URL_LENGTH} characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return [f"is not a URL ({error})"]
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes:
        return [f"must be an {' or '.join(schemes)} URL"]
    host = (parts.hostname or "").lower()
    if not host:
        return ["has no host"]
    if parts.username is not None or parts.password is not None:
        return ["must not hold credentials (the signature authenticates the gateway)"]
    if parts.fragment:
        return ["must not have a fragment"]
    if port == 0:
        return ["has port 0"]
    try:
        literal: str | None = str(ipaddress.ip_address(host.split("%")[0]))
    except ValueError:
        literal = None
        if not _HOST_NAME.match(host):
            return [f"{host!r} is not a host name (an internationalised name goes as xn--)"]
    if allow_local:
        return []
    if literal is None and (host == "localhost" or host.endswith(_LOCAL_NAMES)):
        return [f"names a local host ({host}): not allowed outside development"]
    problem = None if literal is None else address_problem(literal)
    return [problem] if problem else []  # a name's addresses are checked when it is resolved


def address_problem(address: str) -> str | None:
    """Why the gateway must not send to this address (SSRF): loopback, private, link-local (cloud
    metadata at 169.254.169.254), shared, multicast, reserved or unspecified; None if public."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global and not ip.is_multicast:
        return None
    return f"resolves to {ip}, which is not a public address"


def resolved_problem(host: str, addresses: list[str]) -> str | None:
    """Why a host whose name resolved to ``addresses`` must not be sent to; None if every one is public."""
    for address in addresses:
        if problem := address_problem(address):
            return f"{host} {problem}"
    return None if addresses else f"{host} does not resolve"
