"""SOAP payers, onboarded by configuration: the WSDL, operation names, auth, timeouts and field
names. Server faults, transport errors, timeouts and broken XML are transient; client faults are
permanent.

zeep reads and checks the WSDL when the adapter first calls; the operations the fan-out sends
(every one but ``pull_statement``) then go through a lean plan compiled from zeep's reading
(``adapters.soap_lean``, over ``adapters.lean_http``): the same envelope, headers and errors at
about a fifth of zeep's CPU. An operation whose shape has no plan is sent by zeep, said once in
the log; so is every operation of an adapter built with ``lean=False`` (the benchmark's and the
tests' baseline)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import httpx
from lxml.etree import XMLSyntaxError
from zeep import AsyncClient, Settings
from zeep.exceptions import Fault, TransportError, ValidationError, XMLParseError
from zeep.exceptions import XMLSyntaxError as ZeepXMLSyntaxError
from zeep.helpers import serialize_object
from zeep.transports import AsyncTransport

from adapters import soap_lean
from adapters.lean_http import LeanClient
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
HOT = ("deliver_assessment", "submit_share", "fetch_decision", "submit_adjustment", "submit_void")
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}  # zeep's, for SOAP 1.1
log = logging.getLogger("ltc_gateway.payers")


def fault_error(name: str, code: str | None, message: str | None) -> Exception:
    """A SOAP fault: the client's are permanent, any other transient."""
    code = str(code or "")
    if "Client" in code:
        return PermanentError(f"{name}: SOAP fault {code}: {message}")
    return TransientError(f"{name}: SOAP fault {code}: {message}")


def status_error(name: str, status: int | None) -> Exception:
    """An HTTP failure without a SOAP fault (zeep's TransportError)."""
    if status == 200:  # an answer of 200 that is not XML
        return MalformedAnswer(f"{name}: the answer is not valid XML")
    if status and 400 <= status < 500 and status not in (408, 429):
        return PermanentError(f"{name}: HTTP {status}")
    return TransientError(f"{name}: HTTP {status}")


