"""The classification of a business date in SQL (portable: SQLite ≥ 3.25 and PostgreSQL): the
decision table of ``reconciliation.matching.classify`` applied to every payer-line key at once,
the per-payer totals from the same pass, and lines over-coordinated across payers."""

from __future__ import annotations

from sqlalchemy import Date, Integer, String, TextClause, bindparam, text

from reconciliation.matching import NOT_DUE, NOTHING, MismatchKind
from reconciliation.sql.totals import ATTRIBUTED, SCOPE_TABLE, attribution

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
KEY_KINDS = (*(k.value for k in MismatchKind if k != MismatchKind.OVER_COORDINATED), NOT_DUE, NOTHING)
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


def _scoped(category: str, period: str) -> str:
    """The decision table over the keys of level 2's scope only (``reconciliation.sql.totals``:
    the groups whose totals differ): the entries of other payers are not read, and of a scoped
    payer's keys only those of a differing category and period are classified."""
    only = f"AND payer_code IN (SELECT payer_code FROM {SCOPE_TABLE})"
    scoped = (
        _CLASSIFIED.replace("WITH facts AS (", "WITH all_facts AS (", 1)
        .replace("WHERE business_date <= :d", f"WHERE business_date <= :d {only}", 1)
        .replace("WHERE settled_on <= :d", f"WHERE settled_on <= :d {only}", 1)
        .replace(
            "), classified AS (",
            f"""), facts AS (
        SELECT k.* FROM all_facts k {ATTRIBUTED}
        WHERE EXISTS (SELECT 1 FROM {SCOPE_TABLE} s WHERE s.payer_code = k.payer_code
                      AND s.category = {category} AND s.period = {period})
    ), classified AS (""",
            1,
        )
    )
    assert scoped.count(SCOPE_TABLE) == 3
    return scoped


def scoped_statements(dialect: str, clearing: str) -> tuple[TextClause, TextClause, TextClause]:
    """CLASSIFY_AND_SUM, CLASSIFY and SUM over level 2's scope."""
    classified = _scoped(*attribution(dialect, clearing))
    return (
        text(f"{classified}, kept AS ({_KEEP}\n    RETURNING 1)\n    {_SUMMARY}").bindparams(
            *_CLASSIFY_TYPES
        ),
        text(f"{classified}{_KEEP}").bindparams(*_CLASSIFY_TYPES),
        text(f"{classified}\n    {_SUMMARY}").bindparams(*_CLASSIFY_TYPES[:2]),
    )


def one_payer(statement: TextClause) -> TextClause:
    """``statement`` over the keys of one payer (``:payer``) only: a run classifies a payer at a
    time when there are several, so that its page can say how many lines are done."""
    sql = statement.text
    for where in ("WHERE business_date <= :d", "WHERE settled_on <= :d"):
        sql = sql.replace(where, f"{where} AND payer_code = :payer", 1)
    assert sql.count("payer_code = :payer") == 2
    types = [b for b in _CLASSIFY_TYPES if f":{b.key}" in sql]
    return text(sql).bindparams(*types, bindparam("payer", type_=String))


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

# A date run again is classified afresh: its earlier results go first.
FORGET_RESULTS = text("DELETE FROM reconciliation_results WHERE run_id = :run")
KEPT_OF_KIND = text("SELECT COUNT(*) FROM reconciliation_results WHERE run_id = :run AND kind = :kind")
