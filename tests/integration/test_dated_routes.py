"""Dated tier-1 routes (issue 22 §1), on SQLite and PostgreSQL through the API: a claim's share
goes to the administrator in effect on the first day of its service period; a change is a new
version and the earlier ones stay; a version that would re-route a claim already routed is
refused naming the field."""

from __future__ import annotations

from typing import Any

from gateway.reference.registry import load_payer
from tests.integration.test_party_boundaries import tier_one
from tests.integration.world import World, auth

ROUTES = "/v1/payers/policy-ltci/routes"


def _put(world: World, body: dict[str, Any]) -> Any:
    return world.client.put(ROUTES, json=body, headers=auth(world.bureau))


def _half_month(world: World) -> dict[str, Any]:
    """A second claim of the member, for the second half of November."""
    line = {
        **world.scenario["claim"]["lines"][0],
        "service_date": "2026-11-15",
        "service_end_date": "2026-11-30",
        "quantity": 16,
        "billed_fen": 16 * 15000,
    }
    return world.claim_body(
        claim_number="P3301020001-202611-0002",
        period={"start": "2026-11-15", "end": "2026-11-30"},
        lines=[line],
    )


def test_a_claim_is_routed_by_the_version_in_effect_on_its_first_day_and_back_dating_is_refused(
    world: World,
) -> None:
    world.load_products()
    with world.gateway.sessions.begin() as session:
        for code in ("ltc-admin-east", "ltc-admin-west"):
            load_payer(session, {"payer_code": code})
    first = [{"district": "330102", "administrator_code": "ltc-admin-east"}]
    assert _put(world, {"routes": first}).status_code == 200  # a first table: from the start
    moved = [{"district": "330102", "administrator_code": "ltc-admin-west"}]
    assert _put(world, {"routes": moved, "effective_from": "2026-11-15"}).status_code == 200
    world.scenario["assessment"]["member"]["address"]["district"] = "330102"
    world.setup()
    november = world.submit().json()["claim_id"]
    second_half = world.submit(_half_month(world)).json()["claim_id"]
    assert tier_one(world, november)["administrator_code"] == "ltc-admin-east"
    assert tier_one(world, second_half)["administrator_code"] == "ltc-admin-west"

    # the history: both versions, with their dates (nothing overwritten)
    listed = world.get(ROUTES, world.bureau).json()
    assert [(v["effective_from"], v["until"], v["administrator_code"]) for v in listed["versions"]] == [
        (None, "2026-11-15", "ltc-admin-east"),
        ("2026-11-15", None, "ltc-admin-west"),
    ]
    assert listed["routes"] == moved and {v["state"] for v in listed["versions"]} == {"past", "current"}

    # back-dating over a routed claim is refused, naming the field and nothing is written
    for day, table in (("2026-11-01", moved), ("2026-11-15", first)):  # over either claim
        refused = _put(world, {"routes": table, "effective_from": day})
        assert refused.status_code == 409, refused.text
        assert refused.json()["errors"][0]["pointer"] == "/effective_from"
        assert "P3301020001-202611-000" in refused.text
    assert world.get(ROUTES, world.bureau).json()["versions"] == listed["versions"]
    # after the latest routed claim's first day, or in a district with no claim, it is a version
    later = [*first, {"district": "330106", "administrator_code": "ltc-admin-west"}]
    assert _put(world, {"routes": later, "effective_from": "2026-11-16"}).status_code == 200
    versions = world.get(ROUTES, world.bureau).json()["versions"]
    assert [(v["district"], v["effective_from"], v["state"]) for v in versions] == [
        ("330102", None, "past"),
        ("330102", "2026-11-15", "past"),
        ("330102", "2026-11-16", "current"),
        ("330106", "2026-11-16", "current"),
    ]
    # the routed claims keep their administrators
    assert tier_one(world, second_half)["administrator_code"] == "ltc-admin-west"
    assert _put(world, {"routes": first, "effective_from": "2026-02-30"}).status_code == 422
