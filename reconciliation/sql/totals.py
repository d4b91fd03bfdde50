"""Level 1's SQL: every payer-line key attributed to its clearing category and period, and the
totals per payer, category and period of what the gateway expects and of what payers' statement
lines settled; the payers' lines of one category and period, for a payer that compares detail
itself.

A key's period is its claim's service month and its category the line's care setting
(``clearing_category = setting``; claim-level entries, line 0, are ``claim_level``) or one
category for all (``single``): both sides of a key land in the same group, whatever day each
was written or settled. A settled key whose claim the gateway does not know is ``unknown``.
"""

from __future__ import annotations

from sqlalchemy import Date, String, TextClause, bindparam, text
from sqlalchemy.orm import Session

UNKNOWN = "unknown"
CLAIM_LEVEL = "claim_level"
SINGLE = "all"


def attribution(dialect: str, clearing: str) -> tuple[str, str]:
    """SQL for a key's category and period over the aliases ``k`` (payer_code, claim_id,
    line_no), ``c`` (its claim, left-joined) and ``cl`` (its claim line, left-joined)."""
    if clearing == "single":
        category = f"'{SINGLE}'"
    else:
        category = f"COALESCE(cl.setting, CASE WHEN k.line_no = 0 THEN '{CLAIM_LEVEL}' ELSE '{UNKNOWN}' END)"
    month = (
        "to_char(c.period_start, 'YYYY-MM')" if dialect == "postgresql" else "substr(c.period_start, 1, 7)"
    )
    return category, f"COALESCE({month}, '{UNKNOWN}')"


ATTRIBUTED = """LEFT JOIN claims c ON c.claim_id = k.claim_id
        LEFT JOIN claim_lines cl ON cl.claim_id = k.claim_id AND cl.line_no = k.line_no"""


# Both sides in one pass, per key first (a key settled in two entries, a payment and its top-up,
# is one line), attributed once, then grouped by the raw columns the planner has statistics for
# (grouped by the derived expressions it expected many groups and sorted every key to disk), and
# only then the few groups named: per side the count of keys with a figure, the sum, and (the
# gateway's side) what those lines billed; ``*_entries`` say whether the side has the group at all.
def level_one(dialect: str, clearing: str) -> TextClause:
    """Rows (payer_code, category, period, gateway_entries, gateway_count, gateway_fen,
    gateway_billed_fen, payer_entries, payer_count, payer_fen)."""
    category, period = attribution(dialect, clearing)
    category = category.replace("cl.setting", "g.setting").replace("k.line_no = 0", "g.claim_level")
    period = period.replace("c.period_start", "g.period_start")
    return text(
        f"""
        WITH k AS (
            SELECT payer_code, claim_id, line_no, SUM(e) AS e, COUNT(e) AS e_n, SUM(s) AS s, COUNT(s) AS s_n
            FROM (
                SELECT payer_code, claim_id, line_no, amount_fen AS e, NULL AS s
                FROM ledger_entries WHERE business_date <= :d
                UNION ALL
                SELECT payer_code, claim_id, line_no, NULL, paid_fen
                FROM statement_lines WHERE settled_on <= :d
            ) u
            GROUP BY payer_code, claim_id, line_no
        ), g AS (
            SELECT k.payer_code, cl.setting, k.line_no = 0 AS claim_level, c.period_start,
                   SUM(k.e_n) AS e_n, SUM(CASE WHEN k.e <> 0 THEN 1 ELSE 0 END) AS e_count,
                   SUM(k.e) AS e_fen, SUM(CASE WHEN k.e <> 0 THEN cl.billed_fen ELSE 0 END) AS e_billed,
                   SUM(k.s_n) AS s_n, SUM(CASE WHEN k.s <> 0 THEN 1 ELSE 0 END) AS s_count, SUM(k.s) AS s_fen
            FROM k {ATTRIBUTED}
            GROUP BY k.payer_code, cl.setting, k.line_no = 0, c.period_start
        )
        SELECT g.payer_code, {category}, {period}, SUM(e_n), SUM(e_count), COALESCE(SUM(e_fen), 0),
               COALESCE(SUM(e_billed), 0), SUM(s_n), SUM(s_count), COALESCE(SUM(s_fen), 0)
        FROM g GROUP BY 1, 2, 3"""
    ).bindparams(bindparam("d", type_=Date))


_LEDGER_KEYS = (
    "SELECT payer_code, claim_id, line_no, SUM(amount_fen) AS fen FROM ledger_entries "
    "WHERE business_date <= :d GROUP BY payer_code, claim_id, line_no"
)


def expected_lines(dialect: str, clearing: str) -> TextClause:
    """The lines the gateway expects of one payer in one category and period (level 2's input
    for a payer that compares detail itself)."""
    category, period = attribution(dialect, clearing)
    return text(
        f"""
        WITH k AS ({_LEDGER_KEYS})
        SELECT k.claim_id, k.line_no, k.fen FROM k {ATTRIBUTED}
        WHERE k.payer_code = :payer AND k.fen <> 0 AND {category} = :category AND {period} = :period
        ORDER BY k.claim_id, k.line_no"""
    ).bindparams(
        bindparam("d", type_=Date),
        bindparam("payer", type_=String),
        bindparam("category", type_=String),
        bindparam("period", type_=String),
    )


def found_by_group(dialect: str, clearing: str) -> TextClause:
    """What level 2 kept of a run, per payer, category, period and kind (the mismatches are few:
    attributing them costs nothing beside classifying)."""
    category, period = attribution(dialect, clearing)
    return text(
        f"""
        SELECT k.payer_code, {category}, {period}, k.kind, COUNT(*)
        FROM reconciliation_results k {ATTRIBUTED}
        WHERE k.run_id = :run AND k.payer_code <> :across
        GROUP BY 1, 2, 3, 4"""
    )


# Level 2's scope: the groups whose totals differ, of payers whose lines can be matched.
SCOPE_TABLE = "reconciliation_scope"
CREATE_SCOPE = {
    "postgresql": f"CREATE TEMPORARY TABLE IF NOT EXISTS {SCOPE_TABLE} "
    "(payer_code VARCHAR(64), category VARCHAR(32), period VARCHAR(7)) ON COMMIT DROP",
    "sqlite": f"CREATE TEMPORARY TABLE IF NOT EXISTS {SCOPE_TABLE} "
    "(payer_code VARCHAR(64), category VARCHAR(32), period VARCHAR(7))",
}
FILL_SCOPE = text(
    f"INSERT INTO {SCOPE_TABLE} (payer_code, category, period) VALUES (:payer, :category, :period)"
)
EMPTY_SCOPE = text(f"DELETE FROM {SCOPE_TABLE}")


def fill_scope(session: Session, dialect: str, groups: list[tuple[str, str, str]]) -> None:
    """Level 2's scope, the groups (payer, category, period) whose totals differ, in its table."""
    session.execute(text(CREATE_SCOPE[dialect]))
    session.execute(EMPTY_SCOPE)
    session.execute(FILL_SCOPE, [{"payer": p, "category": c, "period": m} for p, c, m in groups])
