"""``Idempotency-Key`` on every POST: the same key and the same request replay the first answer;
the same key with another request is a 409 problem; concurrent duplicates have one effect, because
the key is claimed in the transaction that does the work (the second waits on it, then replays).

Keys belong to the caller's party and role and are kept with the answer. A request refused with
an error changed nothing (its transaction is rolled back, the key with it), so it may be sent
again under the same key.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import Conflict, Invalid
from gateway.services.keys import Principal
from gateway.storage.tables import IdempotencyKeyRow

HEADER = "idempotency-key"


def key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise Invalid([("Idempotency-Key", "must be 1 to 200 printable characters")])
    return key


def digest(request: Request, body: bytes) -> str:
    return hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()


def replay(session: Session, principal: Principal, key: str, request_digest: str) -> Response | None:
    """The stored answer of this key; or None when it is new, and then the key is claimed in this
    transaction (a concurrent duplicate waits on the claim, then finds the answer)."""
    row = session.get(IdempotencyKeyRow, (principal.party_code, principal.role.value, key))
    if row is None:
        session.add(
            IdempotencyKeyRow(
                party_code=principal.party_code,
                role=principal.role.value,
                key=key,
                request_digest=request_digest,
                status_code=0,
                media_type="",
                body="",
            )
        )
        session.flush()
        return None
    if row.request_digest != request_digest:
        raise Conflict(f"Idempotency-Key {key!r} was used with another request")
    headers = {"Idempotency-Replayed": "true"}
    if row.location:
        headers["Location"] = row.location
    return Response(row.body, status_code=row.status_code, media_type=row.media_type, headers=headers)


def remember(session: Session, principal: Principal, key: str, response: Response) -> None:
    """The answer, kept with the claimed key (committed with the work it describes)."""
    row = session.get_one(IdempotencyKeyRow, (principal.party_code, principal.role.value, key))
    row.status_code = response.status_code
    row.media_type = response.media_type or "application/json"
    row.body = bytes(response.body).decode("utf-8")
    row.location = response.headers.get("location")


def forget(session: Session, principal: Principal, key: str) -> None:
    """Release a claimed key whose work failed outside the claiming transaction."""
    row = session.get(IdempotencyKeyRow, (principal.party_code, principal.role.value, key))
    if row is not None and row.status_code == 0:
        session.delete(row)
