"""The v1 API's contract: validation as problem+json naming the field, keys, idempotent claims."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gateway.api.server import BackgroundServer
from gateway.api.v1 import post_claim
from gateway.services.keys import Role
from ltc_gateway.app import create_app
from tests.integration.world import World, auth


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def pointers(body: dict[str, Any]) -> list[str]:
    return [e["pointer"] for e in body.get("errors", [])]


# --- keys and roles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,method",
    [
        ("/v1/providers", "post"),
        ("/v1/payers/huiminbao/enrollments", "post"),
        ("/v1/assessments", "post"),
        ("/v1/coverage/query", "post"),
        ("/v1/claims", "post"),
        ("/v1/claims/00000000-0000-0000-0000-000000000000", "get"),
    ],
)
def test_every_v1_endpoint_needs_a_key(world: World, path: str, method: str) -> None:
    response = getattr(world.client, method)(path, **({"json": {}} if method == "post" else {}))
    body = problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Bearer" in body["detail"]
    problem(
        getattr(world.client, method)(
            path, headers=auth("ltc_nope_nope"), **({"json": {}} if method == "post" else {})
        ),
        401,
    )


def test_a_role_that_may_not_act_is_forbidden(world: World) -> None:
    world.load_products()
    provider = world.key(Role.PROVIDER, "P1")
    body = problem(world.post("/v1/providers", world.scenario["provider"], provider), 403)
    assert "bureau" in body["detail"]
    problem(world.post("/v1/claims", world.claim_body(), world.bureau), 403)


def test_revoked_key_is_refused(world: World) -> None:
    from gateway.services.keys import revoke_key

    key = world.bureau
    assert world.post("/v1/providers", world.scenario["provider"], key).status_code == 201
    with world.gateway.sessions.begin() as session:
        assert revoke_key(session, key.split("_")[1])
    problem(world.post("/v1/providers", world.scenario["provider"], key), 401)


def test_a_claim_key_revoked_here_is_refused_at_once_and_one_revoked_elsewhere_within_the_bound(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The accept path remembers a valid key's principal (``keys.KEY_CACHE_SECONDS``): a revocation
    in this process forgets it at once; one written by another process (here a plain UPDATE, which
    no ORM event sees) is refused once the bound has passed."""
    from sqlalchemy import update

    from gateway.services import keys
    from gateway.storage.tables import ApiKeyRow, utcnow

    world.setup()
    key = world.provider
    assert world.submit(world.claim_body(claim_number="K-1")).status_code == 202  # remembered now
    with world.gateway.sessions.begin() as session:
        assert keys.revoke_key(session, key.split("_")[1])
    problem(world.submit(world.claim_body(claim_number="K-2")), 401)

    other = world.key(Role.PROVIDER, "P3301020002")
    provider = dict(world.scenario["provider"], provider_code="P3301020002")
    assert world.post("/v1/providers", provider, world.bureau).status_code == 201
    monkeypatch.setattr(keys, "KEY_CACHE_SECONDS", 0.3)
    assert world.post("/v1/claims", world.claim_body(claim_number="K-3"), other).status_code == 202
    with world.gateway.sessions.begin() as session:
        session.execute(
            update(ApiKeyRow).where(ApiKeyRow.key_id == other.split("_")[1]).values(revoked_at=utcnow())
        )
    # within the bound the remembered principal may still be used; past it, never
    time.sleep(0.35)
    problem(world.post("/v1/claims", world.claim_body(claim_number="K-4"), other), 401)


# --- validation -------------------------------------------------------------------------------


def test_malformed_json_and_wrong_media_type(world: World) -> None:
    headers = auth(world.bureau) | {"content-type": "application/json"}
    body = problem(world.client.post("/v1/providers", content=b"{not json", headers=headers), 400)
    assert "JSON" in body["detail"]
    headers["content-type"] = "text/plain"
    problem(world.client.post("/v1/providers", content=b"{}", headers=headers), 400)


