"""SOAP payers through zeep's async client, onboarded by configuration: the WSDL, operation
names, auth, timeouts and field names. Server faults, transport errors, timeouts and broken XML
are transient; client faults are permanent."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx
from lxml.etree import XMLSyntaxError
from zeep import AsyncClient, Settings
from zeep.exceptions import Fault, TransportError, ValidationError, XMLParseError
from zeep.exceptions import XMLSyntaxError as ZeepXMLSyntaxError
from zeep.helpers import serialize_object
from zeep.transports import AsyncTransport

from adapters.payer_http import connection_faults, request_headers, timeout_of
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
    VoidNotice,
    to_wire,
)

DEFAULT_OPERATIONS = {
    "deliver_assessment": "DeliverAssessment",
    "submit_share": "SubmitShare",
    "fetch_decision": "FetchDecision",
    "submit_adjustment": "SubmitAdjustment",
    "submit_void": "SubmitVoid",
    "pull_statement": "PullStatement",
}


class SoapAdapter:
    capabilities = Capabilities()  # a remote payer; its statements are pulled nightly

    def __init__(self, payer_code: str, config: Mapping[str, Any]) -> None:
        self.payer_code = payer_code
        self.wsdl = str(config["wsdl"])
        self.operations = {**DEFAULT_OPERATIONS, **config.get("operations", {})}
        self.fields = FieldMap.from_config(config.get("field_map"))
        self.timeout = timeout_of(config)
        self.headers = request_headers(config)
        self.service_name = config.get("service")
        self.port_name = config.get("port")
        self._client: AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> SoapAdapter:
        return cls(payer_code, config)

    async def client(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                self._http = httpx.AsyncClient(timeout=self.timeout, headers=self.headers)
                wsdl_client = httpx.Client(timeout=self.timeout, headers=self.headers)
                transport = AsyncTransport(client=self._http, wsdl_client=wsdl_client)
                try:
                    # Reading the WSDL is blocking I/O: keep it off the event loop.
                    self._client = await asyncio.to_thread(
                        AsyncClient,
                        self.wsdl,
                        transport=transport,
                        service_name=self.service_name,
                        port_name=self.port_name,
                        settings=Settings(strict=False, xml_huge_tree=False),
                    )
                except (httpx.TransportError, TransportError) as error:
                    raise TransientError(f"WSDL {self.wsdl}: {error}") from None
                except (XMLSyntaxError, ZeepXMLSyntaxError, XMLParseError) as error:
                    raise MalformedAnswer(f"WSDL {self.wsdl}: {error}") from None
            return self._client

    async def _call(self, operation: str, **arguments: Any) -> Any:
        client = await self.client()
        name = self.operations[operation]
        try:
            with connection_faults(name):
                result = await getattr(client.service, name)(**arguments)
        except Fault as fault:
            code = str(fault.code or "")
            if "Client" in code:
                raise PermanentError(f"{name}: SOAP fault {code}: {fault.message}") from None
            raise TransientError(f"{name}: SOAP fault {code}: {fault.message}") from None
        except TransportError as error:
            if error.status_code and 400 <= error.status_code < 500 and error.status_code not in (408, 429):
                raise PermanentError(f"{name}: HTTP {error.status_code}") from None
            raise TransientError(f"{name}: HTTP {error.status_code}") from None
        except (XMLSyntaxError, ZeepXMLSyntaxError, XMLParseError) as error:
            raise MalformedAnswer(f"{name}: the answer is not valid XML ({error})") from None
        except (ValidationError, TypeError) as error:
            raise PermanentError(f"{name}: the request does not fit the payer's WSDL ({error})") from None
        return self.fields.into(serialize_object(result, dict))

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        wire = to_wire(notice)
        wire["levels"] = [{"indicator": k, "level": v} for k, v in wire["levels"].items()]
        wire["scores"] = [
            {"indicator": i, "item": item, "points": p}
            for i, items in wire["scores"].items()
            for item, p in items.items()
        ]
        await self._call("deliver_assessment", notice=self.fields.out(wire))

    async def submit_share(self, request: ShareRequest) -> Decision:
        wire = to_wire(request)
        wire["limit_usage"] = [{"period": k, "fen": v} for k, v in wire["limit_usage"].items()]
        return Decision.from_wire(await self._call("submit_share", request=self.fields.out(wire)))

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        return Decision.from_wire(await self._call("fetch_decision", idempotency_key=idempotency_key))

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        await self._call("submit_adjustment", notice=self.fields.out(to_wire(notice)))

    async def submit_void(self, notice: VoidNotice) -> None:
        await self._call("submit_void", notice=self.fields.out(to_wire(notice)))

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        entries = await self._call("pull_statement", business_date=business_date.isoformat())
        try:
            return [StatementEntry(**entry) for entry in entries or []]
        except TypeError as error:
            raise MalformedAnswer(f"not a statement: {error}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
