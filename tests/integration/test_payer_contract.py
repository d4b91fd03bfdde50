"""The payer side's contract: what the sandbox REST payers receive from the gateway (through the
conformance kit, and in the worked example's real fan-out) and answer is what
``/openapi/payer.json`` describes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters import conformance_moved
from adapters.conformance import run_checks
from adapters.rest import RestAdapter
from adapters.sdk import VoidNotice, to_wire
from adapters.soap import SoapAdapter
from examples import example_products
from gateway.api.payer_openapi import describe
from gateway.domain.products import Product
from ltc_sandbox.payer import SandboxPayer
from ltc_sandbox.payer_set import SandboxPayers
from ltc_sandbox.rest_app import rest_payer_app
from ltc_sandbox.soap_app import SoapServer
from tests.integration.openapi_check import Description, escape, payer_description_of
from tests.integration.test_payers import drain
from tests.integration.world import World


@pytest.fixture
def payer_description(world: World) -> Description:
    return payer_description_of(world)


def test_the_sandbox_rest_payer_requests_and_answers_validate_against_the_payer_description(
    payer_description: Description,
) -> None:
    """The conformance kit drives the sandbox REST payer through the gateway's own REST adapter;
    every request the adapter sends and every answer the payer gives is checked."""
    products = [Product.model_validate(p) for p in example_products()]
    product = next(p for p in products if p.payer_code == "huiminbao")
    payer = SandboxPayer("huiminbao", "payer", {product.product_code: product})
    app = rest_payer_app(payer)
    seen: list[tuple[str, str, Any, int, Any]] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        body = json.loads(request.content) if request.content else None
        answer = response.json() if response.content else None
        seen.append((request.method.lower(), request.url.path, body, response.status_code, answer))

    def adapter(code: str, config: Any) -> RestAdapter:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://payer",
            event_hooks={"response": [record]},
        )
        return RestAdapter(code, config, client=client)

    checks = asyncio.run(
        run_checks(
            "huiminbao", {"type": "rest", "base_url": "http://payer"}, product, False, make_adapter=adapter
        )
    )
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    templates = {
        "/claim-shares": ("/claim-shares", "post"),
        "/assessments": ("/assessments", "post"),
        "/adjustments": ("/adjustments", "post"),
        "/voids": ("/voids", "post"),
    }
    failures = []
    covered = set()
    for method, path, body, status, answer in seen:
        if (path, method) in {(t, m) for t, m in templates.values()}:
            template = path
        elif path.startswith("/claim-shares/"):
            template = "/claim-shares/{idempotency_key}"
        else:
            template = "/statements/{business_date}"
        covered.add((template, method))
        op = payer_description.document["paths"][template][method]
        if body is not None:
            failures += payer_description.errors(
                f"/paths/{escape(template)}/{method}/requestBody/content/application~1json/schema", body
            )
        pointer, _ = payer_description.response(template, method, status)
        if answer is not None:
            failures += payer_description.errors(f"{pointer}/content/application~1json/schema", answer)
        assert op
    assert failures == []
    assert covered == {(p, m) for p, m, _ in payer_description.operations()}
    assert 409 in {s for _, _, _, s, _ in seen}  # the reused key was refused, as described


def test_the_gateway_s_real_fan_out_to_the_sandbox_rest_payers_matches_the_payer_description(
    world: World, sandboxes: SandboxPayers, payer_description: Description
) -> None:
    """The worked example coordinated through the sandbox REST payers (a tier-1 administrator
    adjudicating on the gateway's proposal, and tier 2 adjudicating itself): every share request
    and assessment notice they received, and every decision they gave, is what the description says."""
    world.setup()
    assert world.submit().status_code == 202
    drain(world)
    share = "/paths/~1claim-shares/post/requestBody/content/application~1json/schema"
    notice = "/paths/~1assessments/post/requestBody/content/application~1json/schema"
    decision = "/paths/~1claim-shares/post/responses/200/content/application~1json/schema"
    seen = {"shares": 0, "notices": 0, "decisions": 0}
    failures = []
    for code in ("ltc-admin-east", "huiminbao"):
        payer = sandboxes.payers[code]
        for request in payer.requests.values():
            failures += payer_description.errors(share, to_wire(request))
            seen["shares"] += 1
        for wire in payer.assessments.values():
            failures += payer_description.errors(notice, wire)
            seen["notices"] += 1
        for answer in payer.decisions.values():
            failures += payer_description.errors(decision, answer.to_wire())
            seen["decisions"] += 1
    assert failures == []
    assert min(seen.values()) >= 2, seen
    assert payer_description.errors(share, {"claim_id": 1}) != []  # the check can fail


def test_the_kit_checks_that_a_month_a_void_moved_is_not_granted_again() -> None:
    """The annuity payer (REST sandbox, payer mode) is voided the claim that holds a month and told
    that the month moved to a second claim; then a third claim is replaced. A payer that keeps
    ``fixed_moved`` passes; one that ignores it fails, naming the month granted again. The notice
    fits the payer description."""
    products = [Product.model_validate(p) for p in example_products()]
    annuity = next(p for p in products if p.product_code == "ACME-LTC-ANNUITY")
    body = f"/paths/{escape('/voids')}/post/requestBody/content/application~1json/schema"
    description = Description(describe())
    for ignores in (False, True):
        payer = SandboxPayer("acme-life", "payer", {annuity.product_code: annuity})
        payer.faults.ignore_moved = ignores
        config = {"type": "rest", "base_url": "http://payer"}
        checks = asyncio.run(run_checks("acme-life", config, annuity, False, make_adapter=in_process(payer)))
        story = next(c for c in checks if c.name == conformance_moved.NAME)
        [notice] = [v for v in payer.voids.values() if v["fixed_moved"]]
        [moved] = notice["fixed_moved"]
        assert [c.name for c in checks if not c.passed] == ([story.name] if ignores else [])
        assert (f"granted ['{moved['month']}'] again" if ignores else "moved to the second") in story.detail
        assert description.errors(body, notice) == []
    del moved["to_claim_id"]
    assert description.errors(body, notice) != []  # the description says what a moved month carries


def in_process(payer: SandboxPayer) -> Callable[[str, Any], RestAdapter]:
    """The gateway's REST adapter, talking to the sandbox payer's app in process."""
    app = rest_payer_app(payer)

    def adapter(code: str, config: Any) -> RestAdapter:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://payer")
        return RestAdapter(code, config, client=client)

    return adapter


def test_a_soap_payer_whose_wsdl_predates_fixed_moved_still_gets_the_void_notice(tmp_path: Path) -> None:
    """zeep refuses an element the WSDL does not declare: the SOAP adapter sends fixed_moved only
    to a payer whose WSDL has it, and a payer with the WSDL of before gets the notice without it."""
    payer = SandboxPayer("acme-life", "payer")
    server = SoapServer(payer).start()
    try:
        current = httpx.get(server.wsdl).text
        older = tmp_path / "payer-before-fixed-moved.wsdl"
        older.write_text(re.sub(r'<xs:element name="fixed_moved"[^>]*/>', "", current), encoding="utf-8")
        moved = {"month": "2026-11", "amount_fen": 200000, "payer_code": "acme-life"}
        moved.update(product_code="ACME-LTC-ANNUITY", to_claim_id="c-2", to_claim_number="N-2")
        for wsdl, key in ((server.wsdl, "void:c-1:4"), (str(older), "void:c-1:4:older")):
            notice = VoidNotice(
                key, "c-1", "N-1", "acme-life", "ACME-LTC-ANNUITY", "withdrawn", (), (), (moved,)
            )
            asyncio.run(_void(SoapAdapter("acme-life", {"wsdl": wsdl}), notice))
    finally:
        server.stop()
    assert payer.voids["void:c-1:4"]["fixed_moved"] == [moved]
    assert "fixed_moved" not in payer.voids["void:c-1:4:older"]  # sent, and read, without it


async def _void(adapter: SoapAdapter, notice: VoidNotice) -> None:
    try:
        await adapter.submit_void(notice)
    finally:
        await adapter.aclose()