def test_provider_errors_name_the_field(world: World) -> None:
    bad = dict(world.scenario["provider"], district="33010", extra=1)
    del bad["designated"]
    body = problem(world.post("/v1/providers", bad, world.bureau), 422)
    assert pointers(body) == ["/designated", "/district", "/extra"]
    bad = dict(world.scenario["provider"], designated_from=None)
    assert pointers(problem(world.post("/v1/providers", bad, world.bureau), 422)) == ["/designated_from"]


def test_provider_update_returns_200(world: World) -> None:
    provider = world.scenario["provider"]
    assert world.post("/v1/providers", provider, world.bureau).status_code == 201
    response = world.post("/v1/providers", dict(provider, designated_to="2030-12-31"), world.bureau)
    assert response.status_code == 200 and response.json()["designated_to"] == "2030-12-31"


def test_assessment_errors_name_the_item(world: World) -> None:
    world.load_products()
    world.register_agency()
    base = world.scenario["assessment"]
    cases = [
        ({"adl": dict(base["adl"], eating=7)}, "/adl/eating"),
        ({"adl": {k: v for k, v in base["adl"].items() if k != "stairs"}}, "/adl/stairs"),
        ({"cognition": dict(base["cognition"], dreaming=1)}, "/cognition/dreaming"),
        ({"member": dict(base["member"], id_number="110105194912310021")}, "/member/id_number"),
        ({"declared_grade": 2}, "/declared_grade"),
        ({"disabled_since": "2026-09-02"}, "/disabled_since"),
        ({"concluded_on": "2999-01-01"}, "/concluded_on"),
    ]
    for change, pointer in cases:
        body = problem(world.post("/v1/assessments", base | change, world.agency), 422)
        assert pointers(body) == [pointer], (change, body)
        assert pointer in body["detail"]


def test_assessment_for_another_agency_is_forbidden(world: World) -> None:
    body = dict(world.scenario["assessment"], agency_code="EVA-OTHER")
    problem(world.post("/v1/assessments", body, world.agency), 403)


def test_changed_assessment_on_the_same_date_conflicts(world: World) -> None:
    world.setup()
    changed = dict(world.scenario["assessment"], adl=dict(world.scenario["assessment"]["adl"], eating=10))
    body = problem(world.post("/v1/assessments", changed, world.agency), 409)
    assert world.assessment_id in body["detail"]


def test_claim_errors_name_the_field(world: World) -> None:
    world.setup()
    line = world.scenario["claim"]["lines"][0]
    cases = [
        ({"lines": [dict(line, billed_fen=449999)]}, "/lines/0/billed_fen"),
        ({"lines": [dict(line, quantity=29, billed_fen=29 * 15000)]}, "/lines/0/quantity"),
        ({"lines": [dict(line, service_code="NOPE")]}, "/lines/0/service_code"),
        ({"lines": [dict(line, setting="martian")]}, "/lines/0/setting"),
        ({"lines": [dict(line, unit_price_fen=1.5)]}, "/lines/0/unit_price_fen"),
        ({"member_id_number": "11010519491231002Y"}, "/member_id_number"),
        ({"member_id_number": "110101199003070038"}, "/member_id_number"),  # valid, but unknown
        ({"assessment_id": "7d0e7bd4-8f0e-4b2a-9a77-0d5f3d2b0b11"}, "/assessment_id"),
        ({"period": {"start": "2026-11-01", "end": "2026-10-01"}}, "/period/end"),
        ({"lines": []}, "/lines"),
    ]
    for change, pointer in cases:
        body = problem(world.submit(world.claim_body(**change)), 422)
        assert pointer in pointers(body), (change, body)


def test_claim_number_is_idempotent_per_provider(world: World) -> None:
    world.setup()
    first = world.submit()
    assert first.status_code == 202
    again = world.submit()
    assert again.status_code == 202 and again.json() == first.json()
    changed = world.claim_body()
    changed["lines"][0]["unit_price_fen"] = 14000
    changed["lines"][0]["billed_fen"] = 420000
    body = problem(world.submit(changed), 409)
    assert first.json()["claim_id"] in body["detail"]
    # Another provider may use the same claim number.
    other = dict(world.scenario["provider"], provider_code="P3301020002")
    assert world.post("/v1/providers", other, world.bureau).status_code == 201
    response = world.post("/v1/claims", world.claim_body(), world.key(Role.PROVIDER, "P3301020002"))
    assert response.status_code == 202 and response.json()["claim_id"] != first.json()["claim_id"]


