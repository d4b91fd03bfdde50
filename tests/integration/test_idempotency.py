"""Idempotency-Key on every POST: replay, conflict, concurrent duplicates with one effect."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from sqlalchemy import func, select

from gateway.services.keys import Role
from gateway.storage.tables import ClaimRow, EnrollmentRow
from tests.integration.world import World


def post(world: World, path: str, body: Any, key: str, idempotency_key: str) -> Any:
    return world.client.post(
        path, json=body, headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key}
    )


def test_the_same_key_and_body_replay_the_first_answer(world: World) -> None:
    world.setup()
    first = post(world, "/v1/claims", world.claim_body(), world.provider, "claim-1")
    again = post(world, "/v1/claims", world.claim_body(), world.provider, "claim-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotency-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]


def test_the_same_key_with_another_body_is_a_conflict(world: World) -> None:
    world.setup()
    assert post(world, "/v1/claims", world.claim_body(), world.provider, "k").status_code == 202
    other = post(world, "/v1/claims", world.claim_body(claim_number="OTHER-1"), world.provider, "k")
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "another request" in other.json()["detail"]


def test_keys_belong_to_their_party(world: World) -> None:
    world.setup()
    body = {
        "enrollments": [
            {"id_number": "110105199001019998", "product_code": "HMB-LTC-2026", "start_date": "2025-01-01"}
        ]
    }
    assert (
        post(world, "/v1/payers/huiminbao/enrollments", body, world.payer("huiminbao"), "same").status_code
        == 200
    )
    # the bureau using the same key string is another caller: its request is its own
    bureau = post(world, "/v1/payers/huiminbao/enrollments", body, world.bureau, "same")
    assert bureau.status_code == 200 and "idempotency-replayed" not in bureau.headers


def test_a_refused_request_leaves_the_key_free(world: World) -> None:
    world.setup()
    bad = world.claim_body()
    bad["lines"][0]["billed_fen"] = 1
    assert post(world, "/v1/claims", bad, world.provider, "retry-me").status_code == 422
    assert post(world, "/v1/claims", world.claim_body(), world.provider, "retry-me").status_code == 202


def test_concurrent_duplicates_have_one_effect(world: World) -> None:
    world.setup()
    body = {
        "enrollments": [
            {"id_number": "110105199001019998", "product_code": "HMB-LTC-2026", "start_date": "2025-03-01"}
        ]
    }
    key = world.payer("huiminbao")
    barrier = threading.Barrier(6)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        answers.append(post(world, "/v1/payers/huiminbao/enrollments", body, key, "burst"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.text for a in answers}) == 1
    assert sum(1 for a in answers if "idempotency-replayed" not in a.headers) == 1
    with world.gateway.sessions.begin() as session:
        count = session.scalar(
            select(func.count())
            .select_from(EnrollmentRow)
            .where(EnrollmentRow.start_date == date(2025, 3, 1))
        )
        assert count == 1


def test_a_reconciliation_run_request_is_idempotent_too(world: World) -> None:
    reconciler = world.key(Role.RECONCILER, "zhang")
    body = {"business_date": "2026-11-30", "wait": True}
    first = post(world, "/v1/reconciliation/runs", body, reconciler, "night-30")
    again = post(world, "/v1/reconciliation/runs", body, reconciler, "night-30")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    other = post(world, "/v1/reconciliation/runs", {"business_date": "2026-12-01"}, reconciler, "night-30")
    assert other.status_code == 409
    with world.gateway.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(ClaimRow)) == 0
