"""The payer side's contract: what the sandbox REST payers receive from the gateway (through the
conformance kit, and in the worked example's real fan-out) and answer is what
``/openapi/payer.json`` describes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from adapters.conformance import run_checks
from adapters.rest import RestAdapter
from adapters.sdk import to_wire
from examples import example_products
from gateway.domain.products import Product
from ltc_sandbox import SandboxPayers
from ltc_sandbox.payer import SandboxPayer
from ltc_sandbox.rest_app import rest_payer_app
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
