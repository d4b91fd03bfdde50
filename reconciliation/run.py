"""The nightly run for a business date: pull statements, then every payer-line key classified
set-based in SQL (the totals per payer come from the same pass), then the work queue brought up
to date.

Each phase is one transaction and idempotent, and the run row records the next phase, so a run
that crashed resumes where it stopped; running a date again recomputes it and finds the same
open items (an item is identified by its kind, key and amounts). One run per business date works
at a time: the run row is leased.
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

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adapters.registry import AdapterPool, capabilities
from adapters.sdk import AdapterError
from gateway import audit
from gateway.services.errors import Conflict, Invalid, ServiceError
from gateway.storage.tables import PayerRow, ReconciliationRunRow, UTCDateTime, utcnow
from reconciliation.dates import business_date_faults
from reconciliation.ledger import business_date as beijing_today
from reconciliation.matching import ACROSS_PAYERS, MISMATCHES, NOT_DUE, NOTHING, Kind
from reconciliation.statements import entries_document, import_statement

log = logging.getLogger("ltc_gateway.reconciliation")

PHASES = ("pull", "results", "items", "done")
ACTIVE = ("open", "pending_approval", "awaiting_payer", "carried")
Progress = Callable[[str, int, int], None]  # phase, done, total


def _quiet(phase: str, done: int, total: int) -> None:
    return None


# --- SQL (portable: SQLite ≥ 3.25 and PostgreSQL) ----------------------------------------------

# The decision table of reconciliation.matching.classify, for every payer-line key at once: one
# aggregation over both sources, no join between derived tables (SQLite builds no index on a CTE
# and would scan one for every key). Whether a settled figure is one the key was expected to
# settle before its latest ledger entry (STALE_COORDINATION) is asked only of the few keys that
# reach that rule, through the ledger's key index. Matched and not-yet-due keys are counted, not
# stored: every key ever expected or settled is classified each night.
_CLASSIFIED = """
    WITH facts AS (
        SELECT payer_code, claim_id, line_no, SUM(e_amount) AS expected, MIN(since) AS since,
               COUNT(e_amount) AS ledger_entries,
               SUM(s_amount) AS settled, COUNT(s_amount) AS entries,
               MAX(s_amount) AS largest, MIN(s_amount) AS smallest
        FROM (
            SELECT payer_code, claim_id, line_no, amount_fen AS e_amount, business_date AS since,
                   NULL AS s_amount
            FROM ledger_entries WHERE business_date <= :d
            UNION ALL
            SELECT payer_code, claim_id, line_no, NULL, NULL, paid_fen
            FROM statement_lines WHERE settled_on <= :d
        ) u
        GROUP BY payer_code, claim_id, line_no
    ), classified AS (
        SELECT payer_code, claim_id, line_no, expected, settled, entries,
            CASE
                WHEN expected IS NULL THEN 'UNKNOWN_AT_GATEWAY'
                WHEN settled IS NULL THEN
                    CASE WHEN expected = 0 THEN 'NOTHING'
                         WHEN since < :window_start THEN 'MISSING_AT_PAYER'
                         ELSE 'NOT_DUE' END
                WHEN settled = expected THEN 'MATCHED'
                WHEN entries > 1 AND expected > 0 AND largest = expected AND smallest = expected
                     AND settled = expected * entries THEN 'DUPLICATE_SETTLEMENT'
                WHEN ledger_entries > 1 AND EXISTS (
                    SELECT 1 FROM (
                        SELECT SUM(l.amount_fen) OVER (ORDER BY l.id
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS total,
                               ROW_NUMBER() OVER (ORDER BY l.id DESC) AS from_end
                        FROM ledger_entries l
                        WHERE l.payer_code = facts.payer_code AND l.claim_id = facts.claim_id
                          AND l.line_no = facts.line_no AND l.business_date <= :d
                    ) running
                    WHERE running.from_end > 1 AND running.total = facts.settled
                ) THEN 'STALE_COORDINATION'
                ELSE 'AMOUNT_MISMATCH'
            END AS kind
        FROM facts
    )"""
_KEEP = """
    INSERT INTO reconciliation_results
        (run_id, payer_code, claim_id, line_no, kind, expected_fen, settled_fen, entries)
    SELECT :run, payer_code, claim_id, line_no, kind, COALESCE(expected, 0), COALESCE(settled, 0), entries
    FROM classified WHERE kind NOT IN ('NOTHING', 'MATCHED', 'NOT_DUE')"""
# Per payer: what was expected and settled (the payer's totals), and how many keys of each kind.
# Grouped by payer alone: grouped by kind as well, the planner expects many groups and sorts a
# million keys (to disk) rather than hash a few.
KEY_KINDS = (*(k.value for k in Kind if k != Kind.OVER_COORDINATED), NOT_DUE, NOTHING)
_SUMMARY = f"""SELECT payer_code, SUM(expected), SUM(settled),
        {", ".join(f"COUNT(*) FILTER (WHERE kind = '{k}')" for k in KEY_KINDS)}
    FROM classified GROUP BY payer_code"""
_CLASSIFY_TYPES = (
    bindparam("d", type_=Date),
    bindparam("window_start", type_=Date),
    bindparam("run", type_=Integer),
)
# PostgreSQL keeps the items and sums up every key in one pass; SQLite has no INSERT in a WITH
# clause and classifies twice (it holds a demo's or a small city's keys, not millions).
CLASSIFY_AND_SUM = text(f"{_CLASSIFIED}, kept AS ({_KEEP}\n    RETURNING 1)\n    {_SUMMARY}").bindparams(
    *_CLASSIFY_TYPES
)
CLASSIFY = text(f"{_CLASSIFIED}{_KEEP}").bindparams(*_CLASSIFY_TYPES)
SUM = text(f"{_CLASSIFIED}\n    {_SUMMARY}").bindparams(*_CLASSIFY_TYPES[:2])

OVER_COORDINATED = text(
    """
    WITH st AS (
        SELECT claim_id, line_no, SUM(paid_fen) AS settled
        FROM statement_lines WHERE settled_on <= :d AND line_no > 0
        GROUP BY claim_id, line_no
    )
    INSERT INTO reconciliation_results
        (run_id, payer_code, claim_id, line_no, kind, expected_fen, settled_fen, entries)
    SELECT :run, :across, s.claim_id, s.line_no, 'OVER_COORDINATED', cl.billed_fen, s.settled, 0
    FROM st s JOIN claim_lines cl ON cl.claim_id = s.claim_id AND cl.line_no = s.line_no
    WHERE s.settled > cl.billed_fen
    """
).bindparams(bindparam("d", type_=Date), bindparam("run", type_=Integer), bindparam("across", type_=String))

_SAME_KEY = """r.run_id = :run AND r.kind = mismatches.kind AND r.payer_code = mismatches.payer_code
            AND r.claim_id = mismatches.claim_id AND r.line_no = mismatches.line_no"""
_ACTIVE = ", ".join(f"'{s}'" for s in ACTIVE)
_KINDS = ", ".join(f"'{k}'" for k in MISMATCHES)
_AUDIT = """INSERT INTO mismatch_actions
            (mismatch_id, action, actor, note, amount_fen, before_status, after_status, created_at)"""

# Which items the run reopens, finds with other amounts, and clears (each also audited).
_SEEN_AGAIN = f"""EXISTS (SELECT 1 FROM reconciliation_results r WHERE {_SAME_KEY}
                    AND r.expected_fen = mismatches.expected_fen
                    AND r.settled_fen = mismatches.settled_fen)"""
_REOPENS = f"((status = 'carried' AND last_seen < :d) OR status = 'cleared') AND {_SEEN_AGAIN}"
_MOVED = f"""status IN ({_ACTIVE}) AND last_run_id <> :run
          AND EXISTS (SELECT 1 FROM reconciliation_results r WHERE {_SAME_KEY})"""
_GONE = "status IN ('open', 'awaiting_payer', 'carried') AND last_run_id <> :run"

# The work queue brought up to date, set-based; every change of an item's state is audited with
# the run as its actor (people's actions are audited by reconciliation.queue).
_ITEMS_SQL = [
    text(
        f"""{_AUDIT}
        SELECT id, 'reopened', :actor, :note, difference_fen, status, 'open', :now FROM mismatches
        WHERE {_REOPENS}"""
    ),
    # the same item found again (same kind, key and amounts): seen today; a carried item reopens
    text(
        f"""
        UPDATE mismatches SET
            status = CASE WHEN status = 'carried' AND last_seen < :d THEN 'open'
                          WHEN status = 'cleared' THEN 'open' ELSE status END,
            last_seen = CASE WHEN last_seen < :d THEN :d ELSE last_seen END,
            last_run_id = :run, updated_at = :now
        WHERE {_SEEN_AGAIN}
        """
    ),
    text(
        f"""{_AUDIT}
        SELECT id, 'amounts_changed', :actor, :note,
               (SELECT r.settled_fen - r.expected_fen FROM reconciliation_results r WHERE {_SAME_KEY}),
               status, status, :now
        FROM mismatches WHERE {_MOVED}"""
    ),
    # an open problem whose amounts moved: the same item, with today's amounts
    text(
        f"""
        UPDATE mismatches SET
            expected_fen = (SELECT r.expected_fen FROM reconciliation_results r WHERE {_SAME_KEY}),
            settled_fen = (SELECT r.settled_fen FROM reconciliation_results r WHERE {_SAME_KEY}),
            difference_fen = (SELECT r.settled_fen - r.expected_fen
                              FROM reconciliation_results r WHERE {_SAME_KEY}),
            last_seen = :d, last_run_id = :run, updated_at = :now
        WHERE {_MOVED}
        """
    ),
    # new problems, decided before any is written: on a first night the queue is empty, the
    # planner scans it for each result, and a scan of the table being filled reads every row
    # written so far (quadratic in the night's mismatches)
    text(
        f"""
        INSERT INTO new_mismatches (result_id)
        SELECT r.id FROM reconciliation_results r
        WHERE r.run_id = :run AND r.kind IN ({_KINDS})
          AND NOT EXISTS (
              SELECT 1 FROM mismatches m
              WHERE m.kind = r.kind AND m.payer_code = r.payer_code AND m.claim_id = r.claim_id
                AND m.line_no = r.line_no
                AND (m.status IN ({_ACTIVE})
                     OR (m.expected_fen = r.expected_fen AND m.settled_fen = r.settled_fen)))
        """
    ),
    text(
        """
        INSERT INTO mismatches (kind, payer_code, claim_id, line_no, expected_fen, settled_fen,
                                difference_fen, status, first_seen, last_seen, last_run_id,
                                created_at, updated_at)
        SELECT r.kind, r.payer_code, r.claim_id, r.line_no, r.expected_fen, r.settled_fen,
               r.settled_fen - r.expected_fen, 'open', :d, :d, :run, :now, :now
        FROM new_mismatches n JOIN reconciliation_results r ON r.id = n.result_id
        """
    ),
    # an item with no trail yet is the one just found
    text(
        f"""{_AUDIT}
        SELECT m.id, 'found', :actor, :note, m.difference_fen, 'new', m.status, :now FROM mismatches m
        WHERE m.last_run_id = :run
          AND NOT EXISTS (SELECT 1 FROM mismatch_actions a WHERE a.mismatch_id = m.id)"""
    ),
    text(
        f"""{_AUDIT}
        SELECT id, 'cleared', :actor, :note, difference_fen, status, 'cleared', :now FROM mismatches
        WHERE {_GONE}"""
    ),
    # problems gone (a corrected statement, a re-coordination): cleared without anyone's action
    text(f"UPDATE mismatches SET status = 'cleared', updated_at = :now WHERE {_GONE}"),
]
ITEM_NOTES = {  # the note of each statement's audit rows ({date}: the business date)
    0: "the run of {date} found it again",
    2: "the run of {date} found other amounts (amount_fen: the new difference)",
    6: "found by the run of {date}",
    7: "the run of {date} no longer finds it",
}
NEW_MISMATCHES = Table("new_mismatches", MetaData(), Column("result_id", BigInteger), prefixes=["TEMPORARY"])


_TYPES: dict[str, Any] = {
    "d": Date(),
    "run": Integer(),
    "now": UTCDateTime(),
    "actor": String(),
    "note": String(),
}
ITEM_STATEMENTS = [
    s.bindparams(*(bindparam(name, type_=kind) for name, kind in _TYPES.items() if name in s._bindparams))
    for s in _ITEMS_SQL
]


class Reconciliation:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        window_days: int = 5,
        lease_seconds: int = 600,
        pool: AdapterPool | None = None,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.window = timedelta(days=window_days)
        self.lease = timedelta(seconds=lease_seconds)
        self.pool = pool
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

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
    ) -> dict[str, Any]:
        """Run (or resume) the date; ``stop_after`` ends after that phase (tests of resumption).
        ``actor``: who started it (audited, with its start and its end)."""
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

    def _results(self, run_id: int, business_date: date) -> None:
        """Every key classified, the mismatches kept; per kind how many keys, per payer what was
        expected and settled."""
        with self.sessions.begin() as session:
            session.execute(text("DELETE FROM reconciliation_results WHERE run_id = :run"), {"run": run_id})
            params = {"d": business_date, "window_start": business_date - self.window, "run": run_id}
            if session.get_bind().dialect.name == "postgresql":
                # JIT compiling took a tenth of this statement's time and won nothing back: its
                # work is hashing a million keys, not evaluating expressions
                session.execute(text("SET LOCAL jit = off"))
                # every worker of a parallel plan aggregated all of statement_lines again
                session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                summary = session.execute(CLASSIFY_AND_SUM, params).all()
            else:
                session.execute(CLASSIFY, params)
                summary = session.execute(SUM, params).all()
            session.execute(OVER_COORDINATED, {"d": business_date, "run": run_id, "across": ACROSS_PAYERS})
            counts: Counter[str] = Counter()
            totals: dict[str, list[int]] = {}
            for payer_code, expected, settled, *keys in summary:
                counts.update({kind: int(n) for kind, n in zip(KEY_KINDS, keys, strict=True) if n})
                totals[payer_code] = [int(expected or 0), int(settled or 0)]
            counts.pop(NOTHING, None)
            across = session.scalar(
                text("SELECT COUNT(*) FROM reconciliation_results WHERE run_id = :run AND kind = :kind"),
                {"run": run_id, "kind": "OVER_COORDINATED"},
            )
            if across:
                counts["OVER_COORDINATED"] = across
            run = session.get_one(ReconciliationRunRow, run_id)
            run.counts = {**run.counts, "kinds": dict(sorted(counts.items()))}
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
            open_items: dict[str, int] = dict(
                session.execute(
                    text(f"SELECT kind, COUNT(*) FROM mismatches WHERE status IN ({_ACTIVE}) GROUP BY kind")
                ).all()
            )
            run = session.get_one(ReconciliationRunRow, run_id)
            run.counts = {
                **run.counts,
                "open": {k: int(v) for k, v in sorted(open_items.items())},
                "queue": f"left to the run of {later[0]}" if later else "updated",
            }

    def view(self, run_id: int) -> dict[str, Any]:
        with self.sessions.begin() as session:
            return run_view(session.get_one(ReconciliationRunRow, run_id))


def run_view(run: ReconciliationRunRow) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "business_date": run.business_date.isoformat(),
        "status": run.status,
        "phase": run.phase,
        "progress": {"done": PHASES.index(run.phase), "of": len(PHASES) - 1},
        "counts": run.counts,
        "totals": run.totals,
        "runs": run.runs,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
    }
