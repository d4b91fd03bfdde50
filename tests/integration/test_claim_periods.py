"""Bounded claims (issue 18, item 4): a claim's period lies within one calendar month and does not
end in the future (Beijing date); fixed benefits are paid only for months that have ended; a
stored claim whose period is out of bounds costs its fan-out one bounded move."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.domain.beijing_time import beijing_date
from gateway.storage.tables import ClaimRow, FixedBenefitRow, FlagRow
from tests.integration.world import World


def beijing_today() -> date:
    return beijing_date(datetime.now(UTC))


def pointers(response: Any) -> list[str]:
    return [e["pointer"] for e in response.json().get("errors", [])]


def bed_days(world: World, number: str, first: date, last: date) -> dict[str, Any]:
    days = (last - first).days + 1
    return world.claim_body(
        claim_number=number,
        period={"start": first.isoformat(), "end": last.isoformat()},
        lines=[
            {
                "line_no": 1,
                "service_code": "INST-BED-DAY",
                "setting": "institutional",
                "method": "per_diem",
                "service_date": first.isoformat(),
                "service_end_date": last.isoformat(),
                "quantity": days,
                "unit_price_fen": 15000,
                "billed_fen": days * 15000,
            }
        ],
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "9999-12-31"), ("2026-10-01", "2026-11-30"), ("2025-11-30", "2026-11-01")],
)
def test_a_claim_period_longer_than_one_calendar_month_is_refused_naming_period_end(
    world: World, start: str, end: str
) -> None:
    world.setup()
    body = world.claim_body(claim_number=f"LONG-{start}", period={"start": start, "end": end})
    response = world.submit(body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "/period/end" in pointers(response)
    with world.gateway.sessions.begin() as session:
        assert session.scalars(select(ClaimRow)).all() == []


def test_a_claim_period_that_ends_after_today_beijing_date_is_refused(world: World) -> None:
    world.setup()
    today = beijing_today()
    tomorrow = today + timedelta(days=1)
    body = bed_days(world, "FUTURE-1", tomorrow.replace(day=1), tomorrow)
    response = world.submit(body)
    assert response.status_code == 422, response.text
    errors = {e["pointer"]: e["detail"] for e in response.json()["errors"]}
    assert today.isoformat() in errors["/period/end"]


def test_a_claim_of_this_month_up_to_today_is_accepted(world: World) -> None:
    world.setup()
    today = beijing_today()
    response = world.submit(bed_days(world, "NOW-1", today.replace(day=1), today))
    assert response.status_code == 202, response.text


def test_fixed_benefits_are_paid_only_for_months_that_have_ended(world: World) -> None:
    """The month a claim is accepted in has not ended: no benefit for it yet (not even a zero);
    the claim of an ended month (November) carries it, as in the worked example."""
    world.setup()
    today = beijing_today()
    running = world.submit(bed_days(world, "NOW-1", today.replace(day=1), today)).json()["claim_id"]
    ended = world.submit().json()["claim_id"]  # November 2026, ended
    world.coordinate()
    running_view, ended_view = world.claim(running), world.claim(ended)
    assert running_view["status"] == "coordinated"
    assert running_view["fixed_benefits"] == []
    assert [(f["month"], f["amount_fen"]) for f in ended_view["fixed_benefits"]] == [("2026-11", 200000)]


def test_a_stored_claim_with_an_unbounded_period_is_dead_lettered_in_one_move(world: World) -> None:
    """A claim stored before periods were bounded (here 27 years) is not coordinated month by
    month: its first step is dead-lettered and flagged, and no fixed benefit is recorded."""
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    with world.gateway.sessions.begin() as session:
        session.execute(update(ClaimRow).values(period_start=date(2000, 1, 1)))
    world.coordinate()
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    assert view["payers"][0]["status"] == "dead"
    with world.gateway.sessions.begin() as session:
        assert session.scalars(select(FixedBenefitRow)).all() == []
        [flag] = session.scalars(select(FlagRow).where(FlagRow.kind == "step_dead")).all()
        assert "out of bounds" in flag.detail
