"""Errors as RFC 9457 problem details (``application/problem+json``), naming the field. The
domain's errors (``gateway.errors``) carry no HTTP: ``STATUSES`` below is where each becomes one."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.documents.pdf import FontUnavailable
from gateway.domain.model import Fault
from gateway.errors import (
    Conflict,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthenticated,
)
from gateway.services.claim_lists import BadQuery

log = logging.getLogger("ltc_gateway.api")

PROBLEM = "application/problem+json"
_TYPES = "https://ltc-gateway.example/problems/"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM


def problem(
    status: int,
    title: str,
    detail: str,
    faults: list[Fault] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": _TYPES + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if faults:
        body["errors"] = [{"pointer": pointer, "detail": text} for pointer, text in faults]
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


# The one place a refusal becomes an HTTP status and a problem title (the type is the title's slug).
STATUSES: dict[type[ServiceError], tuple[int, str]] = {
    ServiceError: (400, "Bad request"),
    Malformed: (400, "Malformed request body"),
    BadQuery: (400, "Invalid query parameter"),
    Unauthenticated: (401, "Unauthorized"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    TooLarge: (413, "Content too large"),
    Invalid: (422, "Invalid request"),
    FontUnavailable: (503, "Statement font unavailable"),
}


def status_of(error: ServiceError) -> tuple[int, str]:
    """The HTTP status and problem title of ``error``: those of its nearest mapped class."""
    return next(STATUSES[kind] for kind in type(error).__mro__ if kind in STATUSES)


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    status, title = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="ltc-gateway"'} if status == 401 else None
    return problem(status, title, exc.detail, exc.faults, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "HTTP error"),
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


RETRY_AFTER_SECONDS = 5  # a restart or failover of the database usually takes about this long


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached or is busy: nothing was done; the client may send it again
    (with its Idempotency-Key, a write is done once)."""
    first_line = next(iter(str(exc).splitlines()), "")
    path, kind = request.url.path, type(exc).__name__
    log.warning("database unavailable on %s %s: %s: %s", request.method, path, kind, first_line)
    return problem(
        503,
        "Service unavailable",
        "the database is unavailable; nothing was done, try again later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal server error", "the gateway failed to process the request; it is logged")
