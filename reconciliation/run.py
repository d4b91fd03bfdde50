"""The nightly run for a business date: pull statements, compare totals per payer, clearing
category and period (level 1, ``reconciliation.totals``), then every payer-line key of the groups
whose totals differ classified set-based in SQL (level 2), then the work queue brought up to date.

Each phase is one transaction and idempotent, and the run row records the next phase, so a run
that crashed resumes where it stopped; running a date again recomputes it and finds the same
open items (an item is identified by its kind, key and amounts). One run per business date works
at a time: the run row is leased. The phases' SQL is in ``reconciliation.sql``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adapters.registry import AdapterPool, capabilities
from adapters.sdk import AdapterError
from gateway import audit
from gateway.errors import Conflict, Invalid, ServiceError
from gateway.ledger import business_date as beijing_today
from gateway.storage.figure_slots import fold
from gateway.storage.tables import PayerRow, ReconciliationRunRow, ReconciliationTotalsRow, utcnow
from reconciliation.dates import business_date_faults
from reconciliation.matching import ACROSS_PAYERS, NOTHING
from reconciliation.report import PHASES, levels_of, run_view
from reconciliation.sql.classify import (
    CLASSIFY,
    CLASSIFY_AND_SUM,
    FORGET_RESULTS,
    KEPT_OF_KIND,
    KEY_KINDS,
    OVER_COORDINATED,
    SUM,
    one_payer,
    scoped_statements,
)
from reconciliation.sql.items import ITEM_NOTES, ITEM_STATEMENTS, NEW_MISMATCHES, OPEN_BY_KIND
from reconciliation.sql.one_pass import trim
from reconciliation.sql.totals import SCOPE_TABLE, fill_scope, found_by_group
from reconciliation.sql.tuning import for_bulk
from reconciliation.statements import entries_document, import_statement
from reconciliation.totals import TotalsLevel

log = logging.getLogger("ltc_gateway.reconciliation")

CLASSIFIED = "classified_by_level_one"  # run.counts between the two phases: kinds of the scope's keys
Progress = Callable[[str, int, int], None]  # phase, done, total (phases; or a phase's lines)


def _quiet(phase: str, done: int, total: int) -> None:
    return None


class Reconciliation:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        window_days: int = 5,
        lease_seconds: int = 600,
        pool: AdapterPool | None = None,
        owner: str | None = None,
        clearing: str = "setting",
    ) -> None:
        self.sessions = sessions
        self.clearing = clearing  # level 1's clearing category (docs/reconciliation.md)
        self.window = timedelta(days=window_days)
        self.lease = timedelta(seconds=lease_seconds)
        self.pool = pool
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lines: Progress = _quiet  # a phase's lines done of its lines (set by ``run``)

    def start(self, business_date: date, rerun: bool = True, actor: str = "system") -> int:
        """The run row of the date, leased to this runner (created, or resumed). ``rerun=False``
        (a scheduler): a date already done is left alone (Conflict). ``actor``: who started it."""
        faults = business_date_faults(business_date, beijing_today())
        if faults:
            raise Invalid(faults)
        now = utcnow()
        with self.sessions.begin() as session:
            try:
                with session.begin_nested():
                    session.add(
                        ReconciliationRunRow(
                            business_date=business_date,
                            status="running",
                            phase=PHASES[0],
                            counts={},
                            totals=[],
                        )
                    )
            except IntegrityError:
                pass
            run = session.scalars(
                select(ReconciliationRunRow)
                .where(ReconciliationRunRow.business_date == business_date)
                .with_for_update()
            ).one()
            if (
                run.status == "running"
                and run.lease_owner not in (None, self.owner)
                and (run.lease_expires_at is not None and run.lease_expires_at > now)
            ):
                raise Conflict(f"the run for {business_date} is already working ({run.lease_owner})")
            if run.status == "done" and not rerun:
                raise Conflict(f"the run for {business_date} is already done")
            ours = run.status == "running" and run.lease_owner == self.owner  # start, then run
            before = {"status": run.status, "phase": run.phase} if run.runs else None
            if run.status in ("done", "failed"):  # a date run again is recomputed from the start
                run.phase = PHASES[0]
            run.status, run.error, run.finished_at = "running", None, None
            run.lease_owner, run.lease_expires_at = self.owner, now + self.lease
            run.runs += 1
            if not ours:
                after = {"status": run.status, "phase": run.phase, "runs": run.runs}
                self._audit(session, run, "started", actor, before, after)
            return run.id

    @staticmethod
    def _audit(
        session: Session,
        run: ReconciliationRunRow,
        what: str,
        actor: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        subject = f"reconciliation-run:{run.id}"
        day = run.business_date
        audit.record(
            session, f"reconciliation.{what}", subject, actor, business_date=day, before=before, after=after
        )

    def run(
        self,
        business_date: date,
        progress: Progress = _quiet,
        stop_after: str | None = None,
        rerun: bool = True,
        actor: str = "system",
        lines: Progress = _quiet,
    ) -> dict[str, Any]:
        """Run (or resume) the date; ``stop_after`` ends after that phase (tests of resumption).
        ``actor``: who started it (audited, with its start and its end). ``lines``: within the
        line-by-line phase, the lines classified so far of its lines, after each payer's."""
        self.lines = lines
        run_id = self.start(business_date, rerun, actor)
        try:
            while True:
                with self.sessions.begin() as session:
                    run = session.get_one(ReconciliationRunRow, run_id)
                    phase = run.phase
                if phase == "done":
                    break
                progress(phase, PHASES.index(phase), len(PHASES) - 1)
                getattr(self, f"_{phase}")(run_id, business_date)
                with self.sessions.begin() as session:
                    run = session.get_one(ReconciliationRunRow, run_id)
                    run.phase = PHASES[PHASES.index(phase) + 1]
                    run.lease_expires_at = utcnow() + self.lease
                if phase == stop_after:
                    return self.view(run_id)
            with self.sessions.begin() as session:
                run = session.get_one(ReconciliationRunRow, run_id)
                run.status, run.finished_at, run.lease_owner, run.lease_expires_at = (
                    "done",
                    utcnow(),
                    None,
                    None,
                )
                after = {"status": "done", "counts": run.counts, "totals": run.totals}
                self._audit(session, run, "finished", actor, {"status": "running"}, after)
            self._fold_figures()
            progress("done", len(PHASES) - 1, len(PHASES) - 1)
        except Exception as error:
            with self.sessions.begin() as session:
                run = session.get_one(ReconciliationRunRow, run_id)
                run.status, run.error, run.lease_owner = "failed", f"{type(error).__name__}: {error}", None
                # the kind of fault only: a message may quote whatever input caused it
                after = {"status": "failed", "phase": run.phase, "error": type(error).__name__}
                self._audit(session, run, "failed", actor, {"status": "running"}, after)
            raise
        return self.view(run_id)

    def _fold_figures(self) -> None:
        """Housekeeping after a run: the bureau's figure slots folded into one row a key (the
        figures do not change; a failure leaves the slots to the next night's run)."""
        try:
            with self.sessions.begin() as session:
                left = fold(session)
        except Exception:
            log.warning("the figure slots were not folded", exc_info=True)
            return
        if left is None:
            log.info("figure slots left to the fold at work")
        else:
            log.info("figure slots folded", extra={"figure_rows": sum(left.values())})

    # --- phases --------------------------------------------------------------------------------

    def _pull(self, run_id: int, business_date: date) -> None:
        """Statements of payers whose adapters declare that they are pulled (``pulls_statements``)."""
        with self.sessions.begin() as session:
            payers = [
                (row.payer_code, row.adapter)
                for row in session.scalars(select(PayerRow).order_by(PayerRow.payer_code))
                if capabilities(row.adapter).pulls_statements
            ]
        pulled: dict[str, Any] = {}
        if payers:
            pulled = asyncio.run(self._pull_all(payers, business_date))
        for payer_code, result in pulled.items():
            if isinstance(result, str):
                continue
            try:
                with self.sessions.begin() as session:
                    outcome = import_statement(
                        session, payer_code, entries_document(result), "application/json", "pull"
                    )
                pulled[payer_code] = f"{outcome['imported']} new entries"
            except ServiceError as error:
                pulled[payer_code] = error.detail
        with self.sessions.begin() as session:
            run = session.get_one(ReconciliationRunRow, run_id)
            run.counts = {**run.counts, "pulled": pulled}

    async def _pull_all(self, payers: list[tuple[str, Any]], business_date: date) -> dict[str, Any]:
        pool = self.pool or AdapterPool()
        results: dict[str, Any] = {}
        try:
            for payer_code, config in payers:
                try:
                    results[payer_code] = await pool.get(payer_code, config).pull_statement(business_date)
                except AdapterError as error:
                    results[payer_code] = f"not pulled: {error}"
        finally:
            if self.pool is None:
                await pool.aclose()
        return results

    def _totals(self, run_id: int, business_date: date) -> None:
        """Level 1: totals per payer, clearing category and period compared (and, where a payer
        answers detail, its lines of the groups that differ pulled)."""
        # unwatched, level 1's pass classifies the keys too (one pass, not two, on a night whose
        # totals differ); watched, level 2 classifies a payer at a time after it, to show progress
        window_start = business_date - self.window if self.lines is _quiet else None
        notes, classified = TotalsLevel(self.sessions, self.clearing, self.pool).run(
            run_id, business_date, window_start
        )
        with self.sessions.begin() as session:
            run = session.get_one(ReconciliationRunRow, run_id)
            counts = {k: v for k, v in run.counts.items() if k != CLASSIFIED}
            if classified is not None:
                counts[CLASSIFIED] = classified
            run.counts = {**counts, "totals_pulled": notes}

    def _results(self, run_id: int, business_date: date) -> None:
        """Level 2: the keys of the groups whose totals differ classified, the mismatches kept;
        per kind how many keys, per group what was found, per payer what was expected and
        settled (from level 1)."""
        with self.sessions.begin() as session:
            # level 1's pass classified the keys (the counts of its scope's keys): only the scope's
            # mismatches stay; else (watched, detail pulled since, resumed) level 2 classifies now
            classified = session.get_one(ReconciliationRunRow, run_id).counts.get(CLASSIFIED)
            dialect = session.get_bind().dialect.name
            for_bulk(session)  # its keys classified, over-coordinated lines found
            groups = list(
                session.scalars(
                    select(ReconciliationTotalsRow).where(ReconciliationTotalsRow.run_id == run_id)
                )
            )
            scope = [g for g in groups if g.line_level == "matched"]
            params = {"d": business_date, "window_start": business_date - self.window, "run": run_id}
            summary: list[Any] = []
            if classified is not None:
                if not scope:
                    session.execute(FORGET_RESULTS, {"run": run_id})
                elif len(scope) < len(groups):
                    fill_scope(session, dialect, [(g.payer_code, g.category, g.period) for g in scope])
                    session.execute(trim(dialect, self.clearing), {"run": run_id})
            else:
                session.execute(FORGET_RESULTS, {"run": run_id})
            if classified is None and (scope or not groups):
                # every group differs (or level 1 did not run: a run resumed from before it
                # existed): every key is classified, with no scope to look up per key
                sizes = Counter[str]()
                for g in scope:  # level 1 counted each group's lines on both sides
                    sizes[g.payer_code] += g.gateway_count + g.payer_count
                # someone watching (``lines``): a payer at a time when there are several (their
                # keys are apart), progress to show for a scan each (within noise of the CPU at
                # 250,000 lines: LTC_BENCH_WATCHED=1 python -m bench --only reconciliation)
                watched = self.lines is not _quiet and len(sizes) > 1
                chunks: list[tuple[str | None, int]] = (
                    sorted(sizes.items()) if watched else [(None, sum(sizes.values()))]
                )
                if len(scope) == len(groups):
                    both, classify, total = CLASSIFY_AND_SUM, CLASSIFY, SUM
                else:
                    both, classify, total = scoped_statements(dialect, self.clearing)
                    fill_scope(session, dialect, [(g.payer_code, g.category, g.period) for g in scope])
                summary = []
                done, of = 0, sum(n for _, n in chunks)
                for only, size in chunks:
                    one = {**params, "payer": only} if only else params
                    if dialect == "postgresql":
                        summary += session.execute(one_payer(both) if only else both, one).all()
                    else:
                        session.execute(one_payer(classify) if only else classify, one)
                        summary += session.execute(one_payer(total) if only else total, one).all()
                    done += size
                    self.lines("results", done, of)
            if dialect != "postgresql":
                session.execute(text(f"DROP TABLE IF EXISTS temp.{SCOPE_TABLE}"))
            session.execute(OVER_COORDINATED, {"d": business_date, "run": run_id, "across": ACROSS_PAYERS})
            counts: Counter[str] = Counter(classified or {})
            for _payer_code, _expected, _settled, *keys in summary:
                counts.update({kind: int(n) for kind, n in zip(KEY_KINDS, keys, strict=True) if n})
            examined = sum(counts.values())
            counts.pop(NOTHING, None)
            across = session.scalar(KEPT_OF_KIND, {"run": run_id, "kind": "OVER_COORDINATED"})
            if across:
                counts["OVER_COORDINATED"] = across
            found: dict[tuple[str, str, str], dict[str, int]] = {}
            for payer, category, period, kind, n in session.execute(
                found_by_group(dialect, self.clearing), {"run": run_id, "across": ACROSS_PAYERS}
            ):
                found.setdefault((payer, category, period), {})[kind] = int(n)
            totals: dict[str, list[int]] = {}
            for g in groups:
                g.found = found.get((g.payer_code, g.category, g.period), {})
                payer = totals.setdefault(g.payer_code, [0, 0])
                payer[0] += g.gateway_fen
                payer[1] += g.payer_fen
            run = session.get_one(ReconciliationRunRow, run_id)
            run.counts = {
                # the lines done of this phase (reconciliation/run_lines.py) end with it
                **{k: v for k, v in run.counts.items() if k not in (CLASSIFIED, "lines")},
                "kinds": dict(sorted(counts.items())),
                "levels": {
                    "groups_agreed": sum(1 for g in groups if g.agreed),
                    "groups_matched_by_line": len(scope),
                    "groups_unavailable": sum(1 for g in groups if g.line_level == "unavailable"),
                    "keys_examined": examined,
                },
            }
            run.totals = [
                {"payer_code": p, "expected_fen": e, "settled_fen": s, "difference_fen": s - e}
                for p, (e, s) in sorted(totals.items())
            ]

    def _items(self, run_id: int, business_date: date) -> None:
        """The queue follows the latest business date reconciled: a run of an earlier date (a
        late catch-up, a repeat) recomputes its own results and counts but leaves the queue as
        the later run left it, since every run sees everything settled and expected up to its
        date (its items would clear or reopen the later date's)."""
        with self.sessions.begin() as session:
            later = [
                run.business_date
                for run in session.scalars(
                    select(ReconciliationRunRow)
                    .where(ReconciliationRunRow.business_date > business_date)
                    .order_by(ReconciliationRunRow.business_date.desc())
                )
                if run.counts.get("queue") == "updated"
            ]
            if not later:
                if session.get_bind().dialect.name == "postgresql":
                    # the results were just written: without fresh statistics the planner takes
                    # them for an empty table and the correlated lookups below become scans
                    session.execute(text("ANALYZE reconciliation_results, mismatches"))
                NEW_MISMATCHES.create(session.connection())  # dropped below; a failure rolls it back
                params: dict[str, Any] = {"d": business_date, "run": run_id, "now": utcnow()}
                actor = f"run {run_id}"
                for n, statement in enumerate(ITEM_STATEMENTS):
                    note = ITEM_NOTES.get(n, "").format(date=business_date.isoformat())
                    names = statement._bindparams
                    session.execute(
                        statement,
                        {
                            **{k: v for k, v in params.items() if k in names},
                            **({"actor": actor, "note": note} if "actor" in names else {}),
                        },
                    )
                NEW_MISMATCHES.drop(session.connection())
            open_items: dict[str, int] = dict(session.execute(OPEN_BY_KIND).all())
            run = session.get_one(ReconciliationRunRow, run_id)
            run.counts = {
                **run.counts,
                "open": {k: int(v) for k, v in sorted(open_items.items())},
                "queue": f"left to the run of {later[0]}" if later else "updated",
            }

    def view(self, run_id: int) -> dict[str, Any]:
        with self.sessions.begin() as session:
            return run_view(session.get_one(ReconciliationRunRow, run_id), levels_of(session, run_id))
