"""The work queue brought up to date from a run's results, set-based in SQL (portable: SQLite ≥
3.25 and PostgreSQL): items found again, found with other amounts, new, and cleared, each change
audited with the run as its actor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, String, Table, bindparam, text

from gateway.storage.tables import UTCDateTime
from reconciliation.matching import MISMATCHES, OPEN_MISMATCH_STATUSES

_SAME_KEY = """r.run_id = :run AND r.kind = mismatches.kind AND r.payer_code = mismatches.payer_code
            AND r.claim_id = mismatches.claim_id AND r.line_no = mismatches.line_no"""
_ACTIVE = ", ".join(f"'{s}'" for s in OPEN_MISMATCH_STATUSES)
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

OPEN_BY_KIND = text(f"SELECT kind, COUNT(*) FROM mismatches WHERE status IN ({_ACTIVE}) GROUP BY kind")
