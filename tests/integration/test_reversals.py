"""Reversals (冲正) actually sent: the 惠民保 tier speaks the 医保信息平台 profile here (the hsa
sandbox over loopback, signed and encrypted), so a tier-1 revision that asks it again supersedes a
decided hsa submission, which the gateway reverses through the outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.domain.products import Product
from gateway.orchestration.steps import RetryPolicy
from gateway.orchestration.worker import Worker
from gateway.reference.registry import onboard
from gateway.storage.tables import FlagRow, OutboxRow
from ltc_sandbox.payer_set import REST_PAYER, SandboxPayers
from tests.integration.test_payers import FAST, drain, paid
from tests.integration.world import World, example_products

PRODUCTS = [Product.model_validate(p) for p in example_products()]
HMB = "HMB-LTC-2026"
REVISION = {
    "product_code": "CITY-LTCI-2025",
    "status": "decided",
    "cause": "audit: 2 bed-days not delivered",
    "lines": [
        {
            "line_no": 1,
            "paid_fen": 180000,
            "reasons": [
                {"code": "OVER_UNIT_LIMIT", "amount_fen": 150000},
                {"code": "COINSURANCE", "amount_fen": 120000},
            ],
        }
    ],
}


@pytest.fixture
def hsa_tier2(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxPayers]:
    payers = SandboxPayers(PRODUCTS, hsa=True, hsa_payer=REST_PAYER).start()
    for variable, value in payers.hsa_environment().items():
        monkeypatch.setenv(variable, value)
    with world.gateway.sessions.begin() as session:
        onboard(session, payers.payer_documents(), example_products())
    yield payers
    payers.stop()


def coordinated(world: World) -> tuple[str, dict[str, Any]]:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated", view
    return claim_id, next(s for s in view["payers"] if s["product_code"] == HMB)


def revise(world: World, claim_id: str) -> None:
    answer = world.post(
        "/v1/payers/ltc-admin-east/decisions",
        {**REVISION, "claim_id": claim_id},
        world.payer("ltc-admin-east"),
    )
    assert answer.status_code == 200, answer.text


def reversals_sent(payers: SandboxPayers) -> list[dict[str, Any]]:
    platform = payers.hsa_platform
    assert platform is not None
    return [
        json.loads(platform.sm4.decrypt(t["input"]))["data"]
        for t in platform.transmissions
        if t["infno"] == "2601"
    ]


def test_a_revision_reverses_the_original_msgid_once_even_when_retried_or_the_worker_dies(
    world: World, hsa_tier2: SandboxPayers
) -> None:
    claim_id, before = coordinated(world)
    infno, msgid, _ = before["payer_reference"].split(":", 2)
    [original_key] = hsa_tier2.payers[REST_PAYER].decisions
    revise(world, claim_id)
    revise(world, claim_id)  # the payer's callback again: unchanged, nothing more queued
    # a worker leases the reversal, sends it and dies before recording the delivery
    dying = Worker(world.gateway.sessions, world.gateway.catalogue, policy=FAST, worker_id="dies")
    [reversal] = [m for m in dying._lease_messages() if m.kind == "reversal"]
    asyncio.run(dying._send(reversal))
    with world.gateway.sessions.begin() as session:  # its lease runs out
        session.execute(update(OutboxRow).values(lease_expires_at=None))
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "coordinated" and view["round"] == 2
    assert paid(view) == {"CITY-LTCI-2025": 180000, HMB: 135000, "ACME-LTC-CARE": 135000}
    # sent twice (same key), reversed once: the original transmission, by msgid and infno
    sent = reversals_sent(hsa_tier2)
    assert len(sent) == 2 and sent[0] == sent[1]
    assert (sent[0]["omsgid"], sent[0]["oinfno"]) == (msgid, infno)
    assert sent[0]["idempotency_key"] == f"reversal:{original_key}"
    hmb = hsa_tier2.payers[REST_PAYER]
    assert hmb.reversals == {original_key: REVISION["cause"]}
    assert hmb.adjustments == {}  # it learns by the reversal and the new submission
    assert len(hmb.decisions) == 2  # the original and the one asked again
    assert hsa_tier2.payers["acme-life"].adjustments  # the others keep their adjustment notices
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            select(OutboxRow.status, OutboxRow.attempts).where(OutboxRow.kind == "reversal")
        ).all()
    assert rows == [("sent", 2)]  # the call lost with the worker counts
    assert view["adjustments"]  # the ledger still records the change per line


def test_a_reversal_that_keeps_failing_is_dead_lettered_and_flagged(
    world: World, hsa_tier2: SandboxPayers
) -> None:
    claim_id, _ = coordinated(world)
    revise(world, claim_id)
    platform = hsa_tier2.hsa_platform
    assert platform is not None  # busy (-3, transient) for every reversal
    platform._reverse = lambda msgid, data: platform.answer("-3", msgid, "busy")  # type: ignore[method-assign]
    policy = RetryPolicy(
        attempts_per_lease=1, initial_seconds=0, max_seconds=0, lease_retry_seconds=0, max_attempts=2
    )
    Worker(world.gateway.sessions, world.gateway.catalogue, policy=policy).drain()
    with world.gateway.sessions.begin() as session:
        row = session.scalars(select(OutboxRow).where(OutboxRow.kind == "reversal")).one()
        assert (row.status, row.attempts) == ("dead", 2)
        flags = session.scalars(select(FlagRow.detail).where(FlagRow.kind == "notice_dead")).all()
    assert any(f.startswith("reversal notice to huiminbao is dead-lettered") for f in flags)
    assert hsa_tier2.payers[REST_PAYER].reversals == {}


def test_a_void_reverses_the_decided_hsa_submission_and_notifies_through_the_profile(
    world: World, hsa_tier2: SandboxPayers
) -> None:
    claim_id, before = coordinated(world)
    _, msgid, _ = before["payer_reference"].split(":", 2)
    [original_key] = hsa_tier2.payers[REST_PAYER].decisions
    answer = world.post(f"/v1/claims/{claim_id}/void", {"reason": "wrong member"}, world.provider)
    assert answer.status_code == 200, answer.text
    drain(world)
    [sent] = reversals_sent(hsa_tier2)
    assert sent["omsgid"] == msgid and sent["cause"] == "void: wrong member"
    hmb = hsa_tier2.payers[REST_PAYER]
    assert hmb.reversals == {original_key: "void: wrong member"}
    assert [v["reason"] for v in hmb.voids.values()] == ["wrong member"]  # infno L105
    platform = hsa_tier2.hsa_platform
    assert platform is not None and platform.refused == []
