"""REST payers over httpx (async), onboarded by configuration: endpoint, auth, timeouts, paths
and field names. Timeouts, connection faults, 408/429/5xx and garbled answers are transient;
other 4xx answers are permanent."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Capabilities,
    Decision,
    FieldMap,
    MalformedAnswer,
    PermanentError,
    ShareRequest,
    StatementEntry,
    TransientError,
    to_wire,
)

DEFAULT_PATHS = {
    "assessments": "/assessments",
    "shares": "/claim-shares",
    "decision": "/claim-shares/{idempotency_key}",
    "adjustments": "/adjustments",
    "statement": "/statements/{business_date}",
}
RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


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


def timeout_of(config: Mapping[str, Any]) -> httpx.Timeout:
    return httpx.Timeout(
        float(config.get("timeout_seconds", 10)), connect=float(config.get("connect_timeout_seconds", 3))
    )


class RestAdapter:
    capabilities = Capabilities()  # a remote payer; its statements are pulled nightly

    def __init__(self, payer_code: str, config: Mapping[str, Any], client: httpx.AsyncClient | None = None):
        self.payer_code = payer_code
        self.paths = {**DEFAULT_PATHS, **config.get("paths", {})}
        self.fields = FieldMap.from_config(config.get("field_map"))
        self.client = client or httpx.AsyncClient(
            base_url=str(config["base_url"]).rstrip("/"),
            timeout=timeout_of(config),
            headers={"User-Agent": "ltc-gateway", **auth_headers(config.get("auth"))},
        )

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> RestAdapter:
        return cls(payer_code, config)

    async def _call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            response = await self.client.request(
                method, path, json=None if body is None else self.fields.out(body), headers=headers
            )
        except httpx.TimeoutException as error:
            raise TransientError(f"{method} {path}: timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise TransientError(f"{method} {path}: {type(error).__name__} {error}") from None
        if response.status_code in RETRYABLE:
            raise TransientError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        if response.status_code >= 400:
            raise PermanentError(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return self.fields.into(response.json())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise MalformedAnswer(f"{method} {path}: the answer is not JSON ({error})") from None

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        await self._call("POST", self.paths["assessments"], to_wire(notice), notice.idempotency_key)

    async def submit_share(self, request: ShareRequest) -> Decision:
        answer = await self._call("POST", self.paths["shares"], to_wire(request), request.idempotency_key)
        return Decision.from_wire(answer)

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        answer = await self._call("GET", self.paths["decision"].format(idempotency_key=idempotency_key))
        return Decision.from_wire(answer)

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        await self._call("POST", self.paths["adjustments"], to_wire(notice), notice.idempotency_key)

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        answer = await self._call(
            "GET", self.paths["statement"].format(business_date=business_date.isoformat())
        )
        try:
            return [StatementEntry(**entry) for entry in answer["entries"]]
        except (KeyError, TypeError) as error:
            raise MalformedAnswer(f"not a statement: {error}") from None

    async def aclose(self) -> None:
        await self.client.aclose()
