"""Client CPU a payer call, for each adapter kind and operation: the hot-path clients (aiohttp for
REST, the lean lxml plans for SOAP) beside the ones they replace (httpx, zeep), in the same run.

The sandbox payers (REST and SOAP) run in a process of their own (``python -m bench.payer_calls
--serve``), so only the client's CPU is counted: this process's CPU time (all threads, from
``time.process_time``) over the calls, requests built beforehand. Calls go ``IN_FLIGHT`` at a
time, old and new alternating per operation, each pair ``ROUNDS`` times; the median counts."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Any

from zeep.helpers import serialize_object
from zeep.loader import parse_xml
from zeep.wsdl.utils import etree_to_string

from adapters import soap_lean
from adapters.conformance import MEMBER_ID, Sample
from adapters.payer_http import client_of, request_headers
from adapters.rest import RestAdapter
from adapters.sdk import AdjustmentNotice, AssessmentNotice, PayerAdapter, ShareRequest, VoidNotice
from adapters.soap import SOAP_HEADERS, SoapAdapter
from bench.common import Row
from examples import example_products
from gateway.domain.products import Product

IN_FLIGHT = 16
ROUNDS = 3
OPERATIONS = ("submit_share", "deliver_assessment", "fetch_decision", "notices")
KINDS = {"rest": "huiminbao", "soap": "acme-life"}  # the sandbox payer of each kind


def serve() -> None:
    """The sandbox payers, until stdin closes; their payer files on the first line of stdout."""
    from ltc_sandbox.payer_set import SandboxPayers

    sandboxes = SandboxPayers(_products()).start()
    documents = {d["payer_code"]: d.get("adapter") for d in sandboxes.payer_documents()}
    print(json.dumps(documents), flush=True)
    sys.stdin.read()
    sandboxes.stop()


def _products() -> list[Product]:
    return [Product.model_validate(p) for p in example_products()]


def _adapters(kind: str, code: str, config: dict[str, Any]) -> dict[str, PayerAdapter]:
    if kind == "rest":
        old = RestAdapter(code, config, client=client_of(config, request_headers(config)))
        return {"httpx": old, "aiohttp": RestAdapter(code, config)}
    return {"zeep": SoapAdapter(code, config, lean=False), "lxml": SoapAdapter(code, config)}


def _assessment(key: str) -> AssessmentNotice:
    return AssessmentNotice(
        idempotency_key=key,
        assessment_id=str(uuid.uuid4()),
        member={"id_number": MEMBER_ID, "name": "测试", "district": None},
        agency_code="BENCH",
        concluded_on="2026-01-05",
        disabled_since="2025-01-01",
        grade=4,
        levels={"adl": "severe", "cognition": "moderate", "perception": "intact"},
        scores={"adl": {"eating": 5, "bathing": 0}, "cognition": {"memory": 2}},
        effective_from="2026-01-05",
        valid_until="2027-12-31",
    )


def _notice(key: str, share: ShareRequest, void: bool) -> AdjustmentNotice | VoidNotice:
    line = {"line_no": 1, "previous_paid_fen": 9000, "paid_fen": 0, "delta_fen": -9000, "kind": "recovery"}
    if void:
        return VoidNotice(
            key, share.claim_id, share.claim_number, share.payer_code, share.product_code, "bench", (line,)
        )
    return AdjustmentNotice(
        key, share.claim_id, share.claim_number, share.payer_code, share.product_code, 2, "bench", (line,)
    )


Call = Callable[[], Awaitable[Any]]


def _calls(adapter: PayerAdapter, operation: str, sample: Sample, run: str, count: int) -> list[Call]:
    """``count`` calls of one operation, their messages built now (not in the measured time)."""
    shares = [sample.request(f"bench:{run}:share:{i}") for i in range(count)]
    if operation == "submit_share":
        return [partial(adapter.submit_share, s) for s in shares]
    if operation == "deliver_assessment":
        notices = [_assessment(f"bench:{run}:assessment:{i}") for i in range(count)]
        return [partial(adapter.deliver_assessment, n) for n in notices]
    if operation == "fetch_decision":
        return [partial(adapter.fetch_decision, s.idempotency_key) for s in shares]
    messages = [_notice(f"bench:{run}:notice:{i}", s, void=i % 2 == 1) for i, s in enumerate(shares)]
    return [
        partial(adapter.submit_void, m)
        if isinstance(m, VoidNotice)
        else partial(adapter.submit_adjustment, m)
        for m in messages
    ]


async def _cpu_per_call(calls: list[Call]) -> float:
    """Milliseconds of this process's CPU a call, ``IN_FLIGHT`` at a time."""
    started = time.process_time()
    for first in range(0, len(calls), IN_FLIGHT):
        await asyncio.gather(*(call() for call in calls[first : first + IN_FLIGHT]))
    return (time.process_time() - started) * 1000 / len(calls)


