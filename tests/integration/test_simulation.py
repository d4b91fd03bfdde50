"""Policy simulation on stored history (domain.md section 9), on SQLite and PostgreSQL: a
generated city run through the production path, replayed."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.bootstrap import Gateway
from gateway.simulation import city, history
from gateway.simulation.replay import MemberHistory, replay
from gateway.simulation.run import simulate
from gateway.storage.migrate import upgrade_engine
from gateway.storage.tables import (
    AuditEntryRow,
    Base,
    FixedBenefitRow,
    LinePaymentRow,
    PayerStepRow,
    SimulationRow,
)

MEMBERS = 14


def _city(gateway: Gateway) -> history.Period:
    upgrade_engine(gateway.engine)
    return city.generate(gateway, MEMBERS, seed=3, revised=0.3)


def test_a_simulation_with_the_products_unchanged_pays_exactly_what_production_paid_claim_by_claim(
    gateway: Gateway,
) -> None:
    period = _city(gateway)
    with gateway.sessions() as session:
        # production's payments as they stand, read here independently of the history reader
        production: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for claim_id, code, line_no, paid in session.execute(
            select(
                LinePaymentRow.claim_id,
                LinePaymentRow.product_code,
                LinePaymentRow.line_no,
                LinePaymentRow.paid_fen,
            ).where(LinePaymentRow.current.is_(True))
        ):
            production[str(claim_id)][code][line_no] = paid
        fixed: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for claim_id, code, month, amount in session.execute(
            select(
                FixedBenefitRow.claim_id,
                FixedBenefitRow.product_code,
                FixedBenefitRow.month,
                FixedBenefitRow.amount_fen,
            )
        ):
            fixed[str(claim_id)][code][month] = amount
        revisions = session.scalar(
            select(func.count()).select_from(PayerStepRow).where(PayerStepRow.round > 1)
        )
        members = list(history.histories(session, period))
        replayed = [o for h in members for o in replay(h, {})]
        # each claim replayed alone, without the member's other claims: where that differs, a limit
        # was carried across claims
        alone = [
            replay(MemberHistory(h.member, h.claims, tuple(r for r in h.rounds if r.claim == i)), {})[i]
            for h in members
            for i in range(len(h.claims))
        ]
    assert revisions, "the generated history holds payer revisions"
    assert len(replayed) == len(production)
    for outcome in replayed:
        claim = outcome.claim.claim_id
        assert {code: dict(lines) for code, lines in outcome.paid.items()} == production[claim], claim
        granted = {code: {m: a for m, a in months.items() if a} for code, months in outcome.fixed.items()}
        assert {c: m for c, m in granted.items() if m} == fixed.get(claim, {}), claim
    carried = [a for a, o in zip(alone, replayed, strict=True) if a.paid != o.paid]
    assert carried, "and limits carried across claims"


def test_a_simulation_writes_nothing_to_the_live_tables_and_is_stored_and_audited(gateway: Gateway) -> None:
    period = _city(gateway)

    def counts() -> dict[str, int]:
        with gateway.sessions() as session:
            return {
                name: int(session.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in Base.metadata.tables.items()
            }

    before = counts()
    draft = {"product_code": "CITY-LTCI-2025", "changes": {"eligibility": {"min_grade": 2}}}
    document = {
        "period": {"from": period.first, "to": period.last},
        "drafts": [draft],
        "funding": {"per_person_year_fen": 9000},
    }
    simulation_id, result = simulate(gateway.sessions, gateway.settings.database_url, document, "tester")
    after = counts()
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"simulations", "audit_log", "audit_head"}, changed
    assert after["simulations"] == before["simulations"] + 1
    with gateway.sessions() as session:
        row = session.get_one(SimulationRow, simulation_id)
        assert row.status == "done" and row.report == result and row.created_by == "tester"
        actions = list(
            session.scalars(
                select(AuditEntryRow.action)
                .where(AuditEntryRow.subject == f"simulation:{simulation_id}")
                .order_by(AuditEntryRow.at)
            )
        )
    assert actions == ["simulation.started", "simulation.done"]
    # the same inputs give the same figures
    _, again = simulate(gateway.sessions, gateway.settings.database_url, document, "tester")
    assert again == result
    assert result["tiers"]["tier 1"]["paid_fen"][1] >= result["tiers"]["tier 1"]["paid_fen"][0]


def test_simulate_on_a_generated_city_prints_the_report_as_tables_and_a_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    from ltc_gateway.cli import main

    draft = Path(__file__).parents[2] / "examples" / "drafts" / "tier1-75-percent-grade2.json"
    book = tmp_path / "report.xlsx"
    argv = ["simulate", "--generated", "4", "--draft", str(draft), "--processes", "1", "--xlsx", str(book)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "drafts: CITY-LTCI-2025" in out
    assert "Fund paid and member responsibility (yuan)" in out and "Tier 1 paid by month" in out
    sheets = load_workbook(book).sheetnames
    assert {"tiers", "products", "by month", "coverage gap", "funding"} <= set(sheets)


def test_simulate_refuses_a_bad_draft_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ltc_gateway.cli import main

    draft = tmp_path / "draft.json"
    draft.write_text(
        json.dumps({"product_code": "CITY-LTCI-2025", "changes": {"eligibility": {"min_grade": 7}}})
    )
    assert main(["simulate", "--generated", "1", "--draft", str(draft), "--processes", "1"]) == 2
    assert "/drafts/0/eligibility/min_grade" in capsys.readouterr().err


def test_members_replayed_in_parallel_processes_give_the_same_report_as_one_process(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    if gateway.engine.dialect.name != "sqlite":
        pytest.skip("once: the processes replay in memory; reading the history is tested on both databases")
    from gateway.simulation.run import Inputs, compute

    period = _city(gateway)
    monkeypatch.setattr(history, "SHARD", 2)  # blocks of 10 members: several shards for the processes
    url = gateway.settings.database_url
    alone = compute(gateway.sessions, url, Inputs(period), processes=1)
    together = compute(gateway.sessions, url, Inputs(period), processes=2)
    assert together == alone
    assert alone["claims"] > 0
