"""Both levels in one pass over the keys (PostgreSQL; SQLite runs its two halves): every payer-line
key aggregated, classified by the decision table of ``reconciliation.sql.classify`` and attributed
to its group once; the mismatches are kept and, per payer, clearing category and period, level 1's
totals come back with how many keys of each kind the group holds. The run then keeps only the
mismatches of the groups whose totals differ (``TRIM``) and counts only those groups' keys, so
what it reports is what the two levels in turn report, for one pass instead of two on a night
whose totals differ (``docs/reconciliation.md``, "Two levels: totals first").
"""

from __future__ import annotations

from sqlalchemy import Date, Integer, TextClause, bindparam, text

from reconciliation.sql.classify import _CLASSIFIED, _KEEP, KEY_KINDS
from reconciliation.sql.totals import ATTRIBUTED, SCOPE_TABLE, attribution

# The decision table with each key's group columns beside its kind: the claim's service start and
# the line's setting and billed amount, joined once (level 1 joins them anyway).
_HEAD = "SELECT payer_code, claim_id, line_no, expected, settled, entries,\n            CASE"
_TAIL = "END AS kind\n        FROM facts\n    )"
assert _CLASSIFIED.count(_HEAD) == 1 and _CLASSIFIED.count(_TAIL) == 1
_ATTRIBUTED = (
    _CLASSIFIED.replace("SUM(e_amount) AS expected", "CAST(SUM(e_amount) AS BIGINT) AS expected", 1)
    .replace("SUM(s_amount) AS settled", "CAST(SUM(s_amount) AS BIGINT) AS settled", 1)
    .replace(
        _HEAD,
        "SELECT facts.payer_code, facts.claim_id, facts.line_no, expected, settled, entries,\n"
        "            ledger_entries, cl.setting, c.period_start, cl.billed_fen,\n            CASE",
    )
    .replace(
        _TAIL,
        "END AS kind\n        FROM facts "
        + ATTRIBUTED.replace("k.claim_id", "facts.claim_id").replace("k.line_no", "facts.line_no")
        + "\n    )",
    )
)

# Grouped by the raw columns first (the planner has statistics for them; grouped by the derived
# names it expected many groups and sorted every key), then named: level 1's figures per side as
# ``level_one`` gives them, and the count of every kind of key.
_KINDS = ", ".join(f"COUNT(*) FILTER (WHERE kind = '{k}') AS n_{i}" for i, k in enumerate(KEY_KINDS))
_KIND_SUMS = ", ".join(f"SUM(n_{i})" for i in range(len(KEY_KINDS)))


def _summary(dialect: str, clearing: str) -> str:
    category, period = attribution(dialect, clearing)
    category = category.replace("cl.setting", "g.setting").replace("k.line_no = 0", "g.claim_level")
    period = period.replace("c.period_start", "g.period_start")
    return f"""g AS (
        SELECT payer_code, setting, line_no = 0 AS claim_level, period_start,
               SUM(ledger_entries) AS e_n, SUM(CASE WHEN expected <> 0 THEN 1 ELSE 0 END) AS e_count,
               SUM(expected) AS e_fen, SUM(CASE WHEN expected <> 0 THEN billed_fen ELSE 0 END) AS e_billed,
               SUM(entries) AS s_n, SUM(CASE WHEN settled <> 0 THEN 1 ELSE 0 END) AS s_count,
               SUM(settled) AS s_fen, {_KINDS}
        FROM classified GROUP BY payer_code, setting, line_no = 0, period_start
    )
    SELECT g.payer_code, {category}, {period}, SUM(e_n), SUM(e_count), COALESCE(SUM(e_fen), 0),
           COALESCE(SUM(e_billed), 0), SUM(s_n), SUM(s_count), COALESCE(SUM(s_fen), 0), {_KIND_SUMS}
    FROM g GROUP BY 1, 2, 3"""


_TYPES = (bindparam("d", type_=Date), bindparam("window_start", type_=Date), bindparam("run", type_=Integer))


def one_pass(dialect: str, clearing: str) -> list[TextClause]:
    """The statements of the pass, run in turn; the last returns rows (payer_code, category,
    period, gateway_entries, gateway_count, gateway_fen, gateway_billed_fen, payer_entries,
    payer_count, payer_fen, then one count per ``KEY_KINDS``). PostgreSQL keeps the mismatches
    and sums in one statement; SQLite has no INSERT in a WITH clause and reads the keys twice."""
    summary = _summary(dialect, clearing)
    if dialect == "postgresql":
        both = f"{_ATTRIBUTED}, kept AS ({_KEEP}\n    RETURNING 1), {summary}"
        return [text(both).bindparams(*_TYPES)]
    return [
        text(f"{_CLASSIFIED}{_KEEP}").bindparams(*_TYPES),
        text(f"{_ATTRIBUTED}, {summary}").bindparams(*_TYPES[:2]),
    ]


def trim(dialect: str, clearing: str) -> TextClause:
    """The pass's mismatches outside level 2's scope (the groups whose totals agreed, or that
    cannot be matched line by line) forgotten: they are few, and each is attributed by key."""
    category, period = attribution(dialect, clearing)
    return text(
        f"""
        DELETE FROM reconciliation_results WHERE run_id = :run AND id IN (
            SELECT k.id FROM reconciliation_results k {ATTRIBUTED}
            WHERE k.run_id = :run AND k.kind <> 'OVER_COORDINATED' AND NOT EXISTS (
                SELECT 1 FROM {SCOPE_TABLE} s
                WHERE s.payer_code = k.payer_code AND s.category = {category} AND s.period = {period}))"""
    ).bindparams(bindparam("run", type_=Integer))
