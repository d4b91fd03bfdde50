"""A tour of the public API with real calls: the worked example, then a generated night's work
queue. Each answer is recorded with the route it came from, so the contract tests can check the
live answers against the OpenAPI description (and the examples were drafted from such a tour)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.routing import Match, Route

from gateway.ledger import business_date
from gateway.services.keys import Role
from ltc_sandbox.generator import generate_night
from tests.integration.world import World, auth


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # the route's template, as the description names it
    status: int
    media: str
    headers: dict[str, str]
    body: Any


class Recorder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.exchanges: list[Exchange] = []

    def template(self, method: str, url: str) -> str:
        path = url.split("?")[0]
        scope = {"type": "http", "path": path, "method": method}
        for route in self.world.client.app.routes:
            if isinstance(route, Route) and route.matches(scope)[0] == Match.FULL:
                return route.path
        raise AssertionError(f"no route for {method} {path}")

    def call(self, method: str, url: str, key: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {**auth(key), **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        response = self.world.client.request(method, url, headers=headers, **kwargs)
        media = response.headers.get("content-type", "").split(";")[0]
        parsed = response.json() if media.endswith("json") else response.text
        self.exchanges.append(
            Exchange(
                method.lower(),
                self.template(method, url),
                response.status_code,
                media,
                dict(response.headers),
                parsed,
            )
        )
        return response


def worked_example_tour(world: World) -> list[Exchange]:
    """Every party's calls for the worked example, through the API."""
    r = Recorder(world)
    world.load_products()
    scenario = world.scenario
    r.call("POST", "/v1/providers", world.bureau, scenario["provider"])
    r.call("POST", "/v1/assessment-agencies", world.bureau, scenario["agency"])
    for enrollment in scenario["enrollments"]:
        payer = enrollment.pop("payer_code")
        key = world.bureau if payer == "policy-ltci" else world.payer(payer)
        r.call("POST", f"/v1/payers/{payer}/enrollments", key, {"enrollments": [enrollment]})
    assessed = r.call("POST", "/v1/assessments", world.agency, scenario["assessment"])
    world.assessment_id = assessed.json()["assessment_id"]
    member = scenario["assessment"]["member"]["id_number"]
    r.call("POST", "/v1/coverage/query", world.provider, {"id_number": member, "on": "2026-11-01"})
    r.call("POST", "/v1/members/history", world.bureau, {"id_number": member})
    r.call("PUT", "/v1/payers/policy-ltci/routes", world.bureau, {"routes": []})
    r.call("GET", "/v1/payers/policy-ltci/routes", world.bureau)
    receipt = r.call(
        "POST", "/v1/claims", world.provider, world.claim_body(), headers={"Idempotency-Key": "tour-1"}
    )
    r.call("POST", "/v1/claims", world.provider, world.claim_body(), headers={"Idempotency-Key": "tour-1"})
    claim_id = receipt.json()["claim_id"]
    world.coordinate()
    r.call("GET", f"/v1/claims/{claim_id}", world.provider)
    correction = {
        "claim_id": claim_id,
        "product_code": "HMB-LTC-2026",
        "status": "decided",
        "payer_reference": "HMB-CORR-1",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 120000,
                "reasons": [
                    {"code": "PRIOR_PAYER_PAID", "amount_fen": 210000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    r.call("POST", "/v1/payers/huiminbao/decisions", world.payer("huiminbao"), correction)
    day = business_date().isoformat()
    entries = {
        "entries": [
            {
                "claim_id": claim_id,
                "line_no": 1,
                "paid_fen": 120000,
                "payer_reference": "HMB-1",
                "settled_on": day,
            }
        ]
    }
    r.call(
        "POST",
        "/v1/payers/huiminbao/statements",
        world.payer("huiminbao"),
        content=json.dumps(entries),
        headers={"Content-Type": "application/json"},
    )
    r.call("GET", "/v1/steps/failed", world.bureau)
    reconciler = world.key(Role.RECONCILER, "tour")
    r.call("POST", "/v1/reconciliation/runs", reconciler, {"business_date": day, "wait": True})
    r.call("GET", "/v1/reconciliation/runs", reconciler)
    r.call("GET", f"/v1/reconciliation/runs/{day}", reconciler)
    # problems, as the description promises them
    r.call("GET", "/v1/claims/not-a-claim", world.provider)
    r.call("POST", "/v1/claims", world.bureau, world.claim_body())
    r.call("POST", "/v1/providers", world.bureau, {"provider_code": ""})
    r.call(
        "POST",
        "/v1/claims",
        world.provider,
        world.claim_body(),
        headers={"Idempotency-Key": "tour-1"} | {"X-Other": "1"},
    )
    r.call(
        "POST",
        "/v1/claims",
        world.provider,
        world.claim_body(claim_number="OTHER"),
        headers={"Idempotency-Key": "tour-1"},
    )
    r.call("GET", "/v1/steps/failed", "ltc_unknown")
    return r.exchanges


def queue_tour(world: World) -> list[Exchange]:
    """A reconciler works a generated night's queue and closes a settlement batch."""
    night = generate_night(world.gateway, claims_per_kind=1, matched_claims=1)
    r = Recorder(world)
    zhang = world.key(Role.RECONCILER, "zhang")
    day = night.business_date.isoformat()
    r.call("POST", "/v1/reconciliation/runs", zhang, {"business_date": day, "wait": True})
    listed = r.call("GET", "/v1/reconciliation/mismatches?status=active&offset=0", zhang).json()
    first = listed["mismatches"][0]
    r.call("GET", f"/v1/reconciliation/mismatches/{first['id']}", zhang)
    r.call(
        "POST",
        f"/v1/reconciliation/mismatches/{first['id']}/resolution",
        zhang,
        {"action": "carry_forward", "note": "the payer confirms a correction is on its way"},
    )
    second = listed["mismatches"][1]
    r.call(
        "POST",
        "/v1/reconciliation/mismatches/resolutions",
        zhang,
        {"ids": [first["id"], second["id"]], "action": "carry_forward", "note": "look again tomorrow"},
    )
    r.call("GET", "/v1/reconciliation/batches", zhang)
    closed = r.call("POST", "/v1/reconciliation/batches", zhang, {"payer_code": "huiminbao"})
    if closed.status_code == 201:
        batch_id = closed.json()["batch_id"]
        r.call("GET", f"/v1/reconciliation/batches/{batch_id}", zhang)
        r.call("GET", f"/v1/reconciliation/batches/{batch_id}.csv", zhang)
    r.call("GET", "/v1/reconciliation/mismatches?min_age_days=-1", zhang)
    return r.exchanges
