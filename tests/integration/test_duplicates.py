"""Duplicate services through the API and the workers (domain.md section 4, issue 18 item 10):
one bath billed on three claims by two providers is paid once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from gateway.services.keys import Role
from gateway.storage.tables import ClaimRow
from tests.integration.world import World

BATH = {
    "line_no": 1,
    "service_code": "HYG-BATH",
    "setting": "community",
    "method": "per_item",
    "service_date": "2026-11-10",
    "quantity": 1,
    "unit_price_fen": 12000,
    "billed_fen": 12000,
}
OTHER_PROVIDER = "P3301020002"


def bath_claim(world: World, number: str, **line: Any) -> dict[str, Any]:
    return world.claim_body(claim_number=number, lines=[dict(BATH, **line)])


def register_other_provider(world: World) -> str:
    provider = dict(world.scenario["provider"], provider_code=OTHER_PROVIDER, name="另一家护理站")
    assert world.post("/v1/providers", provider, world.bureau).status_code == 201
    return world.key(Role.PROVIDER, OTHER_PROVIDER)


def test_no_double_payment_across_claims_the_same_bath_on_three_claims_of_two_providers_is_paid_once(
    world: World,
) -> None:
    world.setup()
    other = register_other_provider(world)
    first = world.submit(bath_claim(world, "A-0001")).json()["claim_id"]
    world.coordinate()
    second = world.submit(bath_claim(world, "A-0002")).json()["claim_id"]
    world.coordinate()
    response = world.post("/v1/claims", bath_claim(world, "B-0001"), other)
    assert response.status_code == 202, response.text
    third = response.json()["claim_id"]
    world.coordinate()

    paid_first = world.claim(first)
    assert paid_first["status"] == "coordinated"
    assert sum(p["paid_fen"] for p in paid_first["lines"][0]["payments"]) > 0
    assert not [f for f in paid_first["flags"] if f["kind"] == "duplicate_service"]

    for claim_id, key in ((second, world.provider), (third, other)):
        view = world.claim(claim_id, key)
        assert view["status"] == "coordinated"
        payments = view["lines"][0]["payments"]
        assert len(payments) == 3  # every indemnity payer, none of which pays the bath again
        for payment in payments:
            assert payment["paid_fen"] == 0
            assert payment["reasons"] == [{"code": "DUPLICATE_SERVICE", "amount_fen": 12000}]
        assert view["member_responsibility_fen"] == 12000
        flags = [f for f in view["flags"] if f["kind"] == "duplicate_service"]
        assert {f["payer_code"] for f in flags} == {p["payer_code"] for p in payments}
        for f in flags:
            assert f["line_no"] == 1
            # the earliest claim is named first, with its line
            assert f["detail"].startswith(f"1 of 1 units repeat claim {first} line 1")
    third_flags = [
        f["detail"] for f in world.claim(third, other)["flags"] if f["kind"] == "duplicate_service"
    ]
    assert third_flags and all(f"claim {second} line 1" in detail for detail in third_flags)


def test_the_repeated_bed_days_of_an_earlier_claim_are_not_paid_again_and_the_rest_is(world: World) -> None:
    world.setup()
    other = register_other_provider(world)
    first = world.submit().json()["claim_id"]  # 30 bed-days in November, the worked example
    world.coordinate()
    overlap = world.claim_body(
        claim_number="B-BED-1",
        lines=[
            {
                "line_no": 1,
                "service_code": "INST-BED-DAY",
                "setting": "institutional",
                "method": "per_diem",
                "service_date": "2026-11-26",
                "service_end_date": "2026-11-30",
                "quantity": 5,
                "unit_price_fen": 15000,
                "billed_fen": 75000,
            }
        ],
    )
    second = world.post("/v1/claims", overlap, other).json()["claim_id"]
    world.coordinate()
    view = world.claim(second, other)
    assert sum(p["paid_fen"] for p in view["lines"][0]["payments"]) == 0
    for payment in view["lines"][0]["payments"]:
        assert payment["reasons"] == [{"code": "DUPLICATE_SERVICE", "amount_fen": 75000}]
    flags = [f["detail"] for f in view["flags"] if f["kind"] == "duplicate_service"]
    assert flags and all(f"claim {first} line 1" in detail for detail in flags)


def test_two_lines_of_one_claim_billing_the_same_service_are_refused_naming_both(world: World) -> None:
    world.setup()
    body = world.claim_body(claim_number="A-TWICE", lines=[BATH, dict(BATH, line_no=2, setting="home")])
    response = world.submit(body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/lines/0", "/lines/1"} <= pointers


def test_an_overlapping_home_visit_of_another_provider_is_not_paid_again_whatever_its_service(
    world: World,
) -> None:
    world.setup()
    other = register_other_provider(world)
    visit = {
        "caregiver_id": "CG-1",
        "check_in": "2026-11-12T09:00:00+08:00",
        "check_out": "2026-11-12T10:05:00+08:00",
        "lat": 30.2426,
        "lon": 120.1692,
        "method": "face",
    }
    home = dict(BATH, setting="home", service_date="2026-11-12", visit=visit)
    first = world.submit(bath_claim(world, "A-HOME", **home)).json()["claim_id"]
    world.coordinate()
    later = dict(
        home,
        service_code="HYG-HAIR",
        visit=dict(visit, caregiver_id="CG-2", check_in="2026-11-12T09:30:00+08:00"),
    )
    second = world.post("/v1/claims", bath_claim(world, "B-HOME", **later), other).json()["claim_id"]
    world.coordinate()
    view = world.claim(second, other)
    assert [p["paid_fen"] for p in view["lines"][0]["payments"]] == [0, 0, 0]
    assert {r["code"] for p in view["lines"][0]["payments"] for r in p["reasons"]} == {"DUPLICATE_SERVICE"}
    assert all(
        f"claim {first} line 1" in f["detail"] for f in view["flags"] if f["kind"] == "duplicate_service"
    )


def test_a_claim_whose_status_no_longer_counts_is_not_repeated(world: World) -> None:
    """A voided claim's lines no longer count (domain.md §4): the status alone takes them out."""
    world.setup()
    first = world.submit(bath_claim(world, "A-VOID")).json()["claim_id"]
    world.coordinate()
    with world.gateway.sessions.begin() as session:
        session.execute(update(ClaimRow).where(ClaimRow.claim_id == uuid.UUID(first)).values(status="voided"))
    second = world.submit(bath_claim(world, "A-AGAIN")).json()["claim_id"]
    world.coordinate()
    view = world.claim(second)
    assert sum(p["paid_fen"] for p in view["lines"][0]["payments"]) > 0
    assert not [f for f in view["flags"] if f["kind"] == "duplicate_service"]