async def _measure(kind: str, code: str, config: dict[str, Any], count: int) -> list[Row]:
    product = next(p for p in _products() if p.payer_code == code)
    sample = Sample(product, proposing=False, today=date.today())
    adapters = _adapters(kind, code, config)
    (old_name, old), (new_name, new) = adapters.items()
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for adapter in (old, new):  # warm: the WSDL read, connections opened, decisions to fetch
            await asyncio.gather(
                *(c() for c in _calls(adapter, "submit_share", sample, f"warm-{id(adapter)}", IN_FLIGHT))
            )
        for round_no in range(ROUNDS):
            for operation in OPERATIONS:
                for name, adapter in ((old_name, old), (new_name, new))[:: 1 if round_no % 2 else -1]:
                    run = f"{name}-{round_no}-{uuid.uuid4().hex[:6]}"
                    if operation == "fetch_decision":  # decisions the payer holds, made beforehand
                        run = f"{name}-fetch-{round_no}"
                        await _run_all(_calls(adapter, "submit_share", sample, run, count))
                        calls = _calls(adapter, "fetch_decision", sample, run, count)
                    else:
                        calls = _calls(adapter, operation, sample, run, count)
                    figures.setdefault((operation, name), []).append(await _cpu_per_call(calls))
        codec = await _codec(new, sample, count * 5) if isinstance(new, SoapAdapter) else []
    finally:
        for adapter in (old, new):
            await adapter.aclose()
    load = os.getloadavg()[0]
    return [
        Row(
            f"payer call: {kind} {operation}",
            statistics.median(figures[(operation, new_name)]),
            f"ms CPU/call ({new_name})",
            statistics.median(figures[(operation, old_name)]),
            old_name,
            note=f"{count} calls x {ROUNDS}, {IN_FLIGHT} in flight, load {load:.1f}; rounds "
            f"{_spread(figures[(operation, new_name)])} / {_spread(figures[(operation, old_name)])}",
        )
        for operation in OPERATIONS
    ] + codec


async def _codec(adapter: SoapAdapter, sample: Sample, count: int) -> list[Row]:
    """A share's envelope built and its answer read, without I/O: the plan against zeep."""
    client = await adapter.client()
    plan = adapter.plans["submit_share"]
    operation = client.service._binding._operations[plan.name]
    arguments = adapter.arguments("submit_share", sample.request("bench:codec"))
    headers = {**SOAP_HEADERS, "SOAPAction": plan.soap_action}
    sent = await adapter.http.send("codec", "POST", plan.address, plan.envelope(arguments), headers)
    answer: Any = sent.content  # zeep's parse_xml is typed str, and takes bytes

    def zeep() -> None:
        etree_to_string(operation.input.serialize(**arguments).content)
        serialize_object(operation.process_reply(parse_xml(answer, None, settings=client.settings)), dict)

    def lean() -> None:
        plan.envelope(arguments)
        plan.answer(soap_lean.envelope_of(soap_lean.parse_xml(answer)))

    figures: dict[str, list[float]] = {"zeep": [], "lean": []}
    for _ in range(ROUNDS):
        for name, work in (("zeep", zeep), ("lean", lean)):
            started = time.process_time()
            for _ in range(count):
                work()
            figures[name].append((time.process_time() - started) * 1000 / count)
    return [
        Row(
            "payer call: soap submit_share, envelope + answer only (no I/O)",
            statistics.median(figures["lean"]),
            "ms CPU/call (lxml)",
            statistics.median(figures["zeep"]),
            "zeep",
            note=f"{count} x {ROUNDS}, load {os.getloadavg()[0]:.1f}",
        )
    ]


def _spread(figures: list[float]) -> str:
    return f"{min(figures):.1f}-{max(figures):.1f}"


async def _run_all(calls: list[Call]) -> None:
    for first in range(0, len(calls), IN_FLIGHT):
        await asyncio.gather(*(call() for call in calls[first : first + IN_FLIGHT]))


def run(count: int = 200) -> list[Row]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.payer_calls", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        documents = json.loads(server.stdout.readline())
        rows: list[Row] = []
        for kind, code in KINDS.items():
            rows += asyncio.run(_measure(kind, code, documents[code], count))
        return rows
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
