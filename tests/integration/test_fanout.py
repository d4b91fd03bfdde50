"""The fan-out over stored facts: limits across claims, fixed benefits once, visit evidence,
leases, and concurrent workers that never pay a limit twice."""

from __future__ import annotations

import asyncio
import copy
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from gateway.domain.identity import check_character
from gateway.orchestration.worker import Worker
from gateway.storage.tables import ClaimRow, LinePaymentRow, utcnow
from tests.integration.world import World


def community_claim(
    world: World, number: str, days: int = 30, price: int = 12000, on: str = "2026-11-10"
) -> dict[str, Any]:
    return world.claim_body(
        claim_number=number,
        lines=[
            {
                "line_no": 1,
                "service_code": "HYG-BATH",
                "setting": "community",
                "method": "per_item",
                "service_date": on,
                "quantity": days,
                "unit_price_fen": price,
                "billed_fen": days * price,
            }
        ],
    )


def paid_by(view: dict[str, Any]) -> dict[str, int]:
    return {p["product_code"]: p["paid_fen"] for line in view["lines"] for p in line["payments"]}


def test_limits_are_consumed_across_claims_in_coordination_order(world: World) -> None:
    world.setup()
    first = world.submit().json()["claim_id"]
    world.coordinate()
    second = world.submit(community_claim(world, "B-1")).json()["claim_id"]
    world.coordinate()
    view = world.claim(second)
    assert paid_by(view) == {"CITY-LTCI-2025": 90000, "HMB-LTC-2026": 30000, "ACME-LTC-CARE": 180000}
    assert view["member_responsibility_fen"] == 60000
    reasons = {
        p["product_code"]: {r["code"]: r["amount_fen"] for r in p["reasons"]}
        for p in view["lines"][0]["payments"]
    }
    assert reasons["CITY-LTCI-2025"] == {"COINSURANCE": 54000, "MONTHLY_LIMIT": 216000}
    assert reasons["HMB-LTC-2026"] == {
        "PRIOR_PAYER_PAID": 90000,
        "COINSURANCE": 135000,
        "MONTHLY_LIMIT": 105000,
    }
    assert reasons["ACME-LTC-CARE"] == {"MONTHLY_LIMIT": 180000}
    # The first claim is untouched, and the fixed benefit for November went with it only.
    assert paid_by(world.claim(first)) == {
        "CITY-LTCI-2025": 210000,
        "HMB-LTC-2026": 120000,
        "ACME-LTC-CARE": 120000,
    }
    assert [f["month"] for f in world.claim(first)["fixed_benefits"]] == ["2026-11"]
    assert view["fixed_benefits"] == []


def test_unverified_home_visit_is_not_paid_by_the_product_that_requires_evidence(world: World) -> None:
    world.setup()
    far = {
        "caregiver_id": "CG-7",
        "check_in": "2026-11-12T09:00:00+08:00",
        "check_out": "2026-11-12T10:05:00+08:00",
        "lat": 30.2525,
        "lon": 120.1692,
        "method": "gps",
    }  # about 1.1 km north of the registered address
    body = world.claim_body(
        claim_number="H-1",
        lines=[
            {
                "line_no": 1,
                "service_code": "HYG-BATH",
                "setting": "home",
                "method": "per_item",
                "service_date": "2026-11-12",
                "quantity": 1,
                "unit_price_fen": 10000,
                "billed_fen": 10000,
                "visit": far,
            }
        ],
    )
    claim_id = world.submit(body).json()["claim_id"]
    world.coordinate()
    view = world.claim(claim_id)
    payments = {p["product_code"]: p for p in view["lines"][0]["payments"]}
    assert payments["CITY-LTCI-2025"]["paid_fen"] == 0
    assert payments["CITY-LTCI-2025"]["reasons"] == [{"code": "VISIT_UNVERIFIED", "amount_fen": 10000}]
    assert payments["CITY-LTCI-2025"]["visit"]["verified"] is False
    assert "from the registered address" in payments["CITY-LTCI-2025"]["visit"]["problems"][0]
    assert payments["HMB-LTC-2026"]["paid_fen"] == 5000  # no evidence rule: half of what is left
    assert payments["ACME-LTC-CARE"]["paid_fen"] == 5000
    assert [(f["kind"], f["payer_code"]) for f in view["flags"]] == [("visit_unverified", "policy-ltci")]

    # The same caregiver "at" another member's home at the same time, on a second claim (for the
    # same member, overlapping visits would be one visit billed twice: DUPLICATE_SERVICE).
    near = dict(far, lat=30.2426, check_in="2026-11-12T09:30:00+08:00", check_out="2026-11-12T10:40:00+08:00")
    neighbour, assessment_id = another_member(world)
    body = world.claim_body(
        claim_number="H-2",
        member_id_number=neighbour,
        assessment_id=assessment_id,
        lines=[dict(body["lines"][0], visit=near)],
    )
    second = world.submit(body).json()["claim_id"]
    world.coordinate()
    line = world.claim(second)["lines"][0]
    tier1 = next(p for p in line["payments"] if p["product_code"] == "CITY-LTCI-2025")
    assert tier1["reasons"] == [{"code": "VISIT_UNVERIFIED", "amount_fen": 10000}]
    assert "at the same time" in tier1["visit"]["problems"][0] and first_claim_mentioned(tier1, claim_id)


