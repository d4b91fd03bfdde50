"""A selection of the work queue resolved over the API (issue 22 section 2), on both databases:
each item's outcome answered, four eyes on the movements above the threshold (people, not keys),
the count bounded with the field named, replayed on its Idempotency-Key, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.storage.tables import AuditEntryRow, MismatchRow, SettlementItemRow
from tests.integration import test_work_queue
from tests.integration.test_work_queue import Console, plant
from tests.people import own_key

console = test_work_queue.console  # the fixture: a night run, zhang signed in with a key of his own

PATH = "/v1/reconciliation/mismatches/resolutions"


def send(console: Console, body: Any, key: str, **headers: str) -> Any:
    return console.client.post(PATH, json=body, headers={"Authorization": f"Bearer {key}", **headers})


def test_a_selection_is_resolved_item_by_item_with_four_eyes_once_per_key(console: Console) -> None:
    day = console.night.business_date
    plant(console.gateway, 2, base=2_000, day=day)  # 20.37 and 20.74 yuan
    big_claim = plant(console.gateway, 1, base=300_000, day=day)  # above the 1,000.00 threshold
    with console.gateway.sessions.begin() as session:
        small = list(
            session.scalars(
                select(MismatchRow.id)
                .where(MismatchRow.payer_code == "planted", MismatchRow.claim_id != big_claim)
                .order_by(MismatchRow.id)
            )
        )
        big = session.scalar(select(MismatchRow.id).where(MismatchRow.claim_id == big_claim))
        missing = session.scalar(select(MismatchRow.id).where(MismatchRow.kind == "MISSING_AT_PAYER"))
    ids = [*small, big, missing, 2_000_000_000, small[0]]  # a repeated id counts once

    for body, pointer in (
        ({"ids": list(range(1, 502)), "action": "recover", "note": "x"}, "/ids"),
        ({"ids": [], "action": "recover", "note": "x"}, "/ids"),
        ({"ids": ["x"], "action": "recover", "note": "x"}, "/ids/0"),
        ({"ids": ids, "action": "recover", "note": "  "}, "/note"),
        ({"ids": ids, "action": "pay_twice", "note": "x"}, "/action"),
        ({"ids": ids, "action": "recover", "note": "x", "amount_fen": 1}, "/amount_fen"),  # each its own
        ([1, 2], ""),
    ):
        refused = send(console, body, console.key)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer]

    once = {"Idempotency-Key": "bulk-recover-1"}
    body = {"ids": ids, "action": "recover", "note": "多付部分追回"}
    answer = send(console, body, console.key, **once)
    assert answer.status_code == 200, answer.text
    outcomes = {r["id"]: r["outcome"] for r in answer.json()["results"]}
    assert outcomes == {
        small[0]: "done",
        small[1]: "done",
        big: "needs_approval",
        missing: "not_applicable",  # nothing to recover from a payer that never settled the line
        2_000_000_000: "not_found",
    }
    assert answer.json()["counts"] == {
        "done": 2,
        "needs_approval": 1,
        "not_applicable": 1,
        "not_found": 1,
        "not_yours": 0,
    }
    again = send(console, body, console.key, **once)
    assert again.json() == answer.json() and again.headers["idempotency-replayed"] == "true"

    approve = {"ids": [big], "action": "approve", "note": "复核通过"}
    second_key = own_key(console.gateway, "zhang")  # zhang's other key: still zhang
    own = send(console, approve, second_key).json()["results"][0]
    assert own["outcome"] == "not_yours" and "four eyes" in own["detail"]
    assert send(console, approve, own_key(console.gateway, "li")).json()["counts"]["done"] == 1

    with console.gateway.sessions.begin() as session:
        moved = dict(
            session.execute(
                select(SettlementItemRow.source, func.count())
                .where(SettlementItemRow.source.in_([f"mismatch:{i}" for i in (*small, big)]))
                .group_by(SettlementItemRow.source)
            ).all()
        )
        trail = session.execute(
            select(AuditEntryRow.subject, AuditEntryRow.action, AuditEntryRow.actor).where(
                AuditEntryRow.action.in_(("mismatch.recover", "mismatch.approve"))
            )
        ).all()
    assert moved == {f"mismatch:{i}": 1 for i in (*small, big)}  # once each, replay or not
    people = {(subject, action, actor.split("/")[0]) for subject, action, actor in trail}
    assert people == {
        *((f"mismatch:{i}", "mismatch.recover", "person:zhang") for i in (*small, big)),
        (f"mismatch:{big}", "mismatch.approve", "person:li"),
    }
