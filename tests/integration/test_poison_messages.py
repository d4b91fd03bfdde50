"""Poison messages end in a dead letter (issue 18, item 8): an error an adapter was not meant to
raise counts as an attempt; after the configured attempts the step or notice is dead-lettered and
flagged; calls lost to a crash count; the first wait between leases is LTC_STEP_RETRY_SECONDS."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from adapters.rest import RestAdapter
from adapters.sdk import TransientError
from adapters.soap import SoapAdapter
from gateway.orchestration import moves
from gateway.orchestration.moves import next_call
from gateway.orchestration.steps import RetryPolicy
from gateway.orchestration.transaction import Transaction
from gateway.orchestration.worker import Worker
from gateway.storage.tables import ClaimRow, FlagRow, OutboxRow, PayerStepRow, utcnow
from ltc_sandbox.payer_set import SandboxPayers
from tests.integration.world import World

POISON = "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
FEW = RetryPolicy(
    attempts_per_lease=2, initial_seconds=0.01, max_seconds=0.02, lease_retry_seconds=0, max_attempts=3
)


async def refuse_the_body(self: Any, *args: Any) -> Any:
    raise ValueError(POISON)  # what zeep/lxml raise for a NUL in a member's name


def drain(world: World, policy: RetryPolicy = FEW) -> int:
    return Worker(world.gateway.sessions, world.gateway.catalogue, policy=policy).drain()


def flags(world: World, kind: str) -> list[FlagRow]:
    with world.gateway.sessions.begin() as session:
        return list(session.scalars(select(FlagRow).where(FlagRow.kind == kind)))


def test_an_unexpected_adapter_error_counts_as_an_attempt_and_the_step_ends_in_a_flagged_dead_letter(
    world: World, sandboxes: SandboxPayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SoapAdapter, "submit_share", refuse_the_body)  # the tier-3 payer's calls
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    dead = [s for s in view["payers"] if s["status"] == "dead"]
    assert len(dead) == 1 and dead[0]["attempts"] == FEW.max_attempts
    [flag] = flags(world, "step_dead")
    assert "ValueError" in flag.detail and f"after {FEW.max_attempts} attempts" in flag.detail
    with world.gateway.sessions.begin() as session:  # nothing left due: not retried without end
        claim = session.get_one(ClaimRow, uuid.UUID(claim_id))
        assert claim.next_attempt_at is None


def test_an_unexpected_error_delivering_a_notice_ends_in_a_flagged_dead_letter(
    world: World, sandboxes: SandboxPayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SoapAdapter, "deliver_assessment", refuse_the_body)
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    assert world.claim(claim_id)["status"] == "coordinated"  # the shares went through
    with world.gateway.sessions.begin() as session:
        rows = {row.payer_code: row for row in session.scalars(select(OutboxRow))}
    soap = [row for row in rows.values() if row.status == "dead"]
    assert len(soap) == 1 and soap[0].attempts == FEW.max_attempts
    assert "ValueError" in (soap[0].last_error or "")
    assert {row.status for row in rows.values() if row is not soap[0]} == {"sent"}
    [flag] = flags(world, "notice_dead")
    assert str(flag.claim_id) == claim_id and flag.payer_code == soap[0].payer_code


def test_calls_lost_to_a_crash_count_as_attempts(world: World, sandboxes: SandboxPayers) -> None:
    """A worker that dies after storing a request (and perhaps sending it) has spent an attempt;
    a step whose every call is lost so goes to the dead-letter state, flagged."""
    world.setup()
    claim_id = uuid.UUID(world.submit().json()["claim_id"])
    attempts = RetryPolicy().max_attempts  # next_call's default
    for lost in range(1, attempts + 1):
        with world.gateway.sessions.begin() as session:
            call = next_call(Transaction(session), claim_id, world.gateway.catalogue, timedelta(seconds=60))
        # ... and the worker dies here, before it records anything
        with world.gateway.sessions.begin() as session:
            assert session.get_one(PayerStepRow, call.step_id).attempts == lost
    with world.gateway.sessions.begin() as session:
        stop = next_call(Transaction(session), claim_id, world.gateway.catalogue, timedelta(seconds=60))
    assert getattr(stop, "status", None) == "failed"
    view = world.claim(str(claim_id))
    assert view["payers"][0]["status"] == "dead"
    [flag] = flags(world, "step_dead")
    assert f"after {attempts} attempts" in flag.detail


def test_the_first_wait_between_leases_is_step_retry_seconds(world: World, sandboxes: SandboxPayers) -> None:
    """As docs/operations.md says: 30 s after the first lease's calls, then doubling per lease."""
    policy = RetryPolicy(attempts_per_lease=4, initial_seconds=0.01, max_seconds=0.02, lease_retry_seconds=30)
    sandboxes.payers["huiminbao"].faults.fail_first = 100  # tier 2 answers 503, every time
    world.setup()
    claim_id = uuid.UUID(world.submit().json()["claim_id"])

    def wait_after_lease() -> timedelta:
        drain(world, policy)
        with world.gateway.sessions.begin() as session:
            claim = session.get_one(ClaimRow, claim_id)
            [step] = session.scalars(
                select(PayerStepRow).where(PayerStepRow.claim_id == claim_id, PayerStepRow.seq == 2)
            )
            assert claim.next_attempt_at is not None
            wait = claim.next_attempt_at - step.updated_at  # as computed by the move that parked it
            session.execute(update(ClaimRow).values(next_attempt_at=utcnow()))  # the next lease, now
        return wait

    first = wait_after_lease()
    assert timedelta(seconds=30) <= first < timedelta(seconds=31)
    second = wait_after_lease()
    assert timedelta(seconds=60) <= second < timedelta(seconds=61)


def test_the_first_wait_before_a_notice_is_delivered_again_is_step_retry_seconds(
    world: World, sandboxes: SandboxPayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(self: Any, *args: Any) -> Any:
        raise TransientError("503 from the payer")

    monkeypatch.setattr(RestAdapter, "deliver_assessment", unavailable)
    policy = RetryPolicy(attempts_per_lease=4, initial_seconds=0.01, max_seconds=0.02, lease_retry_seconds=30)
    world.setup()
    world.submit()
    before = utcnow()
    drain(world, policy)
    after = utcnow()
    with world.gateway.sessions.begin() as session:
        waiting = list(session.scalars(select(OutboxRow).where(OutboxRow.status == "waiting")))
    assert waiting and all(row.attempts == 4 for row in waiting)
    for row in waiting:
        assert before + timedelta(seconds=30) <= row.next_attempt_at <= after + timedelta(seconds=30)


def test_a_claim_no_move_can_advance_ends_in_a_flagged_dead_letter(
    world: World, sandboxes: SandboxPayers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not an adapter's error but the move's own (a body the database refuses, say): each failed
    move counts as an attempt of the open step, and the claim is not retried without end."""

    def unbuildable(*args: Any) -> Any:
        raise ValueError("a body no move can store")

    monkeypatch.setattr(moves, "share_request", unbuildable)
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    view = world.claim(claim_id)
    assert view["status"] == "failed"
    assert view["payers"][0]["status"] == "dead" and view["payers"][0]["attempts"] == FEW.max_attempts
    [flag] = flags(world, "step_dead")
    assert "a body no move can store" in flag.detail