def another_member(world: World) -> tuple[str, str]:
    """A second member next door, covered by tier 1 and assessed: (ID number, assessment id)."""
    first17 = "11010519500101001"
    id_number = first17 + check_character(first17)
    enrollment = {"id_number": id_number, "product_code": "CITY-LTCI-2025", "start_date": "2020-01-01"}
    response = world.post("/v1/payers/policy-ltci/enrollments", {"enrollments": [enrollment]}, world.bureau)
    assert response.status_code == 200, response.text
    assessment = copy.deepcopy(world.scenario["assessment"])
    assessment["member"] = dict(assessment["member"], id_number=id_number, name="李桂兰")
    response = world.post("/v1/assessments", assessment, world.agency)
    assert response.status_code == 201, response.text
    return id_number, response.json()["assessment_id"]


def first_claim_mentioned(payment: dict[str, Any], claim_id: str) -> bool:
    return any(claim_id in problem for problem in payment["visit"]["problems"])


def test_verified_home_visit_is_paid(world: World) -> None:
    world.setup()
    visit = {
        "caregiver_id": "CG-8",
        "check_in": "2026-11-12T09:00:00+08:00",
        "check_out": "2026-11-12T10:05:00+08:00",
        "lat": 30.2427,
        "lon": 120.1693,
        "method": "face",
    }
    body = world.claim_body(
        claim_number="H-3",
        lines=[
            {
                "line_no": 1,
                "service_code": "HYG-BATH",
                "setting": "home",
                "method": "per_item",
                "service_date": "2026-11-12",
                "quantity": 1,
                "unit_price_fen": 10000,
                "billed_fen": 10000,
                "visit": visit,
            }
        ],
    )
    claim_id = world.submit(body).json()["claim_id"]
    world.coordinate()
    view = world.claim(claim_id)
    assert paid_by(view) == {"CITY-LTCI-2025": 9000, "HMB-LTC-2026": 500, "ACME-LTC-CARE": 500}
    assert view["flags"] == []


def test_a_claim_leased_by_a_dead_worker_is_taken_over(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    dead = Worker(world.gateway.sessions, world.gateway.catalogue, worker_id="dead")
    assert len(dead.lease_claims()) == 1  # leased, then the worker "dies"
    alive = Worker(world.gateway.sessions, world.gateway.catalogue, worker_id="alive")
    assert asyncio.run(alive.run_once()) == 0  # the lease still holds
    with world.gateway.sessions.begin() as session:  # the lease runs out: the claim is due from then
        ended = utcnow() - timedelta(seconds=1)
        session.execute(update(ClaimRow).values(lease_expires_at=ended, next_attempt_at=ended))
    assert asyncio.run(alive.run_once()) == 1
    assert world.claim(claim_id)["status"] == "coordinated"


def test_concurrent_workers_never_pay_a_limit_twice(world: World) -> None:
    """Twelve claims of one member, four workers at once: the monthly limits hold exactly."""
    world.setup()
    for n in range(12):
        # on twelve dates: the same bath on one date would repeat the first claim (DUPLICATE_SERVICE)
        claim = community_claim(world, f"C-{n}", days=10, on=f"2026-11-{n + 1:02d}")
        assert world.submit(claim).status_code == 202
    workers = [Worker(world.gateway.sessions, world.gateway.catalogue, batch=2) for _ in range(4)]
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            worker.drain()
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    with world.gateway.sessions.begin() as session:
        statuses = set(session.scalars(select(ClaimRow.status)))
        totals = dict(
            session.execute(
                select(LinePaymentRow.product_code, func.sum(LinePaymentRow.paid_fen))
                .where(LinePaymentRow.current.is_(True))
                .group_by(LinePaymentRow.product_code)
            ).all()
        )
    assert statuses == {"coordinated"}
    # 12 × 120,000 billed: every product reaches its monthly limit exactly, never beyond.
    assert totals == {"CITY-LTCI-2025": 300000, "HMB-LTC-2026": 150000, "ACME-LTC-CARE": 300000}


def test_a_claim_stuck_at_its_payer_holds_up_no_other(world: World) -> None:
    """Workers lease more claims as slots free up: while one claim waits on its payer, the
    others are coordinated around it (a leased batch used to wait for its slowest claim)."""
    world.setup()
    for n in range(3):
        assert world.submit(community_claim(world, f"S-{n}", days=1)).status_code == 202
    worker = Worker(world.gateway.sessions, world.gateway.catalogue, batch=2, concurrency=2)
    advance, step = worker.advance, worker.calls.step
    coordinated: list[Any] = []
    stuck: list[Any] = []

    async def counted(claim_id: Any) -> str:
        status = await advance(claim_id)
        coordinated.append(claim_id)
        return status

    async def slow(call: Any) -> Any:
        if not stuck:
            stuck.append(call.claim_id)
        if call.claim_id == stuck[0]:
            for _ in range(3000):  # a liveness guard, not a timing check: fail instead of hanging
                if len(coordinated) == 2:
                    break
                await asyncio.sleep(0.01)
            assert len(coordinated) == 2, "the other claims waited for the stuck one"
        return await step(call)

    worker.advance = counted  # type: ignore[method-assign]
    worker.calls.step = slow  # type: ignore[method-assign]
    worker.drain()
    assert coordinated[-1] == stuck[0]
    with world.gateway.sessions.begin() as session:
        assert set(session.scalars(select(ClaimRow.status))) == {"coordinated"}
