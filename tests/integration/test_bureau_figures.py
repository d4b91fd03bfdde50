"""The fund page's and the scorecards' kept monthly figures (migration 0035's triggers) equal
the live sums over the rows, fen for fen, as claims are coordinated, voided and replaced (into
another month) through the API with the sandbox payers, a member moves district and a mismatch
comes and goes; and equal what the migration's set-based backfill computes from scratch (the work queue's
kept totals too)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text, update

from gateway import storage
from gateway.domain.beijing_time import beijing_today
from gateway.services import fund
from gateway.services.scorecards import bucket, scorecards
from gateway.storage.figure_slots import SLOTTED, key_and_sums
from gateway.storage.tables import ClaimRow, FundPaidMonthRow, MemberRow, MismatchRow, utcnow
from ltc_sandbox.payer_set import SandboxPayers
from reconciliation.statements import import_statement
from tests.integration.test_corrections import half, void
from tests.integration.test_payers import drain
from tests.integration.world import World

KEPT = (
    "fund_paid_months", "fund_member_months", "fund_fixed_months", "scorecard_months", "decision_times",
    "queue_totals", "statement_months",
)  # fmt: skip
COUNTED = {
    "fund_paid_months": "payments",
    "fund_member_months": "claims",
    "fund_fixed_months": "benefits",
    "queue_totals": "items",
    "statement_months": "lines",
}


def _migration() -> Any:
    """Migration 0037, whose backfill is 0035's into slot 0."""
    path = Path(storage.__file__).parent / "migrations" / "versions" / "0037_figure_slots.py"
    spec = importlib.util.spec_from_file_location("figure_slots_0037", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kept_rows(session: Any) -> dict[str, set[tuple[Any, ...]]]:
    """Every kept figure that counts a row, summed over its slots (a group whose rows were all
    taken back is absent)."""
    found = {}
    slotted = {t.name: t for t in SLOTTED}
    for table in KEPT:
        if table in slotted:
            key, sums = key_and_sums(slotted[table])
            columns = ", ".join([*key, *(f"sum({c}) AS {c}" for c in sums)])
            query = f"SELECT {columns} FROM {table} GROUP BY {', '.join(key)}"
        else:
            query = f"SELECT * FROM {table}"
        rows = session.execute(text(query)).mappings().all()
        counted = COUNTED.get(table)
        found[table] = {
            tuple(sorted((k, int(v) if isinstance(v, Decimal) else v) for k, v in row.items()))
            for row in rows
            if (row[counted] if counted else (row.get("steps") or row.get("claims") or row.get("mismatches")))
        }
    return found


def _same(world: World) -> dict[str, Any]:
    """Kept and live figures of every year with claims, compared; the kept tables compared with
    a backfill from scratch (rolled back). The fund figures of the latest year are returned."""
    figures: dict[str, Any] = {}
    with world.gateway.sessions.begin() as session:
        years = {d.year for d in session.scalars(select(ClaimRow.period_start))} or {2026}
        for year in sorted(years):
            figures = fund.report(session, year)
            assert figures == fund.report(session, year, live=True), year
            assert scorecards(session, year) == scorecards(session, year, live=True), year
        kept = _kept_rows(session)
        dialect = session.get_bind().dialect.name
        migration = _migration()
        for statement in migration.backfill(dialect):
            session.execute(text(statement))
        assert _kept_rows(session) == kept
        session.rollback()
    return figures


def _paid(figures: dict[str, Any]) -> int:
    return sum(r["paid_fen"] for r in figures["by_month"])


def test_the_kept_figures_equal_the_live_sums_through_voids_and_replacements(
    world: World, sandboxes: SandboxPayers
) -> None:
    world.setup()
    number = "P3301020001-202611-000{}".format
    assert _paid(_same(world)) == 0
    first = world.submit(half(world, number(1), "2026-11-01", "2026-11-08", 8)).json()["claim_id"]
    drain(world)
    spans = (("2026-11-09", "2026-11-15", 7), ("2026-11-16", "2026-11-22", 7))
    second, third = (
        world.submit(half(world, number(n), *s)).json()["claim_id"] for n, s in enumerate(spans, 2)
    )
    drain(world)
    coordinated = _same(world)
    assert _paid(coordinated) > 0 and coordinated["fixed"] and coordinated["member"]
    with world.gateway.sessions.begin() as session:
        cards = scorecards(session, 2026)
        assert sum(c["claims"] for c in cards) >= 3 and all(c["median_seconds"] is not None for c in cards)

    assert void(world, first).status_code == 200  # its payments taken back, the annuity moved
    drain(world)
    voided = _same(world)
    assert 0 < _paid(voided) < _paid(coordinated)

    # the third claim replaced by a version of October: its steps change month, its lines again
    october = {
        **half(world, number(3), "2026-10-16", "2026-10-21", 6),
        "period": {"start": "2026-10-01", "end": "2026-10-31"},
    }
    answer = world.post(f"/v1/claims/{third}/replace", october, world.provider)
    assert answer.status_code == 202, answer.text
    drain(world)
    replaced = _same(world)
    assert any(r["month"] == "2026-10" for r in replaced["by_month"])

    with world.gateway.sessions.begin() as session:  # the member moves: the district view follows
        member = session.get_one(ClaimRow, uuid.UUID(second)).member_id
        session.get_one(MemberRow, member).district = "330106"
    moved = _same(world)
    assert {r["value"] for r in moved["by"]["district"]} == {"330106"}

    with world.gateway.sessions.begin() as session:  # a mismatch counted against its payer's month
        today = utcnow().date()
        session.add(
            MismatchRow(
                kind="UNDERPAID", payer_code="huiminbao", claim_id=uuid.UUID(second), line_no=1,
                expected_fen=100, settled_fen=0, difference_fen=-100, status="open",
                first_seen=today, last_seen=today, last_run_id=0,
            )
        )  # fmt: skip
    _same(world)
    with world.gateway.sessions.begin() as session:  # resolved: the queue's kept totals follow
        assert session.scalar(select(FundPaidMonthRow.paid_fen).limit(1)) is not None
        session.execute(update(MismatchRow).values(status="resolved", difference_fen=-50))
    _same(world)
    with world.gateway.sessions.begin() as session:
        session.execute(delete(MismatchRow))
    _same(world)

    # a payer's statement: one line a day late (on time), one five days late
    today = beijing_today()

    def entry(line: int, late: int) -> dict[str, Any]:
        settled = (today - timedelta(days=late)).isoformat()
        return {
            "claim_id": second,
            "line_no": line,
            "paid_fen": 100,
            "payer_reference": f"t-{late}",
            "settled_on": settled,
        }

    lines = [entry(1, 1), entry(2, 5)]
    with world.gateway.sessions.begin() as session:
        import_statement(session, "huiminbao", json.dumps({"entries": lines}).encode(), "application/json")
    _same(world)
    with world.gateway.sessions.begin() as session:
        card = next(
            c for c in scorecards(session, today.year) if c["party"] == "huiminbao" and c["statement_lines"]
        )
    if (today - timedelta(days=5)).month == (today - timedelta(days=1)).month:
        assert (card["statement_lines"], card["on_time_rate"], card["mean_lag_days"]) == (2, 50.0, 3.0)


def test_decision_times_fall_in_buckets_of_a_second_a_minute_ten_minutes_an_hour() -> None:
    assert [bucket(s) for s in (0.4, 59.9996, 61, 3599, 3600.2, 86399, 90061.5)] == [
        0, 60, 60, 3540, 3600, 85800, 90000,
    ]  # fmt: skip
