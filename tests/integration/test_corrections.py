"""Corrections through the API with the sandbox payers on loopback (REST, REST, SOAP): a provider
voids its claim (docs/corrections.md)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import jsonschema
from sqlalchemy import func, select

import schemas
from gateway.coordination.fixed import FixedBenefitDecision
from gateway.orchestration.recording import record_fixed_benefits
from gateway.orchestration.worker import Worker
from gateway.services.keys import Role
from gateway.storage.tables import ClaimRow, LedgerEntryRow, LinePaymentRow, PayerStepRow
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.test_payers import FAST, WORKED, drain, paid
from tests.integration.world import World, auth

NOTIFIED = ("ltc-admin-east", "huiminbao", "acme-life")


def void(
    world: World, claim_id: str, reason: str = "wrong member", key: str | None = None, **headers: str
) -> Any:
    return world.client.post(
        f"/v1/claims/{claim_id}/void",
        json={"reason": reason},
        headers={**auth(key or world.provider), **headers},
    )


def ledger_by_payer(world: World, claim_id: str) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    with world.gateway.sessions.begin() as session:
        for payer, amount in session.execute(
            select(LedgerEntryRow.payer_code, LedgerEntryRow.amount_fen).where(
                LedgerEntryRow.claim_id == uuid.UUID(claim_id)
            )
        ):
            totals[payer] += amount
    return dict(totals)


def test_a_void_recovers_every_payment_notifies_every_payer_and_gives_the_limits_back(
    world: World, sandboxes: SandboxPayers
) -> None:
    world.setup()
    first = world.submit().json()["claim_id"]
    drain(world)
    assert paid(world.claim(first)) == WORKED
    # scoped, and bad input named
    other = world.key(Role.PROVIDER, "P-OTHER")
    assert void(world, first, key=other).status_code == 404
    assert void(world, first, key=world.payer("huiminbao")).status_code == 403
    bad = void(world, first, reason="")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "/reason" in bad.text
    answer = void(world, first, **{"Idempotency-Key": "void-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "voided" and body["reason"] == "wrong member"
    recovered = {(r["product_code"], r["line_no"]): r["delta_fen"] for r in body["recoveries"]}
    assert recovered == {(product, 1): -amount for product, amount in WORKED.items()}
    jsonschema.validate(body, schemas.load("responses/claim-void"))  # as the contract declares
    replay = void(world, first, **{"Idempotency-Key": "void-1"})
    assert replay.json() == body and replay.headers.get("Idempotency-Replayed") == "true"
    assert void(world, first).json()["recoveries"] == body["recoveries"]  # again: the same, no more
    drain(world)
    view = world.claim(first)
    assert view["status"] == "voided" and view["void"]["reason"] == "wrong member"
    jsonschema.validate(view, schemas.load("responses/claim"))
    assert {p["status"] for p in view["payers"]} == {"voided"}
    assert view["fixed_benefits"] == [] and all(line["payments"] == [] for line in view["lines"])
    # every payer heard through its adapter (REST, REST, SOAP; the annuity too), once
    for code in NOTIFIED:
        assert sandboxes.payers[code].voids, code
    assert len(sandboxes.payers["acme-life"].voids) == 2  # its care product and its annuity
    # the ledger nets to nothing for every payer: each payment met by its recovery
    assert set(ledger_by_payer(world, first).values()) == {0}
    # a payer's late word on a voided claim is refused
    revision = {"claim_id": first, "product_code": "HMB-LTC-2026", "status": "decided", "lines": []}
    assert world.post("/v1/payers/huiminbao/decisions", revision, world.payer("huiminbao")).status_code == 409
    # limits given back (and its lines no longer repeat): the same month billed again is paid in full
    second = world.submit(world.claim_body(claim_number="P3301020001-202611-0002")).json()["claim_id"]
    drain(world)
    again = world.claim(second)
    assert again["status"] == "coordinated" and paid(again) == WORKED
    assert [f["amount_fen"] for f in again["fixed_benefits"]] == [200000]


def test_a_void_of_a_claim_in_flight_stops_its_remaining_steps(
    world: World, sandboxes: SandboxPayers
) -> None:
    """The worker is running and waiting on tier 2 when the provider voids the claim: the answer
    in flight is not recorded, tier 3 is never asked, and the claim is left voided and unleased."""
    world.setup()
    sandboxes.payers["huiminbao"].faults.latency_ms = 1500
    claim_id = world.submit().json()["claim_id"]
    worker = Worker(world.gateway.sessions, world.gateway.catalogue, policy=FAST, poll_seconds=0.1)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    running = threading.Thread(target=lambda: loop.run_until_complete(worker.run(stop)))
    running.start()
    try:
        deadline = time.monotonic() + 20
        while not sandboxes.payers["huiminbao"].submissions:  # tier 2's share is on its way
            assert time.monotonic() < deadline, "tier 2 was never asked"
            time.sleep(0.02)
        assert void(world, claim_id).status_code == 200
        while not all(sandboxes.payers[code].voids for code in ("ltc-admin-east", "huiminbao")):
            assert time.monotonic() < deadline, "the void notices did not get through"
            time.sleep(0.05)
        time.sleep(1.6)  # tier 2's answer comes back to a voided claim
    finally:
        loop.call_soon_threadsafe(stop.set)
        running.join(30)
    view = world.claim(claim_id)
    assert view["status"] == "voided" and {p["status"] for p in view["payers"]} == {"voided"}
    assert sandboxes.payers["acme-life"].submissions == {}  # tier 3 never asked
    assert sandboxes.payers["acme-life"].voids == {}  # nor told
    recovered = {a["product_code"]: a["delta_fen"] for a in view["adjustments"]}
    assert recovered == {"CITY-LTCI-2025": -210000}  # tier 2 had not been recorded as paying
    with world.gateway.sessions.begin() as session:
        steps = session.scalars(select(PayerStepRow).where(PayerStepRow.round == 2)).all()
        assert {s.status for s in steps} == {"voided"}
        claim = session.get_one(ClaimRow, uuid.UUID(claim_id))
        assert claim.lease_owner is None and claim.round == 2
    assert set(ledger_by_payer(world, claim_id).values()) <= {0}


def half(world: World, number: str, start: str, end: str, days: int) -> dict[str, Any]:
    line = {**world.claim_body()["lines"][0], "service_date": start, "service_end_date": end}
    line.update(quantity=days, billed_fen=days * 15000)
    return world.claim_body(claim_number=number, lines=[line])


def test_a_void_moves_a_fixed_benefit_to_another_live_claim_and_its_notice_says_to_which(
    world: World, sandboxes: SandboxPayers
) -> None:
    """Four claims of November; the first holds the month's annuity. Its void moves the month to
    the second, and the void notice says so: the SOAP payer keeps it, so the replacement of the
    third claim is not granted the month again (before the notice said it, the payer granted it
    and the gateway refused the decision: the claim failed). A payer that ignores the field grants
    it again through the fourth: that grant is set aside (not paid, flagged) and the claim completes."""
    world.setup()
    number = "P3301020001-202611-000{}".format
    first = world.submit(half(world, number(1), "2026-11-01", "2026-11-08", 8)).json()["claim_id"]
    drain(world)  # the first claim is coordinated first, so the month's annuity is granted through it
    spans = (
        ("2026-11-09", "2026-11-15", 7),
        ("2026-11-16", "2026-11-22", 7),
        ("2026-11-23", "2026-11-30", 8),
    )
    second, third, fourth = (
        world.submit(half(world, number(n), *span)).json()["claim_id"] for n, span in enumerate(spans, 2)
    )
    drain(world)
    assert [f["amount_fen"] for f in world.claim(first)["fixed_benefits"]] == [200000]
    assert world.claim(second)["fixed_benefits"] == []  # once a month: granted through the first
    assert void(world, first).status_code == 200
    drain(world)
    assert world.claim(first)["fixed_benefits"] == []
    assert [f["amount_fen"] for f in world.claim(second)["fixed_benefits"]] == [200000]
    assert annuity_ledger(world) == {
        first: 0,
        second: 200000,
    }  # reversed on the voided claim, expected on the live one
    # the annuity's payer is told where the month went, not to recover it
    notices = {n["product_code"]: n for n in sandboxes.payers["acme-life"].voids.values()}
    moved = {
        "month": "2026-11",
        "amount_fen": 200000,
        "payer_code": "acme-life",
        "product_code": "ACME-LTC-ANNUITY",
        "to_claim_id": second,
        "to_claim_number": number(2),
    }
    assert notices["ACME-LTC-ANNUITY"]["fixed_moved"] == [moved]
    assert not notices["ACME-LTC-ANNUITY"].get("fixed") and not notices["ACME-LTC-CARE"].get("fixed_moved")
    # a grant of that month for the live claim (its step was with the payer when the void moved
    # the month to it) is the same grant: recorded on the moved row, not a second one (the fault
    # simulation found a unique-key error retried for ever here)
    with world.gateway.sessions.begin() as session:
        claim = session.get_one(ClaimRow, uuid.UUID(second))
        step = session.scalars(
            select(PayerStepRow).where(
                PayerStepRow.claim_id == claim.claim_id, PayerStepRow.product_code == "ACME-LTC-ANNUITY"
            )
        ).first()
        assert step is not None
        grant = FixedBenefitDecision("acme-life", "ACME-LTC-ANNUITY", "2026-11", 200000, "member")
        record_fixed_benefits(session, claim, step, [grant])
    held = world.claim(second)["fixed_benefits"]
    assert [(f["month"], f["amount_fen"]) for f in held] == [("2026-11", 200000)]
    assert annuity_ledger(world)[second] == 200000  # expected once, not twice

    # the third claim replaced: the payer knows the second holds the month, and grants it nothing
    assert replace(world, third, number(3), "2026-11-16", "2026-11-21", 6).status_code == 202
    drain(world)
    view = world.claim(third)
    assert view["status"] == "coordinated", [p.get("error") for p in view["payers"]]
    assert view["fixed_benefits"] == [] and view["flags"] == []

    # a payer that ignores fixed_moved: the second's void moves the month to the third, and the
    # payer grants it again through the fourth's replacement: set aside, flagged, the claim completes
    sandboxes.payers["acme-life"].faults.ignore_moved = True
    assert void(world, second).status_code == 200
    assert replace(world, fourth, number(4), "2026-11-23", "2026-11-29", 7).status_code == 202
    drain(world)
    view = world.claim(fourth)
    assert view["status"] == "coordinated", [p.get("error") for p in view["payers"]]
    assert view["fixed_benefits"] == []
    assert [(f["kind"], f["payer_code"]) for f in view["flags"]] == [("fixed_benefit_duplicate", "acme-life")]
    assert f"already held by claim {number(3)}: not paid" in view["flags"][0]["detail"]
    assert [f["amount_fen"] for f in world.claim(third)["fixed_benefits"]] == [200000]
    ledger = annuity_ledger(world)
    assert ledger[third] == 200000 and sum(ledger.values()) == 200000  # the month is paid once


def annuity_ledger(world: World) -> dict[str, int]:
    """What the ledger expects of the annuity, per claim."""
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            select(LedgerEntryRow.claim_id, func.sum(LedgerEntryRow.amount_fen))
            .where(LedgerEntryRow.product_code == "ACME-LTC-ANNUITY")
            .group_by(LedgerEntryRow.claim_id)
        ).all()
    return {str(claim_id): int(total) for claim_id, total in rows}


def replace(world: World, claim_id: str, number: str, start: str, end: str, days: int) -> Any:
    return world.post(f"/v1/claims/{claim_id}/replace", half(world, number, start, end, days), world.provider)


def test_a_payer_returns_a_claim_later_tiers_wait_and_the_provider_sees_why(
    world: World, sandboxes: SandboxPayers
) -> None:
    """退回: the REST 惠民保 sandbox returns its share unadjudicated; the claim is never skipped on to
    tier 3. Then, by callback, a payer returns a share it had left pending."""
    world.setup()
    sandboxes.payers["huiminbao"].faults.return_reason = "the admission record is missing"
    first = world.submit().json()["claim_id"]
    drain(world)
    drain(world)  # nothing more to do: a returned claim is not leased
    view = world.claim(first)
    assert view["status"] == "returned"
    statuses = {p["product_code"]: p["status"] for p in view["payers"]}
    assert statuses["CITY-LTCI-2025"] == "decided" and statuses["HMB-LTC-2026"] == "returned"
    assert {statuses["ACME-LTC-CARE"], statuses["ACME-LTC-ANNUITY"]} == {"waiting"}
    [hmb] = [p for p in view["payers"] if p["product_code"] == "HMB-LTC-2026"]
    assert hmb["return_reason"] == "the admission record is missing"
    jsonschema.validate(view, schemas.load("responses/claim"))
    assert ("returned", "the admission record is missing") in {
        (f["kind"], f["detail"]) for f in view["flags"]
    }
    assert sandboxes.payers["acme-life"].submissions == {}  # tier 3 waits
    assert paid(view) == {"CITY-LTCI-2025": 210000}  # nothing recorded as paid by the payer that returned
    # the provider puts it right and resubmits it (replace): coordinated on from a new round
    sandboxes.payers["huiminbao"].faults.return_reason = None
    assert world.post(f"/v1/claims/{first}/replace", world.claim_body(), world.provider).status_code == 202
    drain(world)
    resubmitted = world.claim(first)
    assert resubmitted["status"] == "coordinated" and paid(resubmitted) == WORKED
    # by callback: a share left pending is returned; again changes nothing; a reason is required
    sandboxes.payers["huiminbao"].faults.pending = True
    assert void(world, first, reason="withdrawn to test a returning callback").status_code == 200
    body = world.claim_body(claim_number="P3301020001-202611-0002")
    later = world.submit(body).json()["claim_id"]
    drain(world)
    assert world.claim(later)["status"] == "coordinating"  # tier 2 pending
    returning = {"claim_id": later, "product_code": "HMB-LTC-2026", "status": "returned"}
    key = world.payer("huiminbao")
    missing = world.post("/v1/payers/huiminbao/decisions", returning, key)
    assert missing.status_code == 422 and "return_reason" in missing.text
    returning["return_reason"] = "the member's signature is missing"
    answer = world.post("/v1/payers/huiminbao/decisions", returning, key)
    assert answer.status_code == 200 and answer.json()["outcome"] == "returned", answer.text
    assert answer.json()["claim_status"] == "returned"
    assert world.post("/v1/payers/huiminbao/decisions", returning, key).json()["outcome"] == "unchanged"
    assert world.claim(later)["status"] == "returned"


def test_a_replacement_is_coordinated_again_and_only_the_differences_become_adjustments(
    world: World, sandboxes: SandboxPayers
) -> None:
    """同月过误更正: 28 bed-days instead of 30. Each payer's change is an adjustment per line, the
    ledger holds the corrected amounts, the old version stays readable, and the member's limits
    are held by the new version alone."""
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    corrected = world.claim_body()
    corrected["lines"][0].update(service_end_date="2026-11-28", quantity=28, billed_fen=420000)
    path = f"/v1/claims/{claim_id}/replace"
    assert world.post(path, corrected, world.key(Role.PROVIDER, "P-OTHER")).status_code == 404
    bad = world.post(path, {**corrected, "claim_number": "another"}, world.provider)
    assert bad.status_code == 422 and "/claim_number" in bad.text
    answer = world.post(path, corrected, world.provider)
    assert answer.status_code == 202, answer.text
    assert world.post(path, corrected, world.provider).status_code == 202  # the same version: no new round
    drain(world)
    view = world.claim(claim_id)
    jsonschema.validate(view, schemas.load("responses/claim"))
    assert view["status"] == "coordinated" and view["round"] == 2 and view["billed_fen"] == 420000
    assert paid(view) == {"CITY-LTCI-2025": 196000, "HMB-LTC-2026": 112000, "ACME-LTC-CARE": 112000}
    deltas = {a["product_code"]: (a["delta_fen"], a["kind"]) for a in view["adjustments"]}
    assert deltas == {
        "CITY-LTCI-2025": (-14000, "recovery"),
        "HMB-LTC-2026": (-8000, "recovery"),
        "ACME-LTC-CARE": (-8000, "recovery"),
    }
    assert [f["amount_fen"] for f in view["fixed_benefits"]] == [200000]
    [old] = view["versions"]
    assert old["billed_fen"] == 450000 and old["lines"][0]["quantity"] == 30
    assert ledger_by_payer(world, claim_id) == {
        "ltc-admin-east": 196000,
        "huiminbao": 112000,
        "acme-life": 112000 + 200000,
    }
    with world.gateway.sessions.begin() as session:  # what counts against the member's limits
        counted = session.scalars(
            select(func.sum(LinePaymentRow.paid_fen)).where(
                LinePaymentRow.claim_id == uuid.UUID(claim_id), LinePaymentRow.current.is_(True)
            )
        ).one()
    assert counted == 196000 + 112000 + 112000
    # the later payers were told by adjustment notices
    assert [n["lines"][0]["delta_fen"] for n in sandboxes.payers["huiminbao"].adjustments.values()] == [-8000]