class SoapAdapter:
    capabilities = Capabilities()  # a remote payer; its statements are pulled nightly

    def __init__(self, payer_code: str, config: Mapping[str, Any], lean: bool = True) -> None:
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
        self.lean = lean
        self.plans: dict[str, soap_lean.Plan] = {}
        self.http = LeanClient(self.headers, float(self.timeout.read or 10), float(self.timeout.connect or 3))

    @classmethod
    def from_config(cls, payer_code: str, config: Mapping[str, Any]) -> SoapAdapter:
        return cls(payer_code, config)

    async def client(self) -> AsyncClient:
        async with self._lock:
            if self._client is None:
                self._http = httpx.AsyncClient(timeout=self.timeout, headers=self.headers)
                wsdl_client = httpx.Client(timeout=self.timeout, headers=self.headers)
                transport = AsyncTransport(client=self._http, wsdl_client=wsdl_client)
                # zeep's transport replaces the clients' headers with its own User-Agent: put the
                # configured ones (ours, and the payer's credentials) back
                self._http.headers.update(self.headers)
                wsdl_client.headers.update(self.headers)
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
                if self.lean:
                    self.plans = self._plans(self._client)
            return self._client

    def _plans(self, client: AsyncClient) -> dict[str, soap_lean.Plan]:
        """A lean plan for each hot operation the WSDL's shape allows; zeep keeps the others."""
        binding = client.service._binding
        address = client.service._binding_options.get("address")
        custom = bool(client.wsdl.types._prefix_map_custom)
        plans = {}
        for operation in HOT:
            name = self.operations[operation]
            try:
                if not address:
                    raise soap_lean.Unsupported(f"{name}: the WSDL names no soap:address")
                plans[operation] = soap_lean.compile_plan(binding, name, address, custom)
            except soap_lean.Unsupported as why:
                log.warning("payer %s: %s is sent through zeep (%s)", self.payer_code, name, why)
        return plans

    async def _call(self, operation: str, via_zeep: bool = False, **arguments: Any) -> Any:
        client = await self.client()
        name = self.operations[operation]
        plan = None if via_zeep else self.plans.get(operation)
        if plan is not None:
            return self.fields.into(await self._lean_call(plan, arguments))
        try:
            with connection_faults(name):
                result = await getattr(client.service, name)(**arguments)
        except Fault as fault:
            raise fault_error(name, fault.code, fault.message) from None
        except TransportError as error:
            raise status_error(name, error.status_code) from None
        except (XMLSyntaxError, ZeepXMLSyntaxError, XMLParseError) as error:
            raise MalformedAnswer(f"{name}: the answer is not valid XML ({error})") from None
        except (ValidationError, TypeError) as error:
            raise PermanentError(f"{name}: the request does not fit the payer's WSDL ({error})") from None
        return self.fields.into(serialize_object(result, dict))

    async def _lean_call(self, plan: soap_lean.Plan, arguments: dict[str, Any]) -> Any:
        """The exchange zeep's ``send_async`` and ``process_reply`` make, step for step."""
        name = plan.name
        try:
            content = plan.envelope(arguments)
        except soap_lean.WrongShape as error:
            raise PermanentError(f"{name}: the request does not fit the payer's WSDL ({error})") from None
        headers = {**SOAP_HEADERS, "SOAPAction": plan.soap_action}
        answer = await self.http.send(name, "POST", plan.address, content, headers)
        if answer.status in (201, 202) and not answer.content:
            return None
        if answer.status != 200 and not answer.content:
            raise status_error(name, answer.status)
        try:
            root = soap_lean.parse_xml(answer.content)
        except soap_lean.Garbled:
            raise status_error(name, answer.status) from None
        fault = soap_lean.fault_of(root)
        if answer.status != 200 or fault is not None:
            fault = fault or soap_lean.Fault(None, "Unknown fault occured")  # zeep's words
            raise fault_error(name, fault.code, fault.message)
        try:
            return plan.answer(soap_lean.envelope_of(root))
        except soap_lean.Garbled as error:
            raise MalformedAnswer(f"{name}: the answer is not valid XML ({error})") from None

    def arguments(self, operation: str, message: Any) -> dict[str, Any]:
        """An SDK message as the operation's arguments (the payer's field names; maps as lists)."""
        if operation == "fetch_decision":
            return {"idempotency_key": message}
        wire = to_wire(message)
        if operation == "deliver_assessment":
            wire["levels"] = [{"indicator": k, "level": v} for k, v in wire["levels"].items()]
            wire["scores"] = [
                {"indicator": i, "item": item, "points": p}
                for i, items in wire["scores"].items()
                for item, p in items.items()
            ]
        if operation == "submit_share":
            wire["limit_usage"] = [{"period": k, "fen": v} for k, v in wire["limit_usage"].items()]
            return {"request": self.fields.out(wire)}
        return {"notice": self.fields.out(wire)}

    async def deliver_assessment(self, notice: AssessmentNotice) -> None:
        await self._call("deliver_assessment", **self.arguments("deliver_assessment", notice))

    async def submit_share(self, request: ShareRequest) -> Decision:
        answer = await self._call("submit_share", **self.arguments("submit_share", request))
        return Decision.from_wire(answer)

    async def fetch_decision(self, idempotency_key: str) -> Decision:
        return Decision.from_wire(await self._call("fetch_decision", idempotency_key=idempotency_key))

    async def submit_adjustment(self, notice: AdjustmentNotice) -> None:
        await self._call("submit_adjustment", **self.arguments("submit_adjustment", notice))

    async def submit_void(self, notice: VoidNotice) -> None:
        arguments = self.arguments("submit_void", notice)
        # fixed_moved came after the first WSDLs, and a WSDL that does not declare an element refuses
        # it (zeep and the lean path alike): a payer whose WSDL has none is sent the notice without it
        if not self._declares(await self.client(), "submit_void", "notice", "fixed_moved"):
            arguments["notice"].pop(self.fields.outbound.get("fixed_moved", "fixed_moved"), None)
        await self._call("submit_void", **arguments)

    def _declares(self, client: AsyncClient, operation: str, parameter: str, name: str) -> bool:
        """Whether the payer's WSDL declares the field ``name`` (as renamed by its field map) in the
        operation's ``parameter``."""
        wanted = self.fields.outbound.get(name, name)
        try:
            body = client.service._binding.get(self.operations[operation]).input.body
            fields = dict(dict(body.type.elements)[parameter].type.elements)
        except (AttributeError, KeyError, LookupError, TypeError, ValueError):
            return False  # a shape we cannot read: send what every WSDL of ours declares
        return wanted in fields

    async def pull_statement(self, business_date: date) -> list[StatementEntry]:
        entries = await self._call("pull_statement", business_date=business_date.isoformat())
        try:
            return [StatementEntry(**entry) for entry in entries or []]
        except TypeError as error:
            raise MalformedAnswer(f"not a statement: {error}") from None

    def conformance_checks(self, request: Callable[[str], ShareRequest], run: str) -> list[Any]:
        from adapters.soap_checks import lean_checks

        return lean_checks(self, request, run)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        await self.http.aclose()
