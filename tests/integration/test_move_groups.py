"""A worker's moves written in groups (``gateway.orchestration.move_groups``): the claims whose
payers answered together are moved in one transaction, pay exactly what they pay one by one, and
a group that fails is made again move by move, so one bad claim fails alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.orchestration import moves
from gateway.orchestration.worker import Worker
from gateway.storage.tables import ClaimRow, LinePaymentRow
from tests.integration.test_fanout import community_claim
from tests.integration.world import World

CLAIMS = 8


def together(worker: Worker, claims: int) -> None:
    """Every claim's first payer call waits until all of them have made theirs, so their answers
    arrive at once and their moves are grouped (a liveness guard, not a timing check)."""
    step, arrived = worker.calls.step, set()

    async def gathered(call: Any) -> Any:
        arrived.add(call.claim_id)
        for _ in range(3000):
            if len(arrived) >= claims:
                break
            await asyncio.sleep(0.01)
        return await step(call)

    worker.calls.step = gathered  # type: ignore[method-assign]


def submitted(world: World) -> list[str]:
    world.setup()
    ids = []
    for n in range(CLAIMS):  # one member: every move of the group holds the same limits
        response = world.submit(community_claim(world, f"G-{n}", days=10, on=f"2026-11-{n + 1:02d}"))
        assert response.status_code == 202
        ids.append(response.json()["claim_id"])
    return ids


def paid(world: World) -> dict[str, int]:
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            select(LinePaymentRow.product_code, func.sum(LinePaymentRow.paid_fen))
            .where(LinePaymentRow.current.is_(True))
            .group_by(LinePaymentRow.product_code)
        )
        return {code: int(fen) for code, fen in rows}


def statuses(world: World) -> dict[str, str]:
    with world.gateway.sessions.begin() as session:
        rows = session.execute(select(ClaimRow.claim_id, ClaimRow.status))
        return {str(claim_id): status for claim_id, status in rows}


def test_moves_of_claims_answered_together_are_one_transaction_and_pay_as_one_by_one(world: World) -> None:
    submitted(world)
    worker = Worker(world.gateway.sessions, world.gateway.catalogue, batch=CLAIMS, concurrency=CLAIMS)
    together(worker, CLAIMS)
    worker.drain()
    assert max(worker.moves.sizes) > 1 and worker.groups.fallbacks == 0
    assert set(statuses(world).values()) == {"coordinated"}
    # 8 × 120,000 billed: each product's monthly limit is reached exactly (as one by one, and as
    # by four workers at once in test_fanout), the limits carried from move to move in a group
    assert paid(world) == {"CITY-LTCI-2025": 300000, "HMB-LTC-2026": 150000, "ACME-LTC-CARE": 300000}


def test_one_bad_claim_in_a_group_fails_alone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = submitted(world)
    bad = ids[3]
    record = moves._apply_outcome

    def broken(tx: Any, claim: Any, call: Any, *args: Any, **kwargs: Any) -> Any:
        if str(call.claim_id) == bad:
            raise RuntimeError("a body the database refuses")
        return record(tx, claim, call, *args, **kwargs)

    monkeypatch.setattr(moves, "_apply_outcome", broken)
    worker = Worker(world.gateway.sessions, world.gateway.catalogue, batch=CLAIMS, concurrency=CLAIMS)
    together(worker, CLAIMS)
    worker.drain()
    assert worker.groups.fallbacks >= 1  # the group rolled back, and its moves were made alone
    by_claim = statuses(world)
    assert by_claim.pop(bad) != "coordinated"
    assert set(by_claim.values()) == {"coordinated"}
