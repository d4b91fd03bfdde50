"""Errors as RFC 9457 problem details (``application/problem+json``), naming the field."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.domain.model import Fault
from gateway.services.errors import ServiceError

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


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class BadBody(ServiceError):
    """The body is not a JSON document of the expected media type."""

    status = 400
    title = "Malformed request body"


async def service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    headers = {"WWW-Authenticate": 'Bearer realm="ltc-gateway"'} if exc.status == 401 else None
    return problem(exc.status, exc.title, exc.detail, exc.faults, headers=headers)


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
