"""No 500 for bad input (issue 18, item 7). Each input below was a server error on PostgreSQL 13
(and the 0001-01-01 business date on both databases), after which uvicorn dropped the keep-alive
connection. Each is now a 4xx problem+json naming the field, over a real HTTP connection that
stays open for the next request."""

from __future__ import annotations

import copy
import http.client
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.api.server import BackgroundServer
from gateway.services.keys import Role
from ltc_gateway.app import create_app
from tests.integration.world import World


@dataclass(frozen=True)
class Bad:
    """A request: method, path, body (JSON document, or bytes), media type; who sends it."""

    method: str
    path: str
    who: str
    body: Any = None
    media: str = "application/json"


NUL = "\x00"
CLAIM = "00000000-0000-4000-8000-000000000001"


def claim_with(world: World, **changes: Any) -> dict[str, Any]:
    body = world.claim_body(claim_number="BAD-1")
    body["lines"][0].update(changes)
    return body


def statement_entry(reference: str) -> dict[str, Any]:
    return {
        "claim_id": CLAIM,
        "line_no": 1,
        "paid_fen": 100,
        "payer_reference": reference,
        "settled_on": "2026-11-30",
    }


def assessment_with_address(world: World) -> dict[str, Any]:
    body = copy.deepcopy(world.scenario["assessment"])
    body["member"]["address"]["text"] = f"杭州市上城区{NUL}示例路1号"
    return body


def five_thousand_digits(world: World) -> bytes:
    text = json.dumps(claim_with(world, quantity=1))
    return text.replace('"quantity": 1', '"quantity": ' + "9" * 5000).encode()


# name → (the request, the pointer the answer names, its status)
CASES: dict[str, tuple[Callable[[World], Bad], str, int]] = {
    "NUL in claim_number": (
        lambda w: Bad("POST", "/v1/claims", "provider", {**w.claim_body(), "claim_number": f"C{NUL}1"}),
        "/claim_number",
        422,
    ),
    "NUL in an address": (
        lambda w: Bad("POST", "/v1/assessments", "agency", assessment_with_address(w)),
        "/member/address/text",
        422,
    ),
    "NUL in a provider name": (
        lambda w: Bad(
            "POST", "/v1/providers", "bureau", {**w.scenario["provider"], "name": f"示例{NUL}护理院"}
        ),
        "/name",
        422,
    ),
    "NUL in a JSON statement's payer_reference": (
        lambda w: Bad(
            "POST", "/v1/payers/huiminbao/statements", "huiminbao", {"entries": [statement_entry(f"R{NUL}1")]}
        ),
        "/entries/0/payer_reference",
        422,
    ),
    "NUL in a CSV statement's payer_reference": (
        lambda w: Bad(
            "POST",
            "/v1/payers/huiminbao/statements",
            "huiminbao",
            f"claim_id,line_no,paid_fen,payer_reference,settled_on\n{CLAIM},1,100,R{NUL}1,2026-11-30\n".encode(),
            "text/csv",
        ),
        "row 2/payer_reference",
        422,
    ),
    "NUL in a query parameter": (
        lambda w: Bad("GET", "/v1/reconciliation/mismatches?payer=huiminbao%00", "reconciler"),
        "/payer",
        422,
    ),
    "NUL in a path": (lambda w: Bad("GET", "/v1/payers/policy-ltci%00/routes", "bureau"), "/payer_code", 422),
    "line_no of 2^31": (
        lambda w: Bad("POST", "/v1/claims", "provider", claim_with(w, line_no=2**31)),
        "/lines/0/line_no",
        422,
    ),
    "a path id of 2^31": (
        lambda w: Bad("GET", f"/v1/reconciliation/mismatches/{2**31}", "reconciler"),
        "/id",
        404,
    ),
    "a step id of 2^31": (lambda w: Bad("POST", f"/v1/steps/{2**31}/rerun", "bureau", {}), "/step_id", 404),
    "business_date 0001-01-01": (
        lambda w: Bad(
            "POST", "/v1/reconciliation/runs", "reconciler", {"business_date": "0001-01-01", "wait": True}
        ),
        "/business_date",
        422,
    ),
    "a 5,000-digit integer literal in a JSON body": (
        lambda w: Bad("POST", "/v1/claims", "provider", five_thousand_digits(w)),
        "/lines/0/quantity",
        422,
    ),
    "amount_fen of 2^63": (
        lambda w: Bad(
            "POST",
            "/v1/reconciliation/mismatches/1/resolution",
            "reconciler",
            {"action": "top_up", "note": "n", "amount_fen": 2**63},
        ),
        "/amount_fen",
        422,
    ),
}


@pytest.fixture
def server(world: World) -> Iterator[BackgroundServer]:
    world.setup()
    running = BackgroundServer(create_app(world.gateway, embedded_workers=0)).start()
    yield running
    running.stop()


def key(world: World, who: str) -> str:
    return {
        "provider": lambda: world.provider,
        "agency": lambda: world.agency,
        "bureau": lambda: world.bureau,
        "reconciler": lambda: world.key(Role.RECONCILER, "zhang"),
        "huiminbao": lambda: world.payer("huiminbao"),
    }[who]()


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_of_the_issue_is_a_4xx_problem_naming_the_field_on_a_connection_that_stays_open(
    world: World, server: BackgroundServer, case: str
) -> None:
    make, pointer, status = CASES[case]
    bad = make(world)
    body = bad.body if isinstance(bad.body, bytes | None) else json.dumps(bad.body).encode()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    headers = {"Authorization": f"Bearer {key(world, bad.who)}", "Idempotency-Key": str(uuid.uuid4())}
    if body is not None:
        headers["Content-Type"] = bad.media
    try:
        connection.request(bad.method, bad.path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        opened = connection.sock
        assert answer.status == status, text
        assert answer.getheader("content-type", "").startswith("application/problem+json"), text
        assert pointer in [e["pointer"] for e in json.loads(text)["errors"]], text
        assert answer.getheader("connection", "").lower() != "close"

        connection.request(
            "GET",
            "/v1/reconciliation/runs",
            headers={"Authorization": f"Bearer {key(world, 'reconciler')}"},
        )
        again = connection.getresponse()
        again.read()
        assert again.status == 200
        assert opened is not None and connection.sock is opened  # the same connection, not a new one
    finally:
        connection.close()
