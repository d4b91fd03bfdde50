"""What the payer adapters that speak HTTP (REST, SOAP, the 医保 profile) share: the credentials
and timeouts their configuration names, their client, and how a failed exchange is classed.
Timeouts, connection faults, 408/425/429/5xx and garbled answers are transient; other 4xx
answers are permanent."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from adapters.sdk import MalformedAnswer, PermanentError, TransientError

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}
USER_AGENT = "ltc-gateway"


def auth_headers(auth: Mapping[str, Any] | None) -> dict[str, str]:
    """Credentials come from the environment (``*_env``); configuration never holds a secret."""
    if not auth or auth.get("type", "none") == "none":
        return {}

    def secret(name: str) -> str:
        variable = auth.get(name)
        value = os.environ.get(variable or "")
        if not value:
            raise PermanentError(
                f"the environment variable {variable!r} ({name}) holding a payer secret is not set"
            )
        return value

    kind = auth["type"]
    if kind == "bearer":
        return {"Authorization": f"Bearer {secret('token_env')}"}
    if kind == "header":
        return {str(auth["header"]): secret("value_env")}
    if kind == "basic":
        import base64

        token = base64.b64encode(f"{auth['username']}:{secret('password_env')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    raise PermanentError(f"unknown auth type {kind!r}")


def request_headers(config: Mapping[str, Any]) -> dict[str, str]:
    """Sent with every request: who we are and the configured credentials (``auth``)."""
    return {"User-Agent": USER_AGENT, **auth_headers(config.get("auth"))}


def timeout_of(config: Mapping[str, Any]) -> httpx.Timeout:
    return httpx.Timeout(
        float(config.get("timeout_seconds", 10)), connect=float(config.get("connect_timeout_seconds", 3))
    )


def client_of(config: Mapping[str, Any], headers: Mapping[str, str]) -> httpx.AsyncClient:
    """A client for the payer at ``base_url``, with the configured timeouts."""
    return httpx.AsyncClient(
        base_url=str(config["base_url"]).rstrip("/"), timeout=timeout_of(config), headers=headers
    )


@contextmanager
def connection_faults(label: str) -> Iterator[None]:
    """A timeout or a connection fault on the way to the payer is transient."""
    try:
        yield
    except httpx.TimeoutException as error:
        raise TransientError(f"{label}: timed out ({type(error).__name__})") from None
    except httpx.TransportError as error:
        raise TransientError(f"{label}: {type(error).__name__} {error}") from None


def checked(label: str, response: httpx.Response) -> httpx.Response:
    """The response, unless its status refuses the request: retryable ones are transient, any
    other 4xx or 5xx permanent."""
    if response.status_code >= 400:
        refuse(label, response.status_code, response.text)
    return response


def refuse(label: str, status: int, text: str) -> None:
    """An answer of status 400 or more, whichever client brought it."""
    if status in RETRYABLE:
        raise TransientError(f"{label}: HTTP {status} {text[:200]}")
    if status >= 400:
        raise PermanentError(f"{label}: HTTP {status} {text[:500]}")


def json_of(label: str, response: httpx.Response) -> Any:
    """The answer's JSON; an answer that is not JSON is garbled."""
    return parse_json(label, response.content)


def parse_json(label: str, content: bytes) -> Any:
    """JSON as httpx's ``Response.json`` reads it (bytes, any UTF); not JSON is garbled."""
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MalformedAnswer(f"{label}: the answer is not JSON ({error})") from None


def json_body(document: Any) -> bytes:
    """A request body as httpx's ``json=`` encodes it (compact, UTF-8, no NaN)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
