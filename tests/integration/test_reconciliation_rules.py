"""The set-based classification in SQL (reconciliation/sql/classify.py) held to the pure decision table
(reconciliation/matching.py) on random ledgers and statements, on SQLite and PostgreSQL; and the
queue's rules that only a database shows: a run of an earlier date leaves the queue to the later
one, and a line routed to a payer with nothing to pay is not unknown to the gateway."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from gateway.ledger import business_date
from gateway.storage.tables import (
    ClaimLineRow,
    ClaimRow,
    LedgerEntryRow,
    MismatchActionRow,
    MismatchRow,
    ReconciliationResultRow,
    StatementLineRow,
    StatementRow,
)
from ltc_sandbox.generator import generate_night
from reconciliation.matching import ACROSS_PAYERS, KeyFacts, classify, over_coordinated
from reconciliation.run import Reconciliation
from reconciliation.statements import import_statement
from tests.integration.test_payers import drain
from tests.integration.world import World
from tests.work import counting

PAYERS = ("p-one", "p-two", "p-three")
AMOUNTS = (0, 100, 200, 300, -100)
WINDOW = 5


def _facts(
    ledger: list[tuple[int, date]], settled: list[tuple[int, date]], day: date
) -> tuple[KeyFacts, int]:
    entries = [amount for amount, on in ledger if on <= day]
    running = [sum(entries[: i + 1]) for i in range(len(entries))]
    paid = [amount for amount, on in settled if on <= day]
    facts = KeyFacts(
        expected=running[-1] if running else None,
        earlier_expected=tuple(running[:-1]),
        since=min((on for _, on in ledger if on <= day), default=None),
        settled=sum(paid) if paid else None,
        entries=len(paid),
        largest=max(paid) if paid else None,
        smallest=min(paid) if paid else None,
    )
    return facts, sum(paid)


def test_the_sql_classification_is_the_pure_decision_table(world: World) -> None:
    """Random keys (several ledger entries and settlements each, some after the business date,
    some inside the settlement window), every one classified in SQL as ``classify`` says."""
    world.setup()
    claim_ids = [
        uuid.UUID(world.submit(world.claim_body(claim_number=f"R-{i}")).json()["claim_id"]) for i in range(4)
    ]
    sessions = world.gateway.sessions
    with sessions.begin() as session:
        billed = {
            (row.claim_id, row.line_no): row.billed_fen
            for row in session.scalars(select(ClaimLineRow).where(ClaimLineRow.claim_id.in_(claim_ids)))
        }
    rng = random.Random(20261128)
    day0 = date(2026, 12, 10)
    for night in range(6):
        day = day0 + timedelta(days=night)
        near = [day - timedelta(days=d) for d in (-1, 0, 2, WINDOW, WINDOW + 1, 30)]
        ledger: dict[tuple[str, uuid.UUID, int], list[tuple[int, date]]] = defaultdict(list)
        settled: dict[tuple[str, uuid.UUID, int], list[tuple[int, date]]] = defaultdict(list)
        for payer in PAYERS:
            for claim_id in claim_ids:
                for line_no in (0, 1):
                    key = (payer, claim_id, line_no)
                    for _ in range(rng.choice((0, 1, 1, 2, 3))):
                        ledger[key].append((rng.choice(AMOUNTS), rng.choice(near)))
                    expected_now = sum(a for a, _ in ledger[key])
                    for _ in range(rng.choice((0, 1, 1, 2, 3))):
                        amount = rng.choice((*AMOUNTS, expected_now, expected_now, 450000))
                        settled[key].append((amount, rng.choice(near)))
        with sessions.begin() as session:
            session.execute(delete(ReconciliationResultRow))
            session.execute(delete(StatementLineRow))
            session.execute(delete(StatementRow))
            session.execute(delete(LedgerEntryRow))
            statement = StatementRow(
                payer_code="policy-ltci",
                content_hash=f"random-{night}",
                media_type="x",
                source="upload",
                rows=0,
                accepted=0,
            )
            session.add(statement)
            session.flush()
            for (payer, claim_id, line_no), entries in ledger.items():
                for amount, on in entries:  # one at a time: ids keep the order of the entries
                    session.add(
                        LedgerEntryRow(
                            payer_code=payer,
                            claim_id=claim_id,
                            line_no=line_no,
                            product_code="X",
                            month=None,
                            kind="payment",
                            amount_fen=amount,
                            round=1,
                            business_date=on,
                        )
                    )
                    session.flush()
            for (payer, claim_id, line_no), entries in settled.items():
                for n, (amount, on) in enumerate(entries):
                    session.add(
                        StatementLineRow(
                            statement_id=statement.id,
                            row_no=n + 2,
                            payer_code=payer,
                            claim_id=claim_id,
                            line_no=line_no,
                            paid_fen=amount,
                            payer_reference=f"ref-{n}",
                            settled_on=on,
                        )
                    )
        reconciliation = Reconciliation(sessions, window_days=WINDOW, owner="rules")
        run_id = reconciliation.start(day)
        reconciliation._results(run_id, day)

        want: set[tuple[str, str, uuid.UUID, int]] = set()
        across: dict[tuple[uuid.UUID, int], int] = defaultdict(int)
        for key in set(ledger) | set(settled):
            facts, paid = _facts(ledger.get(key, []), settled.get(key, []), day)
            kind = classify(facts, day - timedelta(days=WINDOW))
            if kind != "NOTHING":
                want.add((kind, *key))
            if key[2] > 0:
                across[(key[1], key[2])] += paid
        for (claim_id, line_no), paid in across.items():
            if over_coordinated(paid, billed[(claim_id, line_no)]):
                want.add(("OVER_COORDINATED", ACROSS_PAYERS, claim_id, line_no))
        with sessions.begin() as session:
            got = {
                (r.kind, r.payer_code, r.claim_id, r.line_no)
                for r in session.scalars(
                    select(ReconciliationResultRow).where(ReconciliationResultRow.run_id == run_id)
                )
            }
        counted = {"MATCHED", "NOT_DUE"}  # counted, not kept a row each
        kept = {w for w in want if w[0] not in counted}
        assert got == kept, f"night {night}: SQL and classify differ on {sorted(got ^ kept, key=str)}"
        assert reconciliation.view(run_id)["counts"]["kinds"] == dict(Counter(k for k, *_ in want))
        assert {k for k, *_ in want} >= {"MATCHED", "AMOUNT_MISMATCH", "UNKNOWN_AT_GATEWAY"}


def _open_items(world: World) -> list[tuple[int, str, str]]:
    with world.gateway.sessions.begin() as session:
        return [
            (m.id, m.kind, m.status) for m in session.scalars(select(MismatchRow).order_by(MismatchRow.id))
        ]


def test_a_run_of_an_earlier_date_leaves_the_queue_to_the_later_one(world: World) -> None:
    night = generate_night(world.gateway, claims_per_kind=1, matched_claims=1)
    reconciliation = Reconciliation(
        world.gateway.sessions, window_days=world.gateway.settings.settlement_window_days
    )
    first = reconciliation.run(night.business_date)
    before = _open_items(world)
    assert before and all(status == "open" for *_, status in before)
    with world.gateway.sessions.begin() as session:  # matched keys are counted, not kept a row each
        kept = select(ReconciliationResultRow.kind).where(ReconciliationResultRow.run_id == first["run_id"])
        assert set(session.scalars(kept)) == {k for k, *_ in night.expected}
    agreed = sum(g["gateway"]["count"] for g in first["levels"] if g["level_1"] == "agreed")
    assert first["counts"]["kinds"]["MATCHED"] + agreed == night.matched  # line by line, or in agreed totals

    earlier = reconciliation.run(night.business_date - timedelta(days=3))  # a late catch-up of an old date
    assert earlier["status"] == "done"
    assert earlier["counts"]["queue"] == f"left to the run of {night.business_date}"
    assert _open_items(world) == before  # nothing cleared, nothing reopened, nothing new

    again = reconciliation.run(night.business_date)
    assert again["counts"]["queue"] == "updated"
    assert _open_items(world) == before


def test_the_run_audits_what_it_does_to_items(world: World) -> None:
    """Items found, cleared and reopened by a run are in the audit trail like people's actions."""
    night = generate_night(world.gateway, claims_per_kind=1, matched_claims=1)
    sessions = world.gateway.sessions
    reconciliation = Reconciliation(sessions, window_days=world.gateway.settings.settlement_window_days)
    run = reconciliation.run(night.business_date)
    with sessions.begin() as session:
        found = session.execute(select(MismatchActionRow.action, MismatchActionRow.actor)).all()
        assert len(found) == len(night.expected)
        assert {a for a, _ in found} == {"found"} and {w for _, w in found} == {f"run {run['run_id']}"}
        missing = session.scalars(select(MismatchRow).where(MismatchRow.kind == "MISSING_AT_PAYER")).first()
        assert missing is not None
        claim_id, line_no, payer = missing.claim_id, missing.line_no, missing.payer_code
        expected = missing.expected_fen
    # the payer's late statement arrives: the next night clears the item
    later = night.business_date + timedelta(days=1)
    entry = {
        "claim_id": str(claim_id),
        "line_no": line_no,
        "paid_fen": expected,
        "payer_reference": "late-1",
        "settled_on": later.isoformat(),
    }
    key = world.payer(payer)
    response = world.client.post(
        f"/v1/payers/{payer}/statements",
        content=json.dumps({"entries": [entry]}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    second = reconciliation.run(later)
    with sessions.begin() as session:
        item = session.get_one(MismatchRow, missing.id)
        assert item.status == "cleared"
        trail = session.execute(
            select(
                MismatchActionRow.action,
                MismatchActionRow.before_status,
                MismatchActionRow.after_status,
                MismatchActionRow.actor,
            )
            .where(MismatchActionRow.mismatch_id == item.id)
            .order_by(MismatchActionRow.id)
        ).all()
    assert [tuple(t) for t in trail] == [
        ("found", "new", "open", f"run {run['run_id']}"),
        ("cleared", "open", "cleared", f"run {second['run_id']}"),
    ]


def test_a_line_routed_to_a_payer_that_pays_nothing_is_known_to_the_gateway(world: World) -> None:
    """A payer that decided 0 on a line and lists it (0, or by mistake more) in its statement:
    the gateway routed it, so the line is matched or an amount mismatch, never unknown."""
    world.setup()
    body = world.claim_body()
    body["lines"][0]["exclusion"] = "medical_insurance"  # tier 1 pays nothing on it
    claim_id = world.submit(body).json()["claim_id"]
    drain(world)
    view = world.claim(claim_id, world.bureau)
    tier1 = next(p for p in view["lines"][0]["payments"] if p["product_code"] == "CITY-LTCI-2025")
    assert tier1["paid_fen"] == 0
    with world.gateway.sessions.begin() as session:
        payer = session.scalar(
            select(LedgerEntryRow.payer_code).where(
                LedgerEntryRow.claim_id == uuid.UUID(claim_id),
                LedgerEntryRow.product_code == "CITY-LTCI-2025",
            )
        )
    assert payer is not None  # a zero expectation is still an expectation
    day = business_date()
    entries: list[dict[str, Any]] = [
        {
            "claim_id": claim_id,
            "line_no": 1,
            "paid_fen": paid,
            "payer_reference": ref,
            "settled_on": day.isoformat(),
        }
        for paid, ref in ((0, "zero"), (500, "oops"))
    ]
    with world.gateway.sessions.begin() as session:
        import_statement(session, payer, json.dumps({"entries": entries}).encode(), "application/json")
    result = Reconciliation(world.gateway.sessions, window_days=5).run(day)
    kinds = result["counts"]["kinds"]
    assert "UNKNOWN_AT_GATEWAY" not in kinds
    assert kinds.get("AMOUNT_MISMATCH") == 1


def _mismatched_night(world: World, template: uuid.UUID, claims: int, lines: int, day: date) -> int:
    """``claims`` copies of the template claim, each line expected 1,500 and settled 1,234 on
    ``day``: every key a mismatch. The number of keys."""
    with world.gateway.sessions.begin() as session:
        row = dict(
            session.execute(select(ClaimRow.__table__).where(ClaimRow.claim_id == template)).mappings().one()
        )
        copies = [{**row, "claim_id": uuid.uuid4(), "claim_number": f"BULK-{day}-{i}"} for i in range(claims)]
        session.execute(insert(ClaimRow), copies)
        statement = StatementRow(
            payer_code="policy-ltci",
            content_hash=f"bulk-{day}",
            media_type="x",
            source="upload",
            rows=0,
            accepted=0,
        )
        session.add(statement)
        session.flush()
        keys = [(c["claim_id"], line_no) for c in copies for line_no in range(1, lines + 1)]
        ledger = [
            {
                "payer_code": "p-bulk",
                "claim_id": claim_id,
                "line_no": line_no,
                "product_code": "X",
                "month": None,
                "kind": kind,
                "amount_fen": amount,
                "round": round_,
                "business_date": day - timedelta(days=20),
            }
            for claim_id, line_no in keys
            for kind, amount, round_ in (("payment", 1000, 1), ("adjustment", 500, 2))
        ]
        session.execute(insert(LedgerEntryRow), ledger)
        settled = [
            {
                "statement_id": statement.id,
                "row_no": n + 2,
                "payer_code": "p-bulk",
                "claim_id": claim_id,
                "line_no": line_no,
                "paid_fen": 1234,
                "payer_reference": f"B-{day}-{n}",
                "settled_on": day,
            }
            for n, (claim_id, line_no) in enumerate(keys)
        ]
        session.execute(insert(StatementLineRow), settled)
    return len(keys)


def test_a_night_with_many_mismatches_is_reconciled_in_linear_time(world: World) -> None:
    """A night of 1,000 mismatched keys, reconciled and then reconciled again; then a later night
    that adds 4,000 more (5,000 in all, as every key ever expected or settled is classified each
    night). The work the database does (statements; VM instructions on SQLite, rows read on
    PostgreSQL) grows with the keys, not with their square: before the run was made join-free,
    SQLite scanned a CTE for every key (32,000 keys: about five minutes). No clock: counted."""
    world.setup()
    template = uuid.UUID(world.submit().json()["claim_id"])
    reconciliation = Reconciliation(world.gateway.sessions, window_days=WINDOW)
    measured = []
    total = 0
    for claims, day in ((250, date(2026, 6, 10)), (1_000, date(2026, 12, 10))):
        total += _mismatched_night(world, template, claims, 4, day)
        with counting(world.gateway.engine, this_thread=True) as work:
            first = reconciliation.run(day)
            again = reconciliation.run(day)
        assert first["counts"]["kinds"]["AMOUNT_MISMATCH"] == total
        assert again["counts"]["open"] == {"AMOUNT_MISMATCH": total}
        measured.append((total, work))
    (small, at_small), (large, at_large) = measured
    growth = large / small  # 5
    assert at_large.statements <= at_small.statements + 10, measured  # set-based: not one a key
    assert at_small.steps > 0
    assert at_large.steps / at_small.steps < 2 * growth, measured  # linear is ~5; quadratic ~25
