"""The fan-out through real payers on loopback: two REST sandboxes and a SOAP one (spyne), called
by the bundled adapters (httpx, zeep). No HTTP or SOAP is mocked."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from gateway.api.server import BackgroundServer
from gateway.orchestration.moves import next_call
from gateway.orchestration.steps import RetryPolicy
from gateway.orchestration.transaction import Lessee, Transaction
from gateway.orchestration.worker import Worker
from gateway.reference.registry import load_payer
from gateway.storage.tables import AdjustmentRow, ClaimRow, LinePaymentRow, OutboxRow, PayerStepRow, utcnow
from ltc_gateway.app import create_app
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.world import World

FAST = RetryPolicy(attempts_per_lease=3, initial_seconds=0.01, max_seconds=0.05, lease_retry_seconds=0)


def drain(world: World, policy: RetryPolicy = FAST) -> int:
    return Worker(world.gateway.sessions, world.gateway.catalogue, policy=policy).drain()


def paid(view: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in view["lines"]:
        for p in line["payments"]:
            totals[p["product_code"]] = totals.get(p["product_code"], 0) + p["paid_fen"]
    return totals


def one_body_per_key(sandboxes: SandboxPayers) -> None:
    """No payer ever saw two different submissions under one idempotency key."""
    for payer in sandboxes.payers.values():
        assert payer.conflicts == []
        for key, digests in payer.submissions.items():
            assert len(set(digests)) == 1, (payer.payer_code, key)


WORKED = {"CITY-LTCI-2025": 210000, "HMB-LTC-2026": 120000, "ACME-LTC-CARE": 120000}


def test_worked_example_through_rest_rest_and_soap(world: World, sandboxes: SandboxPayers) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated"
    assert paid(view) == WORKED
    assert view["member_responsibility_fen"] == 0
    assert [(f["product_code"], f["amount_fen"]) for f in view["fixed_benefits"]] == [
        ("ACME-LTC-ANNUITY", 200000)
    ]
    steps = {s["product_code"]: s for s in view["payers"]}
    # the provider's (and member's) district 330102 belongs to the eastern administrator
    assert steps["CITY-LTCI-2025"]["administrator_code"] == "ltc-admin-east"
    assert all(s["status"] == "decided" and s["attempts"] == 1 for s in view["payers"])
    # each payer decided its own share: the 惠民保 and commercial sandboxes adjudicated themselves
    assert len(sandboxes.payers["huiminbao"].decisions) == 1
    assert len(sandboxes.payers["acme-life"].decisions) == 2
    assert sandboxes.payers["ltc-admin-west"].submissions == {}
    one_body_per_key(sandboxes)
    # the one assessment reached every payer the claim went to, through the outbox
    for code in ("ltc-admin-east", "huiminbao", "acme-life"):
        assert len(sandboxes.payers[code].assessments) == 1, code
    with world.gateway.sessions.begin() as session:
        assert set(session.scalars(select(OutboxRow.status))) == {"sent"}


def test_a_member_in_another_district_goes_to_that_districts_administrator(
    world: World, sandboxes: SandboxPayers
) -> None:
    world.scenario["assessment"]["member"]["address"]["district"] = "330106"
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert paid(view) == WORKED
    assert {s["product_code"]: s.get("administrator_code") for s in view["payers"]}["CITY-LTCI-2025"] == (
        "ltc-admin-west"
    )
    assert sandboxes.payers["ltc-admin-east"].submissions == {}
    assert len(sandboxes.payers["ltc-admin-west"].submissions) == 1


def test_a_district_without_an_administrator_fails_the_claim_visibly(
    world: World, sandboxes: SandboxPayers
) -> None:
    world.scenario["assessment"]["member"]["address"]["district"] = "110101"
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "failed"  # never skips tier 1 silently
    tier1 = view["payers"][0]
    assert tier1["status"] == "dead" and "110101" in tier1["error"]
    assert paid(view) == {}


def test_a_payer_failing_n_times_then_recovering_is_paid_once(world: World, sandboxes: SandboxPayers) -> None:
    hmb = sandboxes.payers["huiminbao"]
    hmb.faults.fail_first = 5  # more than one lease's in-place retries (3): resumed on a later lease
    hmb.faults.malformed_first = 2  # then two garbled answers
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated"
    assert paid(view) == WORKED
    step = next(s for s in view["payers"] if s["product_code"] == "HMB-LTC-2026")
    assert step["attempts"] == 8
    [digests] = hmb.submissions.values()
    assert len(digests) == 8 and len(set(digests)) == 1  # eight calls, one body, one key
    assert len(hmb.decisions) == 1
    assert [e["paid_fen"] for e in hmb.settled if e["claim_id"] == claim_id] == [120000]
    one_body_per_key(sandboxes)


def test_a_permanent_fault_dead_letters_the_step_and_a_rerun_recovers_it(
    world: World, sandboxes: SandboxPayers
) -> None:
    good = next(d for d in sandboxes.payer_documents() if d["payer_code"] == "huiminbao")
    broken = {**good, "adapter": {**good["adapter"], "paths": {"shares": "/no-such-path"}}}
    with world.gateway.sessions.begin() as session:
        load_payer(session, broken)
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    dead = next(s for s in view["payers"] if s["product_code"] == "HMB-LTC-2026")
    assert dead["status"] == "dead" and "404" in dead["error"]
    assert [s["status"] for s in view["payers"]][2:] == ["waiting", "waiting"]  # later tiers wait
    assert any(f["kind"] == "step_dead" for f in view["flags"])
    listed = world.get("/v1/steps/failed", world.bureau).json()["steps"]
    assert [s["step_id"] for s in listed] == [dead["step_id"]]

    with world.gateway.sessions.begin() as session:
        load_payer(session, good)  # the bureau fixes the payer's configuration…
    assert world.post(f"/v1/steps/{dead['step_id']}/rerun", {}, world.provider).status_code == 403
    rerun = world.post(f"/v1/steps/{dead['step_id']}/rerun", {}, world.bureau)
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["rerun_of"] == dead["step_id"]
    assert world.post(f"/v1/steps/{dead['step_id']}/rerun", {}, world.bureau).status_code == 409
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and paid(view) == WORKED
    again = next(s for s in view["payers"] if s["product_code"] == "HMB-LTC-2026")
    assert again["rerun_of"] == dead["step_id"] and again["status"] == "decided"
    one_body_per_key(sandboxes)


def test_too_many_transient_faults_dead_letter_the_step(world: World, sandboxes: SandboxPayers) -> None:
    sandboxes.payers["acme-life"].faults.fail_first = 100
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    policy = RetryPolicy(
        attempts_per_lease=3, initial_seconds=0.01, max_seconds=0.02, lease_retry_seconds=0, max_attempts=7
    )
    drain(world, policy)
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    [step] = [s for s in view["payers"] if s["status"] == "dead"]
    assert step["payer_code"] == "acme-life" and step["attempts"] == 7
    assert "gave up after 7 attempts" in step["error"]
    assert paid(view) == {"CITY-LTCI-2025": 210000, "HMB-LTC-2026": 120000}


def test_an_overpaying_decision_is_refused_flagged_and_can_be_corrected(
    world: World, sandboxes: SandboxPayers
) -> None:
    sandboxes.payers["huiminbao"].faults.overpay_fen = 300000  # 1,500.00 more than it may pay
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    step = next(s for s in view["payers"] if s["product_code"] == "HMB-LTC-2026")
    assert step["status"] == "refused"
    assert "more than the 240000 fen still unpaid" in step["error"]
    assert [f["kind"] for f in view["flags"]] == ["decision_refused"]
    assert paid(view) == {"CITY-LTCI-2025": 210000}  # not recorded as paid
    with world.gateway.sessions.begin() as session:
        assert (
            session.scalar(select(LinePaymentRow).where(LinePaymentRow.product_code == "HMB-LTC-2026"))
            is None
        )

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
    other = world.post("/v1/payers/acme-life/decisions", correction, world.payer("huiminbao"))
    assert other.status_code == 403  # a payer decides only for itself
    as_float = {**correction, "lines": [{**correction["lines"][0], "paid_fen": 120000.0}]}
    refused = world.post("/v1/payers/huiminbao/decisions", as_float, world.payer("huiminbao"))
    assert refused.status_code == 422  # read as a payer's answer is: an amount is a whole number
    assert refused.json()["detail"] == "/: not a decision: TypeError expected an integer, got 120000.0"
    answer = world.post("/v1/payers/huiminbao/decisions", correction, world.payer("huiminbao"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "recorded"
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and paid(view) == WORKED


def test_a_pending_decision_holds_later_tiers_until_the_callback(
    world: World, sandboxes: SandboxPayers
) -> None:
    hmb = sandboxes.payers["huiminbao"]
    hmb.faults.pending, hmb.faults.callback_delay_ms = True, 300
    server = BackgroundServer(create_app(world.gateway, embedded_workers=0)).start()
    try:
        sandboxes.connect(server.url, {"huiminbao": world.payer("huiminbao")})
        world.setup()
        claim_id = world.submit().json()["claim_id"]
        drain(world)
        view = world.claim(claim_id)
        assert view["status"] == "coordinating"
        assert [s["status"] for s in view["payers"]] == ["decided", "pending", "waiting", "waiting"]
        deadline = time.monotonic() + 10
        while world.claim(claim_id)["payers"][1]["status"] != "decided":
            assert time.monotonic() < deadline, "the callback did not arrive"
            time.sleep(0.05)
        drain(world)
        view = world.claim(claim_id)
        assert view["status"] == "coordinated" and paid(view) == WORKED
    finally:
        server.stop()


def test_a_tier1_revision_adjusts_later_tiers_by_the_change(world: World, sandboxes: SandboxPayers) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    revision = {
        "claim_id": claim_id,
        "product_code": "CITY-LTCI-2025",
        "status": "decided",
        "cause": "audit: 2 bed-days not delivered",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 180000,  # down by 300.00
                "reasons": [
                    {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                    {"code": "COINSURANCE", "amount_fen": 120000},
                ],
            }
        ],
    }
    key = world.payer("ltc-admin-east")
    answer = world.post("/v1/payers/ltc-admin-east/decisions", revision, key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "revised" and answer.json()["round"] == 2
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and view["round"] == 2
    assert paid(view) == {"CITY-LTCI-2025": 180000, "HMB-LTC-2026": 135000, "ACME-LTC-CARE": 135000}
    deltas = {a["product_code"]: (a["delta_fen"], a["kind"]) for a in view["adjustments"]}
    assert deltas == {
        "CITY-LTCI-2025": (-30000, "recovery"),
        "HMB-LTC-2026": (15000, "top_up"),
        "ACME-LTC-CARE": (15000, "top_up"),
    }
    later = sum(a["delta_fen"] for a in view["adjustments"] if a["product_code"] != "CITY-LTCI-2025")
    assert later == 30000  # the later tiers take up exactly what tier 1 gave back
    assert [f["amount_fen"] for f in view["fixed_benefits"]] == [200000]  # not coordinated: unchanged
    # the notices reached the later payers through their adapters (REST and SOAP)
    hmb_notes = sandboxes.payers["huiminbao"].adjustments.values()
    acme_notes = sandboxes.payers["acme-life"].adjustments.values()
    assert [line["delta_fen"] for n in hmb_notes for line in n["lines"]] == [15000]
    assert [int(line["delta_fen"]) for n in acme_notes for line in n["lines"]] == [15000]
    assert sandboxes.payers["ltc-admin-east"].adjustments == {}
    # the same revision again changes nothing
    again = world.post("/v1/payers/ltc-admin-east/decisions", revision, key)
    assert again.json()["outcome"] == "unchanged"
    with world.gateway.sessions.begin() as session:
        assert len(session.scalars(select(AdjustmentRow)).all()) == 3
        rounds = set(session.scalars(select(PayerStepRow.round)))
    assert rounds == {1, 2}
    one_body_per_key(sandboxes)


def test_a_revision_that_overpays_is_refused_and_changes_nothing(
    world: World, sandboxes: SandboxPayers
) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    bad = {
        "claim_id": claim_id,
        "product_code": "HMB-LTC-2026",
        "status": "decided",
        "lines": [
            {
                "line_no": 1,
                "paid_fen": 250000,
                "reasons": [{"code": "PRIOR_PAYER_PAID", "amount_fen": 200000}],
            }
        ],
    }
    answer = world.post("/v1/payers/huiminbao/decisions", bad, world.payer("huiminbao"))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "more than the 240000 fen still unpaid" in answer.text
    view = world.claim(claim_id)
    assert view["round"] == 1 and paid(view) == WORKED
    assert [f["kind"] for f in view["flags"]] == ["revision_refused"]


def test_a_running_worker_sends_the_notices_it_queued_without_leasing_them(
    world: World, sandboxes: SandboxPayers
) -> None:
    """The assessment notices a claim's moves queue go out from the worker that committed them,
    at once: no lease transaction for them, nor one on every turn of the loop (the poll is long
    here), and their deliveries are recorded together when the worker stops."""
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    worker = Worker(world.gateway.sessions, world.gateway.catalogue, policy=FAST, poll_seconds=30)
    leases = 0
    lease_messages = worker._lease_messages

    def counted(limit: int | None = None) -> list[Any]:
        nonlocal leases
        leases += 1
        return lease_messages(limit)

    worker._lease_messages = counted  # type: ignore[method-assign]
    notified = ("ltc-admin-east", "huiminbao", "acme-life")

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 20
        while (await asyncio.to_thread(world.claim, claim_id))["status"] != "coordinated" or not all(
            sandboxes.payers[code].assessments for code in notified
        ):
            assert time.monotonic() < deadline, "the claim or its notices did not get through"
            await asyncio.sleep(0.05)
        stop.set()
        await running

    asyncio.run(main())
    assert leases == 1  # the first turn of the loop, and no other: the next poll is 30 s away
    for code in notified:
        assert len(sandboxes.payers[code].assessments) == 1, code
    with world.gateway.sessions.begin() as session:
        outbox = session.execute(select(OutboxRow.status, OutboxRow.attempts, OutboxRow.lease_owner)).all()
    assert sorted(outbox) == [("sent", 1, None)] * 3


def test_a_notice_handed_to_a_worker_that_died_is_sent_by_another(
    world: World, sandboxes: SandboxPayers
) -> None:
    """A notice written leased to its worker is leased like any other once that lease runs out."""
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    with world.gateway.sessions.begin() as session:
        tx = Transaction(session, lessee=Lessee("a-worker-that-dies", timedelta(0)))
        next_call(tx, uuid.UUID(claim_id), world.gateway.catalogue, timedelta(seconds=60))
    [notice] = tx.taken  # ... and dies before sending it
    assert notice.party == "ltc-admin-east" and not sandboxes.payers["ltc-admin-east"].assessments
    with world.gateway.sessions.begin() as session:  # the claim's own lease runs out too (due from then)
        session.execute(update(ClaimRow).values(lease_expires_at=None, next_attempt_at=utcnow()))
    drain(world)
    assert world.claim(claim_id)["status"] == "coordinated"
    assert len(sandboxes.payers["ltc-admin-east"].assessments) == 1
    with world.gateway.sessions.begin() as session:
        row = session.get_one(OutboxRow, notice.id)
        assert (row.status, row.attempts) == ("sent", 2)  # the call lost with the worker counts
