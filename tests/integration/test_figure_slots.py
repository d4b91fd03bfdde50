"""The bureau's figure slots (migration 0037): on PostgreSQL two transactions raising the same
figures (a mismatch against the same payer and month) write rows of their own backends' slots and
do not wait on each other; the fold moves every slot into slot 0 and changes no figure."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from gateway.services import fund
from gateway.services.scorecards import scorecards
from gateway.storage.figure_slots import SLOTTED, fold, key_and_sums
from gateway.storage.tables import ClaimRow
from ltc_sandbox.generator import generate_night
from ltc_sandbox.payer_set import SandboxPayers
from reconciliation.run import Reconciliation
from tests.integration.test_bureau_figures import _kept_rows, _same
from tests.integration.test_corrections import half
from tests.integration.test_payers import drain
from tests.integration.world import World

MISMATCH = (
    "INSERT INTO mismatches (kind, payer_code, claim_id, line_no, expected_fen, settled_fen,"
    " difference_fen, status, first_seen, last_seen, last_run_id, created_at, updated_at)"
    " VALUES ('UNDERPAID', 'huiminbao', :claim, :line, 100, 0, -100, 'open', current_date, current_date, 0,"
    " now(), now())"
)


def _claimed(world: World) -> uuid.UUID:
    """A coordinated claim: its payments, steps and member share are in the figures."""
    world.setup()
    claim = world.submit(half(world, "P3301020001-202611-0001", "2026-11-01", "2026-11-08", 8))
    drain(world)
    return uuid.UUID(claim.json()["claim_id"])


def _apart(connections: list[Connection]) -> tuple[Connection, Connection] | None:
    """Two connections whose backends write different slots (pids apart mod 64)."""
    pids = []
    for connection in connections:
        pids.append(int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one()))
        connection.rollback()
    for n, pid in enumerate(pids[1:], 1):
        if pid % 64 != pids[0] % 64:
            return connections[0], connections[n]
    return None


def test_two_transactions_raising_the_same_figures_do_not_wait_on_each_other(
    world: World, sandboxes: SandboxPayers
) -> None:
    if world.gateway.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its figures keep slot 0")
    claim = _claimed(world)
    connections = [world.gateway.engine.connect() for _ in range(3)]
    try:
        pair = _apart(connections)
        if pair is None:
            pytest.skip("the backends' pids collide mod 64")
        first, second = pair
        first.begin()
        # scorecard_months (huiminbao, 2026, 11) and queue_totals (open, huiminbao, UNDERPAID)
        first.execute(text(MISMATCH), {"claim": claim, "line": 1})
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait fails the test, not hangs it
        second.execute(text(MISMATCH), {"claim": claim, "line": 2})
        # the first holds its own slot's row: writing that one would wait (the test can tell)
        slot = first.execute(text("SELECT 1 + pg_backend_pid() % 64")).scalar_one()
        with pytest.raises(OperationalError, match="lock timeout"), second.begin_nested():
            second.execute(
                text(
                    "INSERT INTO queue_totals (status, payer_code, kind, items, difference_fen, slot)"
                    " VALUES ('open', 'huiminbao', 'UNDERPAID', 0, 0, :slot) ON CONFLICT"
                    " (status, payer_code, kind, slot) DO UPDATE SET items = queue_totals.items"
                ),
                {"slot": slot},
            )
        second.commit()
        first.commit()
    finally:
        for connection in connections:
            connection.close()
    with world.gateway.sessions.begin() as session:
        slots = session.execute(
            text("SELECT slot, items FROM queue_totals WHERE payer_code = 'huiminbao' AND kind = 'UNDERPAID'")
        ).all()
    assert len(slots) == 2 and all(s != 0 and items == 1 for s, items in slots)
    _same(world)  # the figures summed over the slots equal the live sums


def test_the_fold_leaves_slot_0_alone_and_the_figures_as_they_were(
    world: World, sandboxes: SandboxPayers
) -> None:
    _claimed(world)
    with world.gateway.sessions.begin() as session:
        for table in SLOTTED:  # each key's figures copied to two more slots, plus and minus
            key, sums = key_and_sums(table)
            for spread, sign in ((-1, ""), (-2, "-")):
                session.execute(
                    text(
                        f"INSERT INTO {table.name} ({', '.join([*key, *sums, 'slot'])})"
                        f" SELECT {', '.join([*key, *(f'{sign}sum({c})' for c in sums)])}, {spread}"
                        f" FROM {table.name} WHERE slot >= 0 GROUP BY {', '.join(key)}"
                    )
                )
        session.execute(
            text(
                "INSERT INTO queue_totals (status, payer_code, kind, items, difference_fen, slot)"
                " VALUES ('open', 'nobody', 'UNDERPAID', 0, 0, 9)"
            )
        )
    before = _figures(world)
    with world.gateway.sessions.begin() as session:
        assert session.scalar(text("SELECT count(*) FROM fund_paid_months WHERE slot <> 0"))
        left = fold(session)
    assert left is not None and left["fund_paid_months"] > 0
    with world.gateway.sessions.begin() as session:
        for table in SLOTTED:
            assert session.scalar(text(f"SELECT count(*) FROM {table.name} WHERE slot <> 0")) == 0, table.name
        assert session.scalar(text("SELECT count(*) FROM queue_totals WHERE payer_code = 'nobody'")) == 0
    assert _figures(world) == before
    _same(world)


def _figures(world: World) -> Any:
    with world.gateway.sessions.begin() as session:
        years = sorted({d.year for d in session.scalars(select(ClaimRow.period_start))})
        return (
            _kept_rows(session),
            [fund.report(session, year) for year in years],
            [scorecards(session, year) for year in years],
        )


def _slotted_rows(world: World) -> int:
    with world.gateway.sessions.begin() as session:
        return sum(
            int(session.scalar(text(f"SELECT count(*) FROM {t.name} WHERE slot <> 0")) or 0) for t in SLOTTED
        )


def test_the_nightly_run_folds_the_slots(world: World) -> None:
    night = generate_night(world.gateway, claims_per_kind=2, matched_claims=3)
    postgres = world.gateway.engine.dialect.name == "postgresql"
    assert (_slotted_rows(world) > 0) == postgres  # the night's claims raised the figures of a slot
    before = _figures(world)
    run = Reconciliation(world.gateway.sessions).run(night.business_date)
    assert run["status"] == "done" and _slotted_rows(world) == 0
    after = _figures(world)  # the run's mismatches are in the queue's totals; nothing else moved
    assert (after[0]["fund_paid_months"], after[1]) == (before[0]["fund_paid_months"], before[1])
    _same(world)