def test_concurrent_claims_are_accepted_together_each_with_its_own_answer(world: World) -> None:
    """A burst against a real server is written in batches (group commit); a bad claim, a repeat,
    a conflicting repeat, a refused key and a wrong role in the same burst get their own answers."""
    world.setup()
    server = BackgroundServer(create_app(world.gateway, embedded_workers=0)).start()
    bad = world.claim_body(claim_number="BAD-1")
    bad["lines"][0]["billed_fen"] = 1
    conflicting = world.claim_body(claim_number="C-0")
    conflicting["lines"][0]["unit_price_fen"] = 14000
    conflicting["lines"][0]["billed_fen"] = 420000
    sends: list[tuple[dict[str, Any], str, int]] = [
        *((world.claim_body(claim_number=f"C-{n}"), world.provider, 202) for n in range(40)),
        *((world.claim_body(claim_number="C-1"), world.provider, 202) for _ in range(3)),
        (bad, world.provider, 422),
        (world.claim_body(claim_number="C-X"), "ltc_unknown.key", 401),
        (world.claim_body(claim_number="C-Y"), world.bureau, 403),
    ]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            first = await client.post("/v1/claims", json=sends[0][0], headers=auth(sends[0][1]))
            late = client.post("/v1/claims", json=conflicting, headers=auth(world.provider))
            answers = await asyncio.gather(
                *(client.post("/v1/claims", json=body, headers=auth(key)) for body, key, _ in sends[1:]),
                late,
            )
            return [first, *answers]

    try:
        answers = asyncio.run(burst())
    finally:
        server.stop()
    for (body, _, status), answer in zip(sends, answers, strict=False):
        assert answer.status_code == status, (body["claim_number"], answer.text)
    assert answers[-1].status_code == 409 and "different body" in answers[-1].json()["detail"]
    assert pointers(problem(answers[43], 422)) == ["/lines/0/billed_fen"]
    receipts = {a.json()["claim_number"]: a.json()["claim_id"] for a in answers if a.status_code == 202}
    assert len(receipts) == 40
    assert len({a.json()["claim_id"] for a in answers[40:43]} | {receipts["C-1"]}) == 1
    for number, claim_id in receipts.items():
        view = world.claim(claim_id)
        assert view["claim_number"] == number and len(view["lines"]) == len(world.scenario["claim"]["lines"])
    assert max(post_claim.batcher.sizes) > 1  # the burst was written in batches


def test_unregistered_provider_cannot_claim(world: World) -> None:
    world.setup()
    problem(world.post("/v1/claims", world.claim_body(), world.key(Role.PROVIDER, "UNKNOWN")), 403)


