"""REST payers, onboarded by configuration: endpoint, auth, timeouts, paths and field names.
Timeouts, connection faults, 408/429/5xx and garbled answers are transient; other 4xx answers are
permanent (``adapters.payer_http``). Calls go through aiohttp (``adapters.lean_http``: the same
bytes as httpx at a fifth of its CPU), or through an httpx client when one is given (tests, the
old path the benchmark measures beside it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from adapters.lean_http import LeanClient
from adapters.payer_http import (
    checked,
    connection_faults,
    json_body,
    json_of,
    parse_json,
    refuse,
    request_headers,
    timeout_of,
)
from adapters.sdk import (
    AdjustmentNotice,
    AssessmentNotice,
    Capabilities,
    Decision,
    FieldMap,
    MalformedAnswer,
    ShareRequest,
    StatementEntry,
    VoidNotice,
    to_wire,
)

DEFAULT_PATHS = {
    "assessments": "/assessments",
    "shares": "/claim-shares",
    "decision": "/claim-shares/{idempotency_key}",
    "adjustments": "/adjustments",
    "voids": "/voids",
    "statement": "/statements/{business_date}",
}


class RestAdapter:
    capabilities = Capabilities()  # a remote payer; its statements are pulled nightly

    def __init__(self, payer_code: str, config: Mapping[str, Any], client: httpx.AsyncClient | None = None):
        self.payer_code = payer_code
        self.paths = {**DEFAULT_PATHS, **config.get("paths", {})}
        self.fields = FieldMap.from_config(config.get("field_map"))
        self.client = client  # httpx, when given; else the lean client
        self.base_url = str(config["base_url"]).rstrip("/")
        timeout = timeout_of(config)
        self.lean = LeanClient(
            request_headers(config), float(timeout.read or 10), float(timeout.connect or 3)
        )

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> RestAdapter:
        return cls(payer_code, config)

    async def _call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        label = f"{method} {path}"
        if self.client is None:
            return await self._lean_call(label, method, path, body, headers)
        with connection_faults(label):
            response = await self.client.request(
                method, path, json=None if body is None else self.fields.out(body), headers=headers
            )
        checked(label, response)
        if response.status_code == 204 or not response.content:
            return None
        return self.fields.into(json_of(label, response))

    async def _lean_call(self, label: str, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        content = None
        if body is not None:
            content = json_body(self.fields.out(body))
            headers["Content-Type"] = "application/json"
        answer = await self.lean.send(label, method, self.base_url + path, content, headers)
        if answer.status >= 400:
            refuse(label, answer.status, answer.text)
        if answer.status == 204 or not answer.content:
            return None
        return self.fields.into(parse_json(label, answer.content))

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

    async def submit_void(self, notice: VoidNotice) -> None:
        await self._call("POST", self.paths["voids"], to_wire(notice), notice.idempotency_key)

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        answer = await self._call(
            "GET", self.paths["statement"].format(business_date=business_date.isoformat())
        )
        try:
            return [StatementEntry(**entry) for entry in answer["entries"]]
        except (KeyError, TypeError) as error:
            raise MalformedAnswer(f"not a statement: {error}") from None

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        await self.lean.aclose()
