"""The worked example of domain.md section 5, through the API and the fan-out, on both databases."""

from __future__ import annotations

from tests.integration.world import World, example


def test_worked_example_is_coordinated_to_the_fen(world: World) -> None:
    world.setup()
    expected = example("worked-example.json")
    response = world.submit()
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["status"] == "received"
    assert response.headers["location"] == f"/v1/claims/{receipt['claim_id']}"

    assert world.claim(receipt["claim_id"])["status"] == "received"
    assert world.coordinate() == 1
    view = world.claim(receipt["claim_id"])

    assert view["status"] == "coordinated"
    paid = {}
    for payment in view["lines"][0]["payments"]:
        kind = "policy-ltci" if payment["payer_code"] == "policy-ltci" else payment["payer_code"]
        key = kind if kind in expected["expected_claim"]["payments"] else f"{kind}/{payment['product_code']}"
        paid[key] = payment["paid_fen"]
    assert paid == expected["expected_claim"]["payments"]
    assert view["member_responsibility_fen"] == expected["expected_claim"]["member_responsibility_fen"] == 0
    assert [
        {k: f[k] for k in ("product_code", "month", "amount_fen")} for f in view["fixed_benefits"]
    ] == expected["expected_claim"]["fixed_benefits"]
    reasons = {
        p["payer_code"]: {r["code"]: r["amount_fen"] for r in p["reasons"]}
        for p in view["lines"][0]["payments"]
    }
    assert reasons == {
        "policy-ltci": {"OVER_UNIT_LIMIT": 150000, "COINSURANCE": 90000},
        "huiminbao": {"PRIOR_PAYER_PAID": 210000, "COINSURANCE": 120000},
        "acme-life": {"MONTHLY_LIMIT": 150000, "PRIOR_PAYER_PAID": 180000},
    }
    assert [(p["tier"], p["payer_code"], p["product_code"], p["status"]) for p in view["payers"]] == [
        (1, "policy-ltci", "CITY-LTCI-2025", "decided"),
        (2, "huiminbao", "HMB-LTC-2026", "decided"),
        (3, "acme-life", "ACME-LTC-ANNUITY", "decided"),
        (3, "acme-life", "ACME-LTC-CARE", "decided"),
    ]


def test_assessment_is_graded_by_the_gateway(world: World) -> None:
    world.setup()
    expected = example("worked-example.json")["expected_assessment"]
    response = world.post("/v1/assessments", world.scenario["assessment"], world.agency)
    assert response.status_code == 200  # the same submission again: the first result
    view = response.json()
    assert view["assessment_id"] == world.assessment_id
    assert {k: view[k] for k in expected} == expected
    assert view["valid_until"] == "2028-08-31"