def test_claim_view_is_the_providers_own(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    world.coordinate()
    other = world.key(Role.PROVIDER, "P-OTHER")
    problem(world.get(f"/v1/claims/{claim_id}", other), 404)
    problem(world.get("/v1/claims/not-a-uuid", world.provider), 404)
    # A payer the claim was routed to sees it, with the ID number masked; one it was not does not.
    seen = world.claim(claim_id, world.payer("huiminbao"))
    assert seen["member_id_number"] == "110105********002X"
    problem(world.get(f"/v1/claims/{claim_id}", world.payer("unrelated")), 404)
    assert world.claim(claim_id, world.bureau)["member_id_number"] == "11010519491231002X"


# --- enrolment and coverage -------------------------------------------------------------------


def test_enrolment_rules(world: World) -> None:
    world.load_products()
    item = {"id_number": "11010519491231002X", "product_code": "CITY-LTCI-2025", "start_date": "2020-01-01"}
    body = problem(
        world.post("/v1/payers/policy-ltci/enrollments", {"enrollments": [item]}, world.payer("policy-ltci")),
        422,
    )
    assert pointers(body) == ["/enrollments/0/product_code"] and "bureau" in body["detail"]
    problem(
        world.post("/v1/payers/huiminbao/enrollments", {"enrollments": [item]}, world.payer("acme-life")), 403
    )
    problem(world.post("/v1/payers/nobody/enrollments", {"enrollments": [item]}, world.bureau), 404)
    wrong = dict(item, product_code="HMB-LTC-2026", end_date="2019-01-01", id_number="110105194912310021")
    body = problem(
        world.post("/v1/payers/huiminbao/enrollments", {"enrollments": [wrong]}, world.payer("huiminbao")),
        422,
    )
    assert pointers(body) == ["/enrollments/0/end_date", "/enrollments/0/id_number"]
    ok = world.post("/v1/payers/policy-ltci/enrollments", {"enrollments": [item]}, world.bureau)
    assert ok.json()["enrollments"][0]["outcome"] == "created"
    again = world.post("/v1/payers/policy-ltci/enrollments", {"enrollments": [item]}, world.bureau)
    assert again.json()["enrollments"][0]["outcome"] == "unchanged"
    ended = world.post(
        "/v1/payers/policy-ltci/enrollments",
        {"enrollments": [dict(item, end_date="2030-12-31")]},
        world.bureau,
    )
    assert ended.json()["enrollments"][0]["outcome"] == "updated"


def test_coverage_query_answers_for_every_tier(world: World) -> None:
    world.setup()
    response = world.post(
        "/v1/coverage/query", {"id_number": "11010519491231002X", "on": "2026-11-15"}, world.provider
    )
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["known"] is True
    by_tier = {t["tier"]: [(c["product_code"], c["status"]) for c in t["coverages"]] for t in view["tiers"]}
    assert by_tier == {
        1: [("CITY-LTCI-2025", "active")],
        2: [("HMB-LTC-2026", "active")],
        3: [("ACME-LTC-ANNUITY", "active"), ("ACME-LTC-CARE", "active")],
    }
    assert view["assessment"]["grade"] == 4 and view["assessment"]["effective"] is True
    early = world.post(
        "/v1/coverage/query", {"id_number": "11010519491231002X", "on": "2025-02-01"}, world.provider
    ).json()
    statuses = {c["product_code"]: c["status"] for t in early["tiers"] for c in t["coverages"]}
    assert statuses["HMB-LTC-2026"] == "waiting" and statuses["CITY-LTCI-2025"] == "active"
    assert early["assessment"] is None
    unknown = world.post(
        "/v1/coverage/query", {"id_number": "110101199003070038", "on": "2026-11-15"}, world.provider
    ).json()
    assert unknown["known"] is False and all(t["coverages"] == [] for t in unknown["tiers"])
    problem(world.post("/v1/coverage/query", {"id_number": "11010519491231002X"}, world.provider), 422)


def test_unknown_route_and_method_are_problems(world: World) -> None:
    problem(world.client.get("/v1/nothing-here"), 404)
    problem(world.client.delete("/v1/claims", headers=auth(world.provider)), 405)  # GET lists them now


def test_deeply_nested_and_oversized_bodies_are_refused(world: World) -> None:
    world.setup()
    headers = {"Authorization": f"Bearer {world.provider}", "Content-Type": "application/json"}
    deep = "[" * 40 + "]" * 40
    answer = world.client.post("/v1/claims", content=deep, headers=headers)
    assert answer.status_code == 400 and "deeper than 32" in answer.json()["detail"]
    very_deep = "[" * 100000 + "]" * 100000
    answer = world.client.post("/v1/claims", content=very_deep, headers=headers)
    assert answer.status_code in (400, 413)
    huge = b'{"claim_number": "' + b"x" * 2_000_000 + b'"}'
    answer = world.client.post("/v1/claims", content=huge, headers=headers)
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("application/problem+json")
