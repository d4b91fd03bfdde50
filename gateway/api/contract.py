"""What an endpoint promises, declared where the endpoint is defined and read by the OpenAPI
description (``gateway.api.openapi``): its success status, the JSON Schema of its answer
(``schemas/responses/<name>.schema.json``, with an example), its query parameters, the problem
statuses it answers beyond the ones every endpoint of its shape does, and the headers it sets.

Describing a new endpoint is this one place: ``@endpoint(..., status=, response=, query=)``
(or ``contract(...)`` on a hand-written endpoint)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.domain.numbers import INT32


@dataclass(frozen=True)
class Contract:
    roles: frozenset[Any] = frozenset()
    body: str | None = None  # schemas/<body>.schema.json
    media: tuple[str, ...] = ()  # request media types
    status: tuple[int, ...] = (200,)  # the first is the usual one (201 created, 200 when it was known)
    response: str | None = None  # schemas/responses/<response>.schema.json
    produces: tuple[str, ...] = ()  # answers in other media types too (text/csv, text/plain)
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> JSON Schema
    path: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # beyond PATH_PARAMETERS
    answers: tuple[int, ...] = ()  # problem statuses beyond those implied (404 for a path, ...)
    location: bool = False  # sets Location to the resource it created or started
    idempotent: bool = False  # a POST honours Idempotency-Key (its answer is kept and replayed)


def contract(**declared: Any) -> Callable[[Any], Any]:
    """Attach a Contract to an endpoint that is not written with ``@endpoint``."""

    def attach(function: Any) -> Any:
        status = declared.pop("status", 200)
        function.contract = Contract(status=status if isinstance(status, tuple) else (status,), **declared)
        return function

    return attach


def of(endpoint: Any) -> Contract | None:
    found: Contract | None = getattr(endpoint, "contract", None)
    return found


# Path parameters by name, unless an endpoint declares its own (``path=``).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "payer_code": {
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",  # as schemas/payer.schema.json
        "description": "the payer's code",
    },
    "claim_id": {"type": "string", "format": "uuid", "description": "the id the 202 answered"},
    "step_id": {"type": "integer", "minimum": 1, "maximum": INT32, "description": "a payer step's id"},
    "id": {"type": "integer", "minimum": 1, "maximum": INT32},
    "run": {
        "type": "string",
        "pattern": "^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2})$",
        "description": "a run's id, or its business date (YYYY-MM-DD)",
    },
}


# The problem statuses, and why an endpoint answers each: added by the shape of the endpoint.
WHY = {
    400: "the body is not JSON of the declared media or nests too deep; a list's filter or cursor is bad",
    401: "no API key, or an unknown or revoked one",
    403: "the key's role (or party) may not do this",
    404: "nothing by that identifier, or not visible to the caller",
    409: "a conflict: the Idempotency-Key was used with another request, or the state does not allow it",
    413: "the body is larger than LTC_MAX_BODY_BYTES",
    422: "the request breaks a rule; errors[].pointer names each field",
    500: "the gateway failed; the error is logged with the request id",
    503: "the database is unavailable for the moment: nothing was done; retry after Retry-After seconds",
}
TITLES = {
    400: "Malformed request body",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Content too large",
    422: "Invalid request",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_example(status: int) -> dict[str, Any]:
    title = TITLES[status]
    example: dict[str, Any] = {
        "type": "https://ltc-gateway.example/problems/" + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": WHY[status],
    }
    if status == 422:
        example["errors"] = [{"pointer": "/lines/0/quantity", "detail": "0 is less than the minimum of 1"}]
    return example


def problems_for(c: Contract, path_params: list[str], method: str) -> list[int]:
    """Every problem status an endpoint of this shape can answer."""
    idempotent = c.idempotent and method == "POST"
    statuses = set(c.answers) | {500}
    if c.roles:
        statuses |= {401, 403, 503}  # the key is checked in the database
    if c.body or c.media:
        statuses |= {400, 413, 422}
    if c.query or idempotent:
        statuses.add(422)  # a bad query value, or a malformed Idempotency-Key
    if idempotent:
        statuses.add(409)
    if path_params:
        statuses.add(404)
    if method == "GET" and 400 not in c.answers:
        statuses.discard(400)  # no body to be malformed (a list's malformed cursor declares its 400)
    return sorted(statuses)
