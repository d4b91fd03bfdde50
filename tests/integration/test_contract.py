"""The contract for integrators: both OpenAPI descriptions are valid, cover every route, carry
an answer schema and an example for every operation, every example validates, and real answers
(the worked example through the API, a generated night's work queue) match what the description
promises. The payer side's answers: test_payer_contract.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from starlette.routing import Route
from starlette.testclient import TestClient

import schemas
from gateway.api.openapi import describe, routes_of
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.domain.claims import ClaimStatus
from gateway.orchestration.steps import FAILED_STEPS, StepStatus
from gateway.services.keys import Role
from ltc_gateway.app import create_app
from reconciliation.matching import MISMATCHES, OPEN_MISMATCH_STATUSES
from tests.integration.contract_tour import queue_tour, worked_example_tour
from tests.integration.openapi_check import (
    Description,
    check_live,
    gateway_description_of,
    payer_description_of,
)
from tests.integration.world import World

SCHEMAS = Path(schemas.__file__).parent


@pytest.fixture
def gateway_description(world: World) -> Description:
    return gateway_description_of(world)


@pytest.fixture
def payer_description(world: World) -> Description:
    return payer_description_of(world)


def test_both_descriptions_validate_with_openapi_spec_validator(
    gateway_description: Description, payer_description: Description
) -> None:
    validate(gateway_description.document)
    validate(payer_description.document)


def test_every_route_of_the_app_is_described_with_an_answer_schema_and_an_example(
    world: World, gateway_description: Description
) -> None:
    """Generic: a route added without a contract (``@endpoint(..., response=...)``) fails here by name."""
    described = {(p, m) for p, m, _ in gateway_description.operations()}
    assert sorted(routes_of(world.client.app.routes) - described) == []
    # and the walk sees a route another branch adds without a contract
    added = [*world.client.app.routes, Route("/v1/claims/{claim_id}/statement.docx", lambda r: None)]
    gap = routes_of(added) - {(p, m) for p, ops in describe(added)["paths"].items() for m in ops}
    assert gap == {("/v1/claims/{claim_id}/statement.docx", "get")}
    lacking = []
    for path, method, op in gateway_description.operations():
        successes = [a for s, a in op["responses"].items() if s.startswith("2")]
        contents = [(m, c) for a in successes for m, c in a.get("content", {}).items()]
        if not contents or any(
            c["schema"] in ({}, {"type": "object"}) or (m.endswith("json") and "example" not in c)
            for m, c in contents
        ):
            lacking.append(f"{method.upper()} {path}")  # a binary answer (a PDF) needs no example
        if "requestBody" in op and not all(
            "example" in c for m, c in op["requestBody"]["content"].items() if m == "application/json"
        ):
            lacking.append(f"{method.upper()} {path} (request)")
        declared = {p["name"] for p in op["parameters"] if "name" in p}
        assert set(path.replace("}", "{").split("{")[1::2]) <= declared, path
    assert lacking == []


def test_every_status_and_header_an_operation_answers_is_declared(gateway_description: Description) -> None:
    spec = gateway_description.document
    claim = spec["paths"]["/v1/claims"]["post"]
    assert set(claim["responses"]) == {"202", "400", "401", "403", "409", "413", "422", "500", "503"}
    assert {"Location", "Idempotency-Replayed"} <= set(claim["responses"]["202"]["headers"])
    assert {"$ref": "#/components/parameters/Idempotency-Key"} in claim["parameters"]
    for path, method, op in gateway_description.operations():
        if method == "post" and path not in (
            "/v1/members/history",
            "/v1/claims/search",
        ):  # reads kept out of the URL
            assert {"$ref": "#/components/parameters/Idempotency-Key"} in op["parameters"], path
        for status, answer in op["responses"].items():
            if status[0] in "45" and (path, status) != ("/readyz", "503"):  # readiness, not a problem
                assert answer == {"$ref": f"#/components/responses/{status}"}, (path, status)
    queue = spec["paths"]["/v1/reconciliation/mismatches"]["get"]
    query = {p["name"]: p["schema"] for p in queue["parameters"] if p.get("in") == "query"}
    filters = {
        "kind",
        "payer",
        "status",
        "min_age_days",
        "min_amount_fen",
        "claim_number",
        "provider",
        "reference",
    }
    assert set(query) == {*filters, "sort", "after", "before", "limit", "offset"}  # keyset pages too
    assert query["limit"] == {**query["limit"], "minimum": 1, "maximum": 500}
    assert query["offset"] == {
        "type": "integer",
        "minimum": 0,
        "default": 0,
        "description": query["offset"]["description"],
    }
    assert set(spec["paths"]["/readyz"]["get"]["responses"]) >= {"200", "503"}
    assert (
        "text/csv" in spec["paths"]["/v1/reconciliation/batches/{id}"]["get"]["responses"]["200"]["content"]
    )


def test_every_example_validates_against_its_schema(
    gateway_description: Description, payer_description: Description
) -> None:
    for description in (gateway_description, payer_description):
        examples = description.examples()
        assert len(examples) >= len(description.operations())
        failures = {p: e for p, ex in examples if (e := description.errors(p, ex))}
        assert failures == {}
    # the schema files themselves: every request example and every answer's examples
    for file in sorted((SCHEMAS / "examples").glob("*.json")):
        for document in json.loads(file.read_text(encoding="utf-8")):
            assert schemas.faults(file.stem, document) == [], file.name
    answers = {
        f.name: json.loads(f.read_text(encoding="utf-8")) for f in (SCHEMAS / "responses").glob("*.json")
    }
    registry: Registry = Registry().with_resources(
        (a["$id"], Resource.from_contents(a)) for a in answers.values()
    )
    for name, answer in answers.items():
        Draft202012Validator.check_schema(answer)
        assert answer["examples"], name
        validator = Draft202012Validator(
            answer, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for instance in answer["examples"]:
            assert [e.message for e in validator.iter_errors(instance)] == [], name


def test_the_worked_example_answers_validate_against_the_declared_schemas(
    world: World, gateway_description: Description
) -> None:
    exchanges = worked_example_tour(world)
    assert {e.status for e in exchanges} >= {200, 201, 202, 401, 403, 404, 409, 422}
    assert any("idempotency-replayed" in e.headers for e in exchanges)
    check_live(gateway_description, exchanges)


def test_the_work_queue_answers_validate_against_the_declared_schemas(
    world: World, gateway_description: Description
) -> None:
    check_live(gateway_description, queue_tour(world))


def test_a_call_while_the_database_is_down_is_a_503_problem_with_retry_after_as_described(
    gateway_description: Description,
) -> None:
    down = bootstrap(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    with TestClient(create_app(down, embedded_workers=0)) as client:
        headers = {"Authorization": "Bearer ltc_unknown"}
        answers = [
            ("/v1/steps/failed", "get", client.get("/v1/steps/failed", headers=headers)),
            ("/v1/claims", "post", client.post("/v1/claims", json={"claim_number": "x"}, headers=headers)),
        ]
    for path, method, answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert int(answer.headers["retry-after"]) >= 1
        pointer, declared = gateway_description.response(path, method, 503)
        assert "Retry-After" in declared["headers"]
        schema = f"{pointer}/content/application~1problem+json/schema"
        assert gateway_description.errors(schema, answer.json()) == []


def test_the_answer_schemas_name_the_same_statuses_as_the_code() -> None:
    claim = schemas.load("responses/claim")["properties"]
    assert claim["status"]["enum"] == [s.value for s in ClaimStatus]
    assert schemas.load("responses/claim-receipt")["properties"]["status"] == claim["status"]
    assert claim["payers"]["items"]["properties"]["status"]["enum"] == [s.value for s in StepStatus]
    failed = schemas.load("responses/failed-steps")["properties"]["steps"]["items"]["properties"]
    assert failed["status"]["enum"] == list(FAILED_STEPS)
    mismatch = schemas.load("responses/mismatch")["properties"]
    assert mismatch["kind"]["enum"] == list(MISMATCHES)
    assert set(OPEN_MISMATCH_STATUSES) < set(mismatch["status"]["enum"])


def test_every_reference_in_both_descriptions_resolves(
    gateway_description: Description, payer_description: Description
) -> None:
    for description in (gateway_description, payer_description):
        text = json.dumps(description.document)
        for ref in set(re.findall(r'"\$ref": "#([^"]*)"', text)):
            node: Any = description.document
            for part in ref.strip("/").split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                assert isinstance(node, dict) and part in node, f"#{ref} does not resolve"
                node = node[part]


def test_an_id_beyond_what_a_row_can_have_is_a_404_not_a_server_error(world: World) -> None:
    """The description types the ids as 32-bit integers; schemathesis sent larger ones, which
    PostgreSQL refused as out of range (a 500)."""
    key = world.key(Role.RECONCILER, "zhang")
    for number in ("2147483648", "8589934591", "-8589934591", "0"):
        for path in (
            f"/v1/reconciliation/mismatches/{number}",
            f"/v1/reconciliation/runs/{number}",
            f"/v1/reconciliation/batches/{number}",
        ):
            assert world.get(path, key).status_code == 404, path
        rerun = world.post(f"/v1/steps/{number}/rerun", {}, world.bureau)
        assert rerun.status_code == 404, number
        resolution = world.post(
            f"/v1/reconciliation/mismatches/{number}/resolution",
            {"action": "carry_forward", "note": "x"},
            key,
        )
        assert resolution.status_code == 404, number


def test_a_nul_character_in_a_body_is_a_422_naming_the_field_not_a_server_error(world: World) -> None:
    """Found by schemathesis: PostgreSQL stores no U+0000 in text, so such a body was a 500."""
    world.setup()
    body = {**world.scenario["assessment"], "agency_code": "EVA\x003301001"}
    answer = world.post("/v1/assessments", body, world.agency)
    assert answer.status_code == 422
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/agency_code"]
    scores = {**world.scenario["assessment"], "adl": {"eat\x00ing": 5}}
    answer = world.post("/v1/assessments", scores, world.agency)
    assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/adl/eat\x00ing"
    key = world.key(Role.RECONCILER, "zhang")
    answer = world.get("/v1/reconciliation/mismatches?status=open%00&offset=1", key)
    assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/status"
    assert world.get("/v1/reconciliation/runs/2026-12%0001", key).status_code == 422
