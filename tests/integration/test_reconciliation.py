"""Nightly reconciliation on both databases: a generated night classified exactly, idempotent
and resumable runs, statements in JSON and CSV, the work queue with its audit trail and the
four-eyes rule, settlement batches, and statements pulled from REST and SOAP payers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from gateway.errors import Conflict
from gateway.ledger import business_date
from gateway.services.keys import Role
from gateway.storage.tables import (
    MismatchActionRow,
    MismatchRow,
    ReconciliationRunRow,
    StatementLineRow,
    utcnow,
)
from ltc_sandbox.generator import Night, generate_night
from ltc_sandbox.payer_set import SandboxPayers
from reconciliation.run import Reconciliation
from tests.integration.test_payers import drain
from tests.integration.world import World


def results(world: World, run_id: int) -> set[tuple[str, str, str, int]]:
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            text(
                "SELECT kind, payer_code, claim_id, line_no FROM reconciliation_results "
                "WHERE run_id = :run AND kind NOT IN ('MATCHED', 'NOT_DUE')"
            ),
            {"run": run_id},
        )
        return {(k, p, str(uuid.UUID(str(c))), n) for k, p, c, n in rows}


def items(world: World) -> list[tuple[int, str, str, str, int, int, int, str]]:
    with world.gateway.sessions.begin() as session:
        return [
            (m.id, m.kind, m.payer_code, str(m.claim_id), m.line_no, m.expected_fen, m.settled_fen, m.status)
            for m in session.scalars(select(MismatchRow).order_by(MismatchRow.id))
        ]


@pytest.fixture
def night(world: World) -> Night:
    return generate_night(world.gateway, claims_per_kind=2, matched_claims=3)


def reconciliation(world: World, owner: str | None = None) -> Reconciliation:
    return Reconciliation(
        world.gateway.sessions, window_days=world.gateway.settings.settlement_window_days, owner=owner
    )


def test_a_generated_night_is_classified_exactly_and_running_it_again_changes_nothing(
    world: World, night: Night
) -> None:
    first = reconciliation(world).run(night.business_date)
    assert first["status"] == "done"
    assert results(world, first["run_id"]) == night.expected
    # every matched line is matched at one level: line by line, or in a group whose totals agree
    agreed = sum(g["gateway"]["count"] for g in first["levels"] if g["level_1"] == "agreed")
    assert first["counts"]["kinds"]["MATCHED"] + agreed == night.matched
    kinds = {kind for kind, *_ in night.expected}
    assert kinds == {
        "AMOUNT_MISMATCH",
        "MISSING_AT_PAYER",
        "UNKNOWN_AT_GATEWAY",
        "DUPLICATE_SETTLEMENT",
        "OVER_COORDINATED",
        "STALE_COORDINATION",
    }
    before = items(world)
    assert {(k, p, c, n) for _, k, p, c, n, *_ in before} == night.expected
    assert all(status == "open" for *_, status in before)

    again = reconciliation(world).run(night.business_date)
    assert again["run_id"] == first["run_id"] and again["runs"] == 2
    assert results(world, again["run_id"]) == night.expected
    assert items(world) == before  # the same items, no duplicates
    assert again["counts"]["open"] == first["counts"]["open"]


def test_a_crashed_run_resumes_where_it_stopped_and_one_run_per_date_works_at_a_time(
    world: World, night: Night
) -> None:
    crashed = reconciliation(world, owner="node-a").run(night.business_date, stop_after="results")
    assert (crashed["status"], crashed["phase"]) == ("running", "items")
    assert items(world) == []
    with pytest.raises(Conflict, match="already working"):
        reconciliation(world, owner="node-b").run(night.business_date)
    with world.gateway.sessions.begin() as session:  # node-a died: its lease runs out
        session.execute(update(ReconciliationRunRow).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    resumed = reconciliation(world, owner="node-b").run(night.business_date)
    assert resumed["status"] == "done" and resumed["runs"] == 2
    assert {(k, p, c, n) for _, k, p, c, n, *_ in items(world)} == night.expected


def statement_entries(world: World, claim_id: str, paid: int, refs: list[str]) -> dict[str, Any]:
    day = business_date().isoformat()
    return {
        "entries": [
            {"claim_id": claim_id, "line_no": 1, "paid_fen": paid, "payer_reference": ref, "settled_on": day}
            for ref in refs
        ]
    }


def test_statements_in_json_and_csv(world: World) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    key = world.payer("huiminbao")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    document = statement_entries(world, claim_id, 60000, ["HMB-1", "HMB-2"])  # two legitimate halves
    first = world.client.post(
        "/v1/payers/huiminbao/statements", content=json.dumps(document), headers=headers
    )
    assert first.status_code == 201, first.text
    assert (first.json()["rows"], first.json()["imported"]) == (2, 2)
    again = world.client.post(
        "/v1/payers/huiminbao/statements", content=json.dumps(document), headers=headers
    )
    assert again.status_code == 409 and "already imported" in again.json()["detail"]

    csv_headers = {**headers, "Content-Type": "text/csv"}
    day = business_date().isoformat()
    good = f"claim_id,line_no,paid_fen,payer_reference,settled_on\n{claim_id},1,60000,HMB-1,{day}\n"
    known = world.client.post("/v1/payers/huiminbao/statements", content=good, headers=csv_headers)
    assert known.status_code == 201 and known.json()["already_known"] == 1  # the same entry, kept once

    bad = (
        "claim_id,line_no,paid_fen,payer_reference,settled_on\n"
        f"{claim_id},1,100,HMB-9,{day}\n"
        f"{claim_id},1,12.5,HMB-10,{day}\n"
        f"not-a-claim,1,100,HMB-11,2026-13-01\n"
        f"{claim_id},1,100,HMB-9,{day}\n"
    )
    refused = world.client.post("/v1/payers/huiminbao/statements", content=bad, headers=csv_headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    pointers = [e["pointer"] for e in refused.json()["errors"]]
    assert pointers == ["row 3/paid_fen", "row 4/claim_id", "row 4/settled_on"]
    with world.gateway.sessions.begin() as session:  # the whole file was refused
        assert session.scalar(select(func.count()).select_from(StatementLineRow)) == 2

    repeated = "claim_id,line_no,paid_fen,payer_reference,settled_on\n" + f"{claim_id},1,5,R,{day}\n" * 2
    dup = world.client.post("/v1/payers/huiminbao/statements", content=repeated, headers=csv_headers)
    assert dup.status_code == 422 and "repeats row 2" in dup.text
    other = world.client.post(
        "/v1/payers/acme-life/statements", content=json.dumps(document), headers=headers
    )
    assert other.status_code == 403  # a payer sends only its own statements

    run = world.post(
        "/v1/reconciliation/runs", {"business_date": day, "wait": True}, world.key(Role.RECONCILER, "r1")
    )
    assert run.status_code == 201, run.text
    # two halves of 600.00 match the expected 1,200.00: huiminbao's totals agree, no line work
    (huiminbao,) = [g for g in run.json()["levels"] if g["payer_code"] == "huiminbao"]
    assert (huiminbao["level_1"], huiminbao["level_2"], huiminbao["payer"]["paid_fen"]) == (
        "agreed",
        "skipped",
        120000,
    )


def reconciler(world: World, who: str) -> str:
    return world.staff_key(who)  # a key of the person's own: four-eyes compares people


def queue(world: World, who: str = "zhang", **filters: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = world.get(f"/v1/reconciliation/mismatches?{query}", reconciler(world, who))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["mismatches"]
    return found


def act(world: World, mismatch_id: int, who: str, action: str, note: str = "checked", **extra: Any) -> Any:
    body = {"action": action, "note": note, **extra}
    return world.post(f"/v1/reconciliation/mismatches/{mismatch_id}/resolution", body, reconciler(world, who))


def test_the_work_queue_resolves_every_kind_with_an_audit_trail_and_four_eyes(
    world: World, night: Night
) -> None:
    day = night.business_date.isoformat()
    assert (
        world.post(
            "/v1/reconciliation/runs", {"business_date": day, "wait": True}, reconciler(world, "zhang")
        ).status_code
        == 201
    )
    assert world.get("/v1/reconciliation/mismatches", world.provider).status_code == 403
    everything = queue(world)
    assert len(everything) == len(night.expected)
    assert {m["payer_code"] for m in queue(world, payer="huiminbao")} == {"huiminbao"}
    assert {m["kind"] for m in queue(world, kind="MISSING_AT_PAYER")} == {"MISSING_AT_PAYER"}
    assert all(abs(m["difference_fen"]) >= 100000 for m in queue(world, min_amount_fen=100000))
    assert queue(world, min_age_days=1) == []  # all first seen today

    def first(kind: str, payer: str | None = None) -> dict[str, Any]:
        return next(
            m for m in everything if m["kind"] == kind and (payer is None or m["payer_code"] == payer)
        )

    assert (
        act(world, first("AMOUNT_MISMATCH", "huiminbao")["id"], "zhang", "recover", note="").status_code
        == 422
    )

    # STALE: the payer settled on round 1; accepting its figure re-coordinates the later tiers
    stale = first("STALE_COORDINATION")
    accepted = act(world, stale["id"], "zhang", "accept_payer", "the 惠民保 insurer keeps its first figure")
    assert accepted.status_code == 200, accepted.text
    drain(world)
    view = world.claim(stale["claim_id"], world.bureau)
    assert view["round"] == 3 and view["status"] == "coordinated"
    paid = {p["product_code"]: p["paid_fen"] for p in view["lines"][0]["payments"]}
    assert paid["HMB-LTC-2026"] == 120000 and paid["ACME-LTC-CARE"] == 150000  # tier 3 takes up the rest

    recover = act(world, first("AMOUNT_MISMATCH", "huiminbao")["id"], "zhang", "recover")
    assert recover.json()["status"] == "resolved"
    top_up = act(world, first("AMOUNT_MISMATCH", "acme-life")["id"], "zhang", "top_up", amount_fen=500)
    assert top_up.status_code == 200
    assert (
        act(world, first("MISSING_AT_PAYER")["id"], "zhang", "request_correction").json()["status"]
        == "awaiting_payer"
    )
    assert (
        act(world, first("UNKNOWN_AT_GATEWAY")["id"], "zhang", "carry_forward").json()["status"] == "carried"
    )
    assert act(world, first("UNKNOWN_AT_GATEWAY")["id"], "zhang", "accept_payer").status_code == 409

    big = first("DUPLICATE_SETTLEMENT")  # 1,200.00 paid twice: above the 1,000.00 four-eyes threshold
    pending = act(world, big["id"], "zhang", "write_off", "paid twice, provider refunded offline")
    assert pending.json()["status"] == "pending_approval"
    assert act(world, big["id"], "zhang", "approve").status_code == 403  # not by the same person
    assert act(world, big["id"], "zhang", "recover").status_code == 409  # waits for the approval
    approved = act(world, big["id"], "li", "approve", "seen the refund voucher")
    assert approved.status_code == 200 and approved.json()["status"] == "resolved"
    history = approved.json()["history"]
    assert [(h["action"], h["actor"].split(" ")[0], h["after"]) for h in history] == [
        ("found", "run", "open"),
        ("write_off", "person:zhang", "pending_approval"),
        ("approve", "person:li", "resolved"),
    ]
    assert act(world, big["id"], "li", "write_off").status_code == 409  # nothing left to do

    small = first("OVER_COORDINATED")
    assert act(world, small["id"], "zhang", "request_correction").status_code == 409  # no single payer
    with world.gateway.sessions.begin() as session:
        # refused actions leave no trace; the seven that took effect are audited, beside the run's
        people = select(func.count()).where(MismatchActionRow.actor.not_like("run %"))
        assert session.scalar(people) == 7
        found = select(func.count()).where(MismatchActionRow.action == "found")
        assert session.scalar(found) == len(night.expected)

    pending_batches = world.get("/v1/reconciliation/batches", reconciler(world, "zhang")).json()["pending"]
    by_payer = {b["payer_code"]: b for b in pending_batches}
    # two generated tier-1 revisions topped tier 2 up by 150.00 each, accepting the payer's figure
    # took one back, and the reconciler recovered 10.00
    assert by_payer["huiminbao"]["net_fen"] == 2 * 15000 - 15000 - 1000
    closed = world.post("/v1/reconciliation/batches", {"payer_code": "acme-life"}, reconciler(world, "zhang"))
    assert closed.status_code == 201
    batch = closed.json()
    assert batch["net_fen"] == 2 * 15000 + 15000 + 500  # re-coordinations' top-ups, and the reconciler's
    exported = world.get(f"/v1/reconciliation/batches/{batch['batch_id']}.csv", reconciler(world, "zhang"))
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == "payer_code,claim_id,line_no,amount_fen,source"


def test_statements_are_pulled_from_rest_and_soap_payers(world: World, sandboxes: SandboxPayers) -> None:
    world.setup()
    claim_id = world.submit().json()["claim_id"]
    drain(world)
    result = reconciliation(world).run(business_date())
    pulled = result["counts"]["pulled"]
    assert pulled["huiminbao"] == "1 new entries" and pulled["acme-life"] == "1 new entries"
    assert pulled["ltc-admin-east"] == "1 new entries"
    # the three pulled payers' totals agree (summed here from the pulled lines): no line work
    agreed = {g["payer_code"] for g in result["levels"] if g["level_1"] == "agreed"}
    assert agreed == {"ltc-admin-east", "huiminbao", "acme-life"}
    assert set(result["counts"]["kinds"]) <= {"MATCHED", "NOT_DUE"}
    with world.gateway.sessions.begin() as session:
        payers = set(
            session.scalars(
                select(StatementLineRow.payer_code).where(StatementLineRow.claim_id == uuid.UUID(claim_id))
            )
        )
    assert payers == {"ltc-admin-east", "huiminbao", "acme-life"}


@pytest.mark.parametrize("number", ["³", "٣", "1²", "99999999999999999999999", "-1", "1.0"])
def test_a_number_in_a_path_or_query_that_is_not_ascii_digits_or_fits_no_column_is_refused_by_name(
    world: World, number: str
) -> None:
    """str.isdigit() accepts "³", which int() refuses: a mismatch id of "³" was a server error
    (found by the fuzzing test)."""
    key = reconciler(world, "zhang")
    for path in (
        f"/v1/reconciliation/mismatches/{number}",
        f"/v1/reconciliation/settlement-batches/{number}",
        f"/v1/reconciliation/settlement-batches/{number}.csv",
    ):
        assert world.get(path, key).status_code == 404, path
    assert world.get(f"/v1/reconciliation/runs/{number}", key).status_code in (404, 422)
    listed = world.get(f"/v1/reconciliation/mismatches?offset={number}", key)
    assert listed.status_code == 422 and listed.json()["errors"][0]["pointer"] == "/offset", listed.text


def test_an_age_older_than_the_calendar_lists_everything(world: World) -> None:
    answer = world.get("/v1/reconciliation/mismatches?min_age_days=9999999", reconciler(world, "zhang"))
    assert answer.status_code == 200, answer.text
