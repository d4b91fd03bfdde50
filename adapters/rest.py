"""REST payers over httpx (async), onboarded by configuration: endpoint, auth, timeouts, paths
and field names. Timeouts, connection faults, 408/429/5xx and garbled answers are transient;
other 4xx answers are permanent (``adapters.payer_http``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from adapters.payer_http import checked, client_of, connection_faults, json_of, request_headers
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
        self.client = client or client_of(config, request_headers(config))

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> RestAdapter:
        return cls(payer_code, config)

    async def _call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        label = f"{method} {path}"
        with connection_faults(label):
            response = await self.client.request(
                method, path, json=None if body is None else self.fields.out(body), headers=headers
            )
        checked(label, response)
        if response.status_code == 204 or not response.content:
            return None
        return self.fields.into(json_of(label, response))

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
        await self.client.aclose()
