"""Level 1 of the nightly run (domain.md section 6, as the medical-security platform reconciles):
per payer, clearing category and period, the count of lines and their sums the gateway expects
beside the payer's; a group whose totals agree is agreed without line work, one that differs
goes to level 2 (line by line, ``reconciliation.sql.classify``).

A payer's totals are its own where its adapter answers them (``Capabilities.pulls_totals``),
otherwise summed here from its statement lines (which still spares level 2 every group that
agrees). Where a payer's totals differ and it answers detail (``pulls_detail``), its lines of that
group are fetched and imported as a pulled statement before level 2. A payer that answers totals
only, with no lines of a differing group, has that group reported, not matched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.registry import AdapterPool, capabilities
from adapters.sdk import AdapterError, StatementEntry
from adapters.sdk_totals import ExpectedLine, PeriodTotals, PullsDetail, PullsTotals
from gateway.errors import Conflict, ServiceError
from gateway.storage.tables import PayerRow, ReconciliationTotalsRow
from reconciliation.sql.classify import FORGET_RESULTS, KEY_KINDS
from reconciliation.sql.one_pass import one_pass
from reconciliation.sql.totals import expected_lines, level_one
from reconciliation.sql.tuning import for_bulk
from reconciliation.statements import entries_document, import_statement

Key = tuple[str, str, str]  # payer, category, period
Figures = tuple[int, int, int | None]  # count, fen, billed fen (None: not reported)
MAX_DETAIL_LINES = 500_000  # the lines of one group sent for detail (a city's month is far fewer)


@dataclass(frozen=True)
class GroupTotals:
    payer_code: str
    category: str
    period: str
    source: str  # payer | lines
    gateway: Figures
    payer: Figures
    line_level: str  # skipped (agreed) | matched | unavailable (totals only)

    @property
    def agreed(self) -> bool:
        count, fen, billed = self.payer
        return (count, fen) == self.gateway[:2] and (billed is None or billed == self.gateway[2])


def compare(
    ours: Mapping[Key, Figures],
    lines: Mapping[Key, Figures],
    pulled: Mapping[str, list[PeriodTotals]],
    matchable: Mapping[str, bool],
) -> list[GroupTotals]:
    """Every group either side knows, compared. ``lines``: payers' totals summed from their
    statement lines; ``pulled``: the payers that answered their own (they replace the sums);
    ``matchable``: per payer, whether a differing group can be matched line by line although
    it has no statement lines (it answers detail, or pulls statements)."""
    theirs: dict[Key, tuple[str, Figures]] = {k: ("lines", v) for k, v in lines.items() if k[0] not in pulled}
    for payer, totals in pulled.items():
        for t in totals:
            key = (payer, t.category, t.period)
            count, fen, billed = theirs.get(key, ("payer", (0, 0, None)))[1]
            # a payer that answers a group twice is summed (two insurance types of one category)
            theirs[key] = ("payer", (count + t.count, fen + t.paid_fen, _plus(billed, t.billed_fen)))
    groups = []
    for key in sorted(set(ours) | set(theirs)):
        payer = key[0]
        source, figures = theirs.get(key, ("payer" if payer in pulled else "lines", (0, 0, None)))
        group = GroupTotals(*key, source, ours.get(key, (0, 0, 0)), figures, "skipped")
        if not group.agreed:
            has_lines = key in lines or matchable.get(payer, True)
            group = GroupTotals(
                *key, source, group.gateway, figures, "matched" if has_lines else "unavailable"
            )
        groups.append(group)
    return groups


def _plus(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


class TotalsLevel:
    """Level 1 for a run: computed, pulled, compared and kept in ``reconciliation_totals``."""

    def __init__(self, sessions: sessionmaker[Session], clearing: str, pool: AdapterPool | None) -> None:
        self.sessions = sessions
        self.clearing = clearing
        self.pool = pool

    def run(
        self, run_id: int, business_date: date, window_start: date | None = None
    ) -> tuple[dict[str, Any], dict[str, int] | None]:
        """The groups of the date compared and stored (a rerun replaces them); what was pulled.
        With ``window_start`` the keys are classified in the same pass (``one_pass``) and their
        mismatches kept for the run: then also how many keys of each kind the groups whose totals
        differ hold (level 2's counts), or None where lines were pulled after the pass (detail)
        and level 2 must classify afresh."""
        kinds: dict[Key, Counter[str]] = {}
        with self.sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            for_bulk(session)
            if window_start is None:
                rows = session.execute(level_one(dialect, self.clearing), {"d": business_date}).all()
            else:
                session.execute(FORGET_RESULTS, {"run": run_id})
                params = {"d": business_date, "window_start": window_start, "run": run_id}
                *keep, summary = one_pass(dialect, self.clearing)
                for statement in keep:
                    session.execute(statement, params)
                rows = session.execute(summary, params).all()
            ours: dict[Key, Figures] = {}
            lines: dict[Key, Figures] = {}
            for p, c, m, e_n, e_count, e_fen, e_billed, s_n, s_count, s_fen, *of_kind in rows:
                key = (str(p), str(c), str(m))
                if e_n:
                    ours[key] = (int(e_count), int(e_fen), int(e_billed))
                if s_n:
                    lines[key] = (int(s_count), int(s_fen), None)
                if of_kind:
                    kinds[key] = Counter({k: int(n) for k, n in zip(KEY_KINDS, of_kind, strict=True) if n})
            adapters = {
                row.payer_code: (row.adapter, capabilities(row.adapter))
                for row in session.scalars(select(PayerRow).order_by(PayerRow.payer_code))
            }
        # a totals-only payer's differing group has no lines to match unless it uploaded some
        matchable = {
            p: not c.pulls_totals or c.pulls_detail or c.pulls_statements for p, (_, c) in adapters.items()
        }
        totals_payers = [(p, a) for p, (a, c) in adapters.items() if c.pulls_totals]
        notes: dict[str, str] = {}
        pulled: dict[str, list[PeriodTotals]] = {}
        if totals_payers:
            pulled, notes = asyncio.run(self._pull_totals(totals_payers, business_date, ours))
        for payer, _ in totals_payers:  # totals not answered tonight: only lines it sent are matched
            if payer not in pulled and not adapters[payer][1].pulls_statements:
                matchable[payer] = False
        groups = compare(ours, lines, pulled, matchable)
        detail = [
            g
            for g in groups
            if g.line_level == "matched" and g.source == "payer" and adapters[g.payer_code][1].pulls_detail
        ]
        if detail:
            notes.update(self._pull_detail(detail, adapters, business_date))
        classified: Counter[str] | None = None
        if window_start is not None and not detail:  # level 2's keys: those of the differing groups
            classified = Counter()
            for g in groups:
                if g.line_level == "matched":
                    classified.update(kinds.get((g.payer_code, g.category, g.period), {}))
        with self.sessions.begin() as session:
            session.execute(delete(ReconciliationTotalsRow).where(ReconciliationTotalsRow.run_id == run_id))
            session.add_all(
                ReconciliationTotalsRow(
                    run_id=run_id,
                    payer_code=g.payer_code,
                    category=g.category,
                    period=g.period,
                    source=g.source,
                    gateway_count=g.gateway[0],
                    gateway_fen=g.gateway[1],
                    gateway_billed_fen=g.gateway[2] or 0,
                    payer_count=g.payer[0],
                    payer_fen=g.payer[1],
                    payer_billed_fen=g.payer[2],
                    agreed=g.agreed,
                    line_level=g.line_level,
                    found={},
                )
                for g in groups
            )
        return notes, None if classified is None else dict(classified)

    async def _pull_totals(
        self, payers: list[tuple[str, Any]], business_date: date, ours: Mapping[Key, Figures]
    ) -> tuple[dict[str, list[PeriodTotals]], dict[str, str]]:
        pulled: dict[str, list[PeriodTotals]] = {}
        notes: dict[str, str] = {}
        pool = self.pool or AdapterPool()
        try:
            for payer_code, config in payers:
                mine = tuple(
                    PeriodTotals(c, m, n, fen, billed)
                    for (p, c, m), (n, fen, billed) in ours.items()
                    if p == payer_code
                )
                try:  # declared by its capabilities; the pool's wrapper forwards the call
                    adapter = pool.get(payer_code, config)
                    pulled[payer_code] = await cast(PullsTotals, adapter).pull_totals(business_date, mine)
                    notes[payer_code] = f"totals of {len(pulled[payer_code])} groups"
                except AdapterError as error:  # compared from its statement lines, if any
                    notes[payer_code] = f"totals not pulled: {error}"[:300]
        finally:
            if self.pool is None:
                await pool.aclose()
        return pulled, notes

    def _pull_detail(
        self, groups: list[GroupTotals], adapters: Mapping[str, tuple[Any, Any]], business_date: date
    ) -> dict[str, str]:
        """A differing group's lines from a payer that answers detail, imported as pulled."""
        wanted: list[tuple[GroupTotals, tuple[ExpectedLine, ...]]] = []
        with self.sessions.begin() as session:
            query = expected_lines(session.get_bind().dialect.name, self.clearing)
            for g in groups:
                rows = session.execute(
                    query.execution_options(yield_per=10_000),
                    {"d": business_date, "payer": g.payer_code, "category": g.category, "period": g.period},
                )
                ours = tuple(
                    ExpectedLine(str(uuid.UUID(str(c))), int(n), int(fen))
                    for c, n, fen in rows.fetchmany(MAX_DETAIL_LINES + 1)
                )
                rows.close()
                wanted.append((g, ours))
        answers = asyncio.run(self._detail(wanted, adapters, business_date))
        notes: dict[str, str] = {}
        for (g, _), answer in zip(wanted, answers, strict=True):
            where = f"{g.payer_code} {g.category} {g.period}"
            if isinstance(answer, str):
                notes[f"detail {where}"] = answer
                continue
            try:
                with self.sessions.begin() as session:
                    outcome = import_statement(
                        session, g.payer_code, entries_document(answer), "application/json", "pull"
                    )
                notes[f"detail {where}"] = f"{outcome['imported']} new entries of {len(answer)}"
            except Conflict:
                notes[f"detail {where}"] = f"the same {len(answer)} entries as before"
            except ServiceError as error:
                notes[f"detail {where}"] = error.detail[:300]
        return notes

    async def _detail(
        self,
        wanted: list[tuple[GroupTotals, tuple[ExpectedLine, ...]]],
        adapters: Mapping[str, tuple[Any, Any]],
        business_date: date,
    ) -> list[list[StatementEntry] | str]:
        answers: list[list[StatementEntry] | str] = []
        pool = self.pool or AdapterPool()
        try:
            for g, ours in wanted:
                if len(ours) > MAX_DETAIL_LINES:
                    answers.append(f"not pulled: more than {MAX_DETAIL_LINES} lines in one group")
                    continue
                totals = PeriodTotals(g.category, g.period, *g.gateway)
                try:
                    adapter = pool.get(g.payer_code, adapters[g.payer_code][0])
                    answers.append(await cast(PullsDetail, adapter).pull_detail(business_date, totals, ours))
                except AdapterError as error:
                    answers.append(f"not pulled: {error}"[:300])
        finally:
            if self.pool is None:
                await pool.aclose()
        return answers
