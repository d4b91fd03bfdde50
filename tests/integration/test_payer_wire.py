"""The hot-path payer clients put on the wire what the clients they replace did: each operation
sent through both to a real local sandbox payer, what the server received compared (headers and
body; SOAP bodies as canonical XML), what the adapter answered compared, and each kind of failure
raised as the same exception. REST: aiohttp against httpx; SOAP: the lean lxml plans against zeep."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from lxml import etree

from adapters.conformance import Sample
from adapters.payer_http import client_of, request_headers
from adapters.rest import RestAdapter
from adapters.sdk import AdapterError, AdjustmentNotice, PayerAdapter, VoidNotice
from adapters.soap import HOT, SoapAdapter
from bench.payer_calls import _assessment
from examples import example_products
from gateway.api.server import BackgroundServer
from gateway.domain.products import Product
from ltc_sandbox.payer import Faults, SandboxPayer
from ltc_sandbox.rest_app import rest_payer_app
from ltc_sandbox.soap_app import SoapServer

Seen = list[tuple[str, str, dict[str, str], bytes]]  # method, path and query, headers, body


def _payer(code: str) -> tuple[SandboxPayer, Sample]:
    products = [Product.model_validate(p) for p in example_products()]
    product = next(p for p in products if p.payer_code == code)
    return SandboxPayer(code, "payer", {product.product_code: product}), Sample(product, False, date.today())


def _operations(sample: Sample, key: str) -> list[tuple[str, Callable[[PayerAdapter], Awaitable[Any]]]]:
    """Every operation the fan-out sends, with one message each (the same for both clients)."""
    share = sample.request(f"wire:{key}:share")
    line = {"line_no": 1, "previous_paid_fen": 100, "paid_fen": 0, "delta_fen": -100, "kind": "recovery"}
    ids = (share.claim_id, share.claim_number, share.payer_code, share.product_code)
    adjustment = AdjustmentNotice(f"wire:{key}:adj", *ids, 2, "revised", (line,))
    void = VoidNotice(f"wire:{key}:void", *ids, "withdrawn", (line,))
    assessment = _assessment(f"wire:{key}:assessment")
    return [
        ("deliver_assessment", lambda a: a.deliver_assessment(assessment)),
        ("submit_share", lambda a: a.submit_share(share)),
        ("fetch_decision", lambda a: a.fetch_decision(share.idempotency_key)),
        ("submit_adjustment", lambda a: a.submit_adjustment(adjustment)),
        ("submit_void", lambda a: a.submit_void(void)),
    ]


async def _outcome(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except AdapterError as error:
        return (type(error), str(error))


async def _both(old: PayerAdapter, new: PayerAdapter, seen: Seen, sample: Sample) -> list[tuple[Any, Any]]:
    """Each operation through both adapters: the pairs of what the server received and of answers."""
    pairs = []
    for _, call in _operations(sample, "same"):
        first = await _outcome(call(old))
        received = len(seen)
        second = await _outcome(call(new))
        assert len(seen) == received + 1
        pairs += [(seen[-2], seen[-1]), (first, second)]
    return pairs


async def _faults(
    payer: SandboxPayer, sample: Sample, old: PayerAdapter, new: PayerAdapter, garble: Callable[[bool], None]
) -> list[Any]:
    """A transient failure, a garbled answer, a reused key: each through both adapters."""
    outcomes = []
    for name in ("fail", "garbled"):
        for adapter in (old, new):
            payer.faults = Faults(fail_first=1) if name == "fail" else Faults()
            garble(name == "garbled")
            request = sample.request(f"wire:{name}:{id(adapter)}")
            outcomes.append(await _outcome(adapter.submit_share(request)))
    payer.faults = Faults()
    garble(False)
    for adapter in (old, new):  # the key of the shared share, with another body
        outcomes.append(await _outcome(adapter.submit_share(sample.request("wire:same:share", 16000))))
    return outcomes


def _record_wsgi(app: Any, seen: Seen, garbled: list[bool]) -> Any:
    """Records each call; answers broken XML while ``garbled`` holds True (the SOAP sandbox's own
    garbling happens inside spyne, which answers it as a server fault)."""

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers |= {"content-type": environ["CONTENT_TYPE"], "content-length": environ["CONTENT_LENGTH"]}
        path = f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}"
        if environ.get("QUERY_STRING") != "wsdl":  # the WSDL is read by zeep for both
            seen.append((environ["REQUEST_METHOD"], path, headers, body))
        if garbled[0]:
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
            return [b"<soap11env:Envelope><not-closed>"]
        return app(environ, start_response)

    return recording


def _canonical(request: tuple[str, str, dict[str, str], bytes]) -> tuple[Any, ...]:
    method, path, headers, body = request
    xml = etree.tostring(etree.fromstring(body), method="c14n")
    return method, path, {k: v for k, v in headers.items() if k != "content-length"}, xml


def test_the_lean_soap_path_sends_and_reads_what_zeep_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRE_TOKEN", "s3cret")
    payer, sample = _payer("acme-life")
    seen: Seen = []
    garbled = [False]
    server = SoapServer(payer)
    server.httpd.set_app(_record_wsgi(server.httpd.get_app(), seen, garbled))
    server.start()
    config = {"type": "soap", "wsdl": server.wsdl, "auth": {"type": "bearer", "token_env": "WIRE_TOKEN"}}
    zeep, lean = SoapAdapter("acme-life", config, lean=False), SoapAdapter("acme-life", config)

    async def scenario() -> tuple[list[Any], list[Any]]:
        try:
            return await _both(zeep, lean, seen, sample), await _faults(
                payer, sample, zeep, lean, lambda on: garbled.__setitem__(0, on)
            )
        finally:
            await zeep.aclose()
            await lean.aclose()

    try:
        pairs, faults = asyncio.run(scenario())
        assert set(lean.plans) == set(HOT) and not zeep.plans  # every hot operation went lean
        for old, new in pairs:
            if isinstance(old, tuple) and len(old) == 4:  # what the server received
                assert _canonical(old) == _canonical(new)
                assert old[2]["authorization"] == "Bearer s3cret" and old[2]["soapaction"]
            else:  # what the adapter answered
                assert old == new
        answers = pairs[3]
        assert answers[0].status == "decided" and answers[0].fixed  # a real decision, compared
        _same_failures(faults)
    finally:
        server.stop()


def _same_failures(faults: list[Any]) -> None:
    assert faults[0] == faults[1] and faults[2] == faults[3] and faults[4] == faults[5], faults
    kinds = [kind.__name__ for kind, _ in faults[::2]]
    assert kinds == ["TransientError", "MalformedAnswer", "PermanentError"]


def _record_asgi(app: Any, seen: Seen) -> Any:
    async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        messages, body, more = [], b"", True
        while more:
            message = await receive()
            messages.append(message)
            body, more = body + message.get("body", b""), message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = f"{scope['raw_path'].decode()}?{scope['query_string'].decode()}"
        seen.append((scope["method"], path, headers, body))
        pending = iter(messages)

        async def replay() -> Any:
            return next(pending, None) or await receive()

        await app(scope, replay, send)

    return recording


def test_the_aiohttp_rest_path_sends_the_bytes_httpx_did(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRE_TOKEN", "s3cret")
    payer, sample = _payer("huiminbao")
    seen: Seen = []
    server = BackgroundServer(_record_asgi(rest_payer_app(payer, token="s3cret"), seen)).start()
    config = {"type": "rest", "base_url": server.url, "auth": {"type": "bearer", "token_env": "WIRE_TOKEN"}}
    old = RestAdapter("huiminbao", config, client=client_of(config, request_headers(config)))
    new = RestAdapter("huiminbao", config)
    impatient = {**config, "timeout_seconds": 0.2}
    gone = {**config, "base_url": "http://127.0.0.1:9"}

    def garble(on: bool) -> None:
        if on:
            payer.faults = Faults(malformed_first=1)

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        try:
            pairs, faults = (
                await _both(old, new, seen, sample),
                await _faults(payer, sample, old, new, garble),
            )
        finally:
            await old.aclose()
            await new.aclose()
        # a payer slower than the timeout, and one that is not there: transient through both
        payer.faults = Faults(timeout_first=2, timeout_seconds=1.0)
        slow = sample.request("wire:slow")
        unanswered = []
        for settings in (impatient, gone):
            for adapter in (
                RestAdapter("huiminbao", settings, client=client_of(settings, request_headers(settings))),
                RestAdapter("huiminbao", settings),
            ):
                unanswered.append(await _outcome(adapter.submit_share(slow)))
                await adapter.aclose()
        return pairs, faults, unanswered

    try:
        pairs, faults, unanswered = asyncio.run(scenario())
        for first, second in pairs:
            assert first == second  # the same bytes and headers received, the same answers
        assert pairs[3][0].status == "decided" and pairs[3][0].lines
        assert pairs[2][0][2]["authorization"] == "Bearer s3cret"
        _same_failures(faults)
        assert [kind.__name__ for kind, _ in unanswered] == ["TransientError"] * 4, unanswered
    finally:
        server.stop()
