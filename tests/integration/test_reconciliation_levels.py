"""Reconciliation in two levels on both databases: totals per payer, clearing category and period
first; line by line only where they differ (and then exactly as before); a totals-only payer; the
hsa sandbox's totals (3201) and detail by files (9101/3202/9102) with signatures and SM4 on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import delete, text, update

from adapters import registry
from adapters.sdk import Capabilities, StatementEntry, TransientError
from adapters.sdk_totals import PeriodTotals
from gateway.ledger import business_date
from gateway.services.keys import Role
from gateway.storage.tables import PayerRow, ReconciliationTotalsRow
from ltc_sandbox.generator import generate_night
from ltc_sandbox.payer_set import HSA_ADMIN, SandboxPayers
from reconciliation.run import Reconciliation
from reconciliation.statements import entries_document, import_statement
from tests.integration.test_cli import ltc
from tests.integration.test_hsa_profile import hsa, platform  # noqa: F401 (the fixture)
from tests.integration.test_payers import drain
from tests.integration.world import World

Key = tuple[str, str, int]


def night_run(world: World) -> Reconciliation:
    return Reconciliation(world.gateway.sessions, window_days=world.gateway.settings.settlement_window_days)


def expected(world: World) -> dict[Key, int]:
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            text("SELECT payer_code, claim_id, line_no, SUM(amount_fen) FROM ledger_entries GROUP BY 1, 2, 3")
        )
        return {(p, str(uuid.UUID(str(c))), int(n)): int(fen) for p, c, n, fen in rows if fen}


def settle(world: World, payer: str, lines: dict[Key, int], reference: str) -> None:
    day = str(business_date())
    entries = [StatementEntry(c, n, fen, reference, day) for (p, c, n), fen in lines.items() if p == payer]
    with world.gateway.sessions.begin() as session:
        import_statement(session, payer, entries_document(entries), "application/json")


def kept(world: World, run_id: int) -> set[tuple[str, str, str, int]]:
    with world.gateway.sessions.begin() as session:
        rows = session.execute(
            text("SELECT kind, payer_code, claim_id, line_no FROM reconciliation_results WHERE run_id = :r"),
            {"r": run_id},
        )
        return {(k, p, str(uuid.UUID(str(c))), int(n)) for k, p, c, n in rows}


def levels(result: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for g in result["levels"]:
        found.setdefault(g["payer_code"], set()).add((g["level_1"], g["level_2"]))
    return found


def test_agreed_totals_do_no_line_work_and_a_differing_group_is_matched_line_by_line(
    world: World, tmp_path: Path
) -> None:
    world.setup()
    world.submit()
    drain(world)
    ledger = expected(world)
    payers = sorted({p for p, *_ in ledger})
    for payer in payers:
        settle(world, payer, ledger, f"{payer}-1")
    first = night_run(world).run(business_date())
    assert levels(first) == {p: {("agreed", "skipped")} for p in payers}
    assert first["counts"]["levels"]["keys_examined"] == 0  # no key was read line by line
    assert first["counts"]["kinds"] == {} and kept(world, first["run_id"]) == set()
    categories = {(g["category"], g["period"], g["source"]) for g in first["levels"]}
    assert categories == {("institutional", "2026-11", "lines"), ("claim_level", "2026-11", "lines")}
    for group in first["levels"]:
        lines = [
            k
            for k in ledger
            if k[0] == group["payer_code"] and (k[2] == 0) == (group["category"] == "claim_level")
        ]
        assert group["gateway"]["count"] == group["payer"]["count"] == len(lines)

    # one payer settles one line 1.00 short: only its group goes to the line level, which finds it
    short = next(k for k in sorted(ledger) if k[0] == payers[-1])
    settle(world, payers[-1], {short: -100}, f"{payers[-1]}-short")
    second = night_run(world).run(business_date())
    assert [(g["payer_code"], g["level_2"]) for g in second["levels"] if g["level_1"] == "differed"] == [
        (payers[-1], "matched")
    ]
    assert kept(world, second["run_id"]) == {("AMOUNT_MISMATCH", *short)}
    examined = second["counts"]["levels"]["keys_examined"]
    assert examined == len([k for k in ledger if k[0] == payers[-1] and (k[2] == 0) == (short[2] == 0)])
    (differed,) = [g for g in second["levels"] if g["level_1"] == "differed"]
    assert differed["category"] == ("claim_level" if short[2] == 0 else "institutional")
    assert differed["found"] == {"AMOUNT_MISMATCH": 1}
    assert differed["payer"]["paid_fen"] == differed["gateway"]["paid_fen"] - 100

    again = night_run(world).run(business_date())  # idempotent: the same levels, the same items
    assert again["levels"] == second["levels"] and again["counts"]["open"] == second["counts"]["open"]
    assert kept(world, again["run_id"]) == kept(world, second["run_id"])
    api = world.get(f"/v1/reconciliation/runs/{again['run_id']}", world.key(Role.RECONCILER, "r1"))
    assert api.status_code == 200 and api.json()["levels"] == again["levels"]
    cli = ltc(
        "reconcile", "--date", str(business_date()), url=world.gateway.settings.database_url, cwd=tmp_path
    )
    assert cli.returncode == 0, cli.stderr
    assert f"{differed['category']:<14} 2026-11  differed          -100 found AMOUNT_MISMATCH 1" in cli.stdout
    assert f"keys matched line by line: {examined} (" in cli.stdout, cli.stdout


def test_the_line_level_within_a_scope_finds_what_it_finds_over_everything(world: World) -> None:
    """A generated night (every kind of mismatch): the groups that differ are matched line by
    line with exactly the results the unscoped classification gives for their keys."""
    night = generate_night(world.gateway, claims_per_kind=1, matched_claims=2)
    reconciliation = night_run(world)
    scoped = reconciliation.run(night.business_date)
    differing = {
        (g["payer_code"], g["category"], g["period"]) for g in scoped["levels"] if g["level_1"] == "differed"
    }
    assert differing and len(differing) < len(scoped["levels"])  # a scope, not everything
    with world.gateway.sessions.begin() as session:  # level 1 forgotten: every key classified
        session.execute(
            delete(ReconciliationTotalsRow).where(ReconciliationTotalsRow.run_id == scoped["run_id"])
        )
        attributed = {
            str(uuid.UUID(str(c))): (setting, str(start)[:7])
            for c, setting, start in session.execute(
                text(
                    "SELECT c.claim_id, cl.setting, c.period_start "
                    "FROM claims c JOIN claim_lines cl ON cl.claim_id = c.claim_id"
                )
            )
        }
    reconciliation._results(scoped["run_id"], night.business_date)
    everything = kept(world, scoped["run_id"])

    def group(item: tuple[str, str, str, int]) -> tuple[str, str, str]:
        setting, month = attributed.get(item[2], ("unknown", "unknown"))
        return (item[1], setting if item[3] else "claim_level", month)

    in_scope = {i for i in everything if i[1] == "*" or group(i) in differing}
    assert in_scope == night.expected
    rerun = reconciliation.run(night.business_date)  # level 1 again: the scoped results
    assert kept(world, rerun["run_id"]) == in_scope
    # level 1's pass classified the keys (unwatched); watched, level 2 classifies them after it,
    # a payer at a time: the same mismatches kept, the same counts
    watched = reconciliation.run(night.business_date, lines=lambda *report: None)
    assert kept(world, watched["run_id"]) == in_scope
    assert watched["counts"]["kinds"] == rerun["counts"]["kinds"] == scoped["counts"]["kinds"]
    assert watched["counts"]["levels"] == rerun["counts"]["levels"]
    assert watched["levels"] == rerun["levels"]
    assert not any(k.startswith("classified") for k in rerun["counts"])  # nothing left between phases


class TotalsOnly:
    """A payer whose adapter answers totals and nothing else (no statements, no detail)."""

    capabilities = Capabilities(pulls_statements=False, pulls_totals=True)
    answers: ClassVar[dict[str, int]] = {"short_fen": 0}

    def __init__(self, payer_code: str, config: Any) -> None:
        self.payer_code = payer_code

    async def pull_totals(self, business_date: date, ours: tuple[PeriodTotals, ...]) -> list[PeriodTotals]:
        if self.answers.get("fail"):
            raise TransientError("the payer is down")
        short = self.answers["short_fen"]
        return [PeriodTotals(t.category, t.period, t.count, t.paid_fen - short) for t in ours]

    async def deliver_assessment(self, notice: Any) -> None:
        return None

    async def submit_share(self, request: Any) -> Any:
        raise NotImplementedError

    async def fetch_decision(self, idempotency_key: str) -> Any:
        raise NotImplementedError

    async def submit_adjustment(self, notice: Any) -> None:
        return None

    async def submit_void(self, notice: Any) -> None:
        return None

    async def pull_statement(self, business_date: date) -> list[Any]:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


@pytest.fixture
def totals_only(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[TotalsOnly]]:
    monkeypatch.setitem(registry.BUNDLED, "totals-only", TotalsOnly)
    yield TotalsOnly
    TotalsOnly.answers.update(short_fen=0, fail=0)


def test_a_payer_that_sends_totals_only(
    world: World, totals_only: type[TotalsOnly], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.setup()
    world.submit()
    drain(world)
    with world.gateway.sessions.begin() as session:
        session.execute(
            update(PayerRow).where(PayerRow.payer_code == "acme-life").values(adapter={"type": "totals-only"})
        )
    first = night_run(world).run(business_date())
    acme = [g for g in first["levels"] if g["payer_code"] == "acme-life"]
    assert {(g["source"], g["level_1"], g["level_2"]) for g in acme} == {("payer", "agreed", "skipped")}
    assert first["counts"]["totals_pulled"]["acme-life"] == f"totals of {len(acme)} groups"

    totals_only.answers["short_fen"] = 500  # every group 5.00 short: reported, no lines to match
    second = night_run(world).run(business_date())
    acme = [g for g in second["levels"] if g["payer_code"] == "acme-life"]
    assert {(g["level_1"], g["level_2"]) for g in acme} == {("differed", "unavailable")}
    assert all(g["gateway"]["paid_fen"] - g["payer"]["paid_fen"] == 500 and g["found"] == {} for g in acme)
    assert not {i for i in kept(world, second["run_id"]) if i[1] == "acme-life"}
    assert second["counts"]["levels"]["groups_unavailable"] == len(acme)

    # a payer that would answer detail but whose totals cannot be pulled tonight: its lines are
    # not matched against nothing (every key would be missing at the payer), the groups wait
    monkeypatch.setattr(TotalsOnly, "capabilities", Capabilities(False, pulls_totals=True, pulls_detail=True))
    totals_only.answers["fail"] = 1
    third = night_run(world).run(business_date())
    assert third["counts"]["totals_pulled"]["acme-life"].startswith("totals not pulled: the payer is down")
    acme = [g for g in third["levels"] if g["payer_code"] == "acme-life"]
    assert {(g["source"], g["level_1"], g["level_2"]) for g in acme} == {("lines", "differed", "unavailable")}


def test_the_hsa_payer_reconciles_by_3201_and_where_totals_differ_by_3202_files(
    world: World,
    hsa: SandboxPayers,  # noqa: F811
) -> None:
    world.setup()
    world.submit()
    drain(world)
    east = hsa.payers[HSA_ADMIN]
    first = night_run(world).run(business_date())
    (group,) = [g for g in first["levels"] if g["payer_code"] == HSA_ADMIN]
    assert (group["source"], group["level_1"], group["level_2"]) == ("payer", "agreed", "skipped")
    sent = [t["infno"] for t in platform(hsa).transmissions]
    assert "3201" in sent and "9101" not in sent  # totals agree: no detail asked

    east.settled[0] = {
        **east.settled[0],
        "paid_fen": east.settled[0]["paid_fen"] - 100,
    }  # the platform's figure
    second = night_run(world).run(business_date())
    (group,) = [g for g in second["levels"] if g["payer_code"] == HSA_ADMIN]
    assert (group["level_1"], group["level_2"], group["found"]) == (
        "differed",
        "matched",
        {"AMOUNT_MISMATCH": 1},
    )
    short = (HSA_ADMIN, str(east.settled[0]["claim_id"]), int(east.settled[0]["line_no"]))
    assert {i for i in kept(world, second["run_id"]) if i[1] == HSA_ADMIN} == {("AMOUNT_MISMATCH", *short)}
    sent = [t["infno"] for t in platform(hsa).transmissions]
    assert sent[-4:] == ["3201", "9101", "3202", "9102"]  # totals, then the detail by files
    assert platform(hsa).refused == []  # every signature verified, every input decrypted (SM4)
    assert all(isinstance(t["input"], str) for t in platform(hsa).transmissions)  # encrypted on the wire

    again = night_run(world).run(business_date())  # idempotent: the same detail is not imported twice
    assert again["levels"] == second["levels"]
    assert "the same" in again["counts"]["totals_pulled"][f"detail {HSA_ADMIN} institutional 2026-11"]
