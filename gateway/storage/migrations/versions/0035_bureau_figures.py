"""bureau figures: the fund page's and the scorecards' monthly figures, and the work queue's
totals per status, payer and kind, kept by triggers as the rows they sum are written, replaced
or voided

Why triggers rather than the orchestration's own writes or a nightly refresh of closed months:
a revision, a replacement or a void reaches back into months long closed (a claim's payments are
taken back, its period and assessment replaced), so a refreshed month is wrong until the next
refresh, and a figure kept by each write path is wrong the day a new path forgets it. A trigger
sees every change of every row it sums, from any path (the ORM, ``update()``, a bulk ``insert``,
SQL typed by hand), in the same transaction: the figures are what the live query would say.
The dimensions a figure is grouped by that live in other rows (the member's district, the
line's setting, the claim's assessment and period) have triggers of their own that move the
sums they carry. See docs/staff-console.md, "Every page at a city's volume".

A statement's timeliness (statement_months) is kept by the one path that writes statement lines,
``reconciliation.statements.import_statement``, with one set-based statement an import: a row
trigger would cost every line of a million-line import.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 17:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def _year(d: str) -> str:
    return f"CAST(substr(CAST({d} AS TEXT), 1, 4) AS INTEGER)"


def _month(d: str) -> str:
    return f"CAST(substr(CAST({d} AS TEXT), 6, 2) AS INTEGER)"


def _year_month(d: str) -> str:
    return f"substr(CAST({d} AS TEXT), 1, 7)"


def bucket(dialect: str, x: str) -> str:
    """A step's decision time as its bucket's lower bound in whole seconds (rounded to the
    millisecond first: SQLite's julianday arithmetic is a few microseconds off)."""
    if dialect == 'postgresql':
        s = f"CAST(trunc(round(CAST(extract(epoch from ({x}.decided_at - {x}.created_at)) AS numeric), 3)) AS bigint)"
    else:
        s = f"CAST(round((julianday({x}.decided_at) - julianday({x}.created_at)) * 86400.0, 3) AS INTEGER)"
    return (f"CASE WHEN {s} < 60 THEN {s} WHEN {s} < 3600 THEN {s} / 60 * 60 "
            f"WHEN {s} < 86400 THEN {s} / 600 * 600 ELSE {s} / 3600 * 3600 END")


def _party(x: str) -> str:
    return f"coalesce({x}.administrator_code, {x}.payer_code)"


def _upsert(table: str, keys: str, sums: tuple[str, ...], slot: str | None) -> str:
    """Adds to the key's row (migration 0037 adds a ``slot`` to the key: see ``_slot``)."""
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    return f" ON CONFLICT ({keys}{', slot' if slot else ''}) DO UPDATE SET {sets}"


def _slot(slot: str | None) -> str:
    """The slot column's value appended to a select list (migration 0037: on PostgreSQL each
    backend writes rows of its own, so concurrent transactions do not wait on one hot row)."""
    return f", {slot}" if slot else ""


def _into(table: str, columns: str, slot: str | None) -> str:
    return f"INSERT INTO {table} ({columns}{', slot' if slot else ''})"


_PAID_KEY = "period_year, period_month, payer_code, product_code, district, setting, grade"
_CARD_COLUMNS = "party, year, month, claims, mismatches, mismatch_fen"


def _upsert_paid(slot: str | None) -> str:
    return _upsert('fund_paid_months', _PAID_KEY, ('paid_fen', 'payments'), slot)


def _upsert_times(slot: str | None) -> str:
    return _upsert('decision_times', 'party, year, month, seconds', ('steps',), slot)


def _upsert_card(slot: str | None) -> str:
    return _upsert('scorecard_months', 'party, year, month', ('claims', 'mismatches', 'mismatch_fen'), slot)


def paid_row(x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('fund_paid_months', f"{_PAID_KEY}, paid_fen, payments", slot)
        + f" SELECT {x}.period_year, {x}.period_month, {x}.payer_code, {x}.product_code,"
        f" coalesce(m.district, ''), coalesce(l.setting, ''), a.grade, {sign} * {x}.paid_fen, {sign}{_slot(slot)}"
        f" FROM members m JOIN claims c ON c.claim_id = {x}.claim_id"
        " JOIN assessments a ON a.assessment_id = c.assessment_id"
        f" LEFT JOIN claim_lines l ON l.claim_id = {x}.claim_id AND l.line_no = {x}.line_no"
        f' WHERE m.member_id = {x}.member_id AND {x}."current" AND NOT {x}.provisional' + _upsert_paid(slot)
    )


def paid_moved(scope: str, sign: int, district: str = "coalesce(m.district, '')",
               setting: str = "coalesce(l.setting, '')", grade: str = "a.grade", slot: str | None = None) -> str:
    """The current payments of ``scope`` summed under the dimensions given (the others read)."""
    groups = ", ".join(g for g in (district, setting, grade) if "." in g and "OLD." not in g and "NEW." not in g)
    return (
        _into('fund_paid_months', f"{_PAID_KEY}, paid_fen, payments", slot)
        + f" SELECT p.period_year, p.period_month, p.payer_code, p.product_code, {district}, {setting}, {grade},"
        f" {sign} * sum(p.paid_fen), {sign} * count(*){_slot(slot)}"
        " FROM line_payments p JOIN members m ON m.member_id = p.member_id"
        " JOIN claims c ON c.claim_id = p.claim_id JOIN assessments a ON a.assessment_id = c.assessment_id"
        " LEFT JOIN claim_lines l ON l.claim_id = p.claim_id AND l.line_no = p.line_no"
        f' WHERE {scope} AND p."current" AND NOT p.provisional'
        f" GROUP BY p.period_year, p.period_month, p.payer_code, p.product_code{', ' + groups if groups else ''}"
        + _upsert_paid(slot)
    )


def member_row(x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('fund_member_months', "period_year, period_month, member_fen, claims", slot)
        + f" SELECT {_year(x + '.period_start')}, {_year_month(x + '.period_start')},"
        f" {sign} * {x}.member_responsibility_fen, {sign}{_slot(slot)}"
        f" WHERE {x}.status <> 'voided' AND {x}.member_responsibility_fen IS NOT NULL"
        + _upsert('fund_member_months', 'period_year, period_month', ('member_fen', 'claims'), slot)
    )


def fixed_row(x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('fund_fixed_months', "month, payer_code, product_code, amount_fen, benefits", slot)
        + f" SELECT {x}.month, {x}.payer_code, {x}.product_code, {sign} * {x}.amount_fen, {sign}{_slot(slot)}"
        f" WHERE NOT {x}.provisional"
        + _upsert('fund_fixed_months', 'month, payer_code, product_code', ('amount_fen', 'benefits'), slot)
    )


def time_row(dialect: str, x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('decision_times', "party, year, month, seconds, steps", slot)
        + f" SELECT {_party(x)}, {_year('c.period_start')}, {_month('c.period_start')}, {bucket(dialect, x)},"
        f" {sign}{_slot(slot)}"
        f" FROM claims c WHERE c.claim_id = {x}.claim_id AND {x}.decided_at IS NOT NULL" + _upsert_times(slot)
    )


def claimed_row(x: str, sign: int, first: bool = False, slot: str | None = None) -> str:
    """A claim counts once a party: the step counts it when no other step of the claim and party
    is left (a change or a removal) or came before it (an insertion: a statement's rows are all
    visible to PostgreSQL's AFTER triggers, so the earliest of them counts)."""
    other = f"o.step_id < {x}.step_id" if first else f"o.step_id <> {x}.step_id"
    return (
        _into('scorecard_months', _CARD_COLUMNS, slot)
        + f" SELECT {_party(x)}, {_year('c.period_start')}, {_month('c.period_start')}, {sign}, 0, 0{_slot(slot)}"
        f" FROM claims c WHERE c.claim_id = {x}.claim_id AND NOT EXISTS (SELECT 1 FROM payer_steps o"
        f" WHERE o.claim_id = {x}.claim_id AND {_party('o')} = {_party(x)} AND {other})" + _upsert_card(slot)
    )


def mismatch_row(x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('scorecard_months', _CARD_COLUMNS, slot)
        + f" SELECT {x}.payer_code, {_year('c.period_start')}, {_month('c.period_start')}, 0, {sign},"
        f" {sign} * abs({x}.difference_fen){_slot(slot)}"
        f" FROM claims c WHERE c.claim_id = {x}.claim_id" + _upsert_card(slot)
    )


def queue_row(x: str, sign: int, slot: str | None = None) -> str:
    return (
        _into('queue_totals', "status, payer_code, kind, items, difference_fen", slot)
        + f" SELECT {x}.status, {x}.payer_code, {x}.kind, {sign}, {sign} * {x}.difference_fen{_slot(slot)} WHERE true"
        + _upsert('queue_totals', 'status, payer_code, kind', ('items', 'difference_fen'), slot)
    )


def period_moved(dialect: str, d: str, sign: int, slot: str | None = None) -> list[str]:
    """A claim's steps and mismatches counted under the service month ``d`` (a replacement
    changes a claim's period)."""
    y, m = _year(d), _month(d)
    return [
        _into('decision_times', "party, year, month, seconds, steps", slot)
        + f" SELECT {_party('s')}, {y}, {m}, {bucket(dialect, 's')}, {sign} * count(*){_slot(slot)} FROM payer_steps s"
        f" WHERE s.claim_id = OLD.claim_id AND s.decided_at IS NOT NULL"
        f" GROUP BY {_party('s')}, {bucket(dialect, 's')}" + _upsert_times(slot),
        _into('scorecard_months', _CARD_COLUMNS, slot)
        + f" SELECT {_party('s')}, {y}, {m}, {sign}, 0, 0{_slot(slot)} FROM payer_steps s"
        " WHERE s.claim_id = OLD.claim_id"
        f" GROUP BY {_party('s')}" + _upsert_card(slot),
        _into('scorecard_months', _CARD_COLUMNS, slot)
        + f" SELECT x.payer_code, {y}, {m}, 0, {sign} * count(*), {sign} * sum(abs(x.difference_fen)){_slot(slot)}"
        " FROM mismatches x WHERE x.claim_id = OLD.claim_id"
        " GROUP BY x.payer_code" + _upsert_card(slot),
    ]


def _changed(dialect: str, columns: tuple[str, ...]) -> str:
    differs = "IS DISTINCT FROM" if dialect == 'postgresql' else "IS NOT"
    return " OR ".join(f'OLD."{c}" {differs} NEW."{c}"' for c in columns)


def triggers(dialect: str, slot: str | None = None) -> list[tuple[str, str, str, str, list[str]]]:
    """(name, table, operation, when, statements) of every trigger; ``slot``: the slot column's
    value the rows are written to (migration 0037), None before the column."""
    grade = "(SELECT g.grade FROM assessments g WHERE g.assessment_id = {}.assessment_id)"
    return [
        ('figures_paid_insert', 'line_payments', 'INSERT', '', [paid_row('NEW', 1, slot=slot)]),
        ('figures_paid_update', 'line_payments', 'UPDATE',
         _changed(dialect, ('current', 'provisional', 'paid_fen', 'period_year', 'period_month', 'payer_code',
                            'product_code', 'member_id', 'claim_id', 'line_no')),
         [paid_row('OLD', -1, slot=slot), paid_row('NEW', 1, slot=slot)]),
        ('figures_paid_delete', 'line_payments', 'DELETE', '', [paid_row('OLD', -1, slot=slot)]),
        ('figures_fixed_insert', 'fixed_benefits', 'INSERT', '', [fixed_row('NEW', 1, slot=slot)]),
        ('figures_fixed_update', 'fixed_benefits', 'UPDATE',
         _changed(dialect, ('provisional', 'amount_fen', 'month', 'payer_code', 'product_code')),
         [fixed_row('OLD', -1, slot=slot), fixed_row('NEW', 1, slot=slot)]),
        ('figures_fixed_delete', 'fixed_benefits', 'DELETE', '', [fixed_row('OLD', -1, slot=slot)]),
        ('figures_member_insert', 'claims', 'INSERT', '', [member_row('NEW', 1, slot=slot)]),
        ('figures_member_update', 'claims', 'UPDATE',
         _changed(dialect, ('status', 'member_responsibility_fen', 'period_start')),
         [member_row('OLD', -1, slot=slot), member_row('NEW', 1, slot=slot)]),
        ('figures_member_delete', 'claims', 'DELETE', '', [member_row('OLD', -1, slot=slot)]),
        ('figures_claim_period', 'claims', 'UPDATE', _changed(dialect, ('period_start',)),
         [*period_moved(dialect, 'OLD.period_start', -1, slot=slot),
          *period_moved(dialect, 'NEW.period_start', 1, slot=slot)]),
        ('figures_claim_grade', 'claims', 'UPDATE', _changed(dialect, ('assessment_id',)),
         [paid_moved('p.claim_id = OLD.claim_id', -1, grade=grade.format('OLD'), slot=slot),
          paid_moved('p.claim_id = OLD.claim_id', 1, grade=grade.format('NEW'), slot=slot)]),
        ('figures_line_insert', 'claim_lines', 'INSERT', '',
         [paid_moved('p.claim_id = NEW.claim_id AND p.line_no = NEW.line_no', -1, setting="''", slot=slot),
          paid_moved('p.claim_id = NEW.claim_id AND p.line_no = NEW.line_no', 1, setting='NEW.setting', slot=slot)]),
        ('figures_line_update', 'claim_lines', 'UPDATE', _changed(dialect, ('setting', 'claim_id', 'line_no')),
         [paid_moved('p.claim_id = OLD.claim_id AND p.line_no = OLD.line_no', -1, setting='OLD.setting', slot=slot),
          paid_moved('p.claim_id = OLD.claim_id AND p.line_no = OLD.line_no', 1, setting="''", slot=slot),
          paid_moved('p.claim_id = NEW.claim_id AND p.line_no = NEW.line_no', -1, setting="''", slot=slot),
          paid_moved('p.claim_id = NEW.claim_id AND p.line_no = NEW.line_no', 1, setting='NEW.setting', slot=slot)]),
        ('figures_line_delete', 'claim_lines', 'DELETE', '',
         [paid_moved('p.claim_id = OLD.claim_id AND p.line_no = OLD.line_no', -1, setting='OLD.setting', slot=slot),
          paid_moved('p.claim_id = OLD.claim_id AND p.line_no = OLD.line_no', 1, setting="''", slot=slot)]),
        ('figures_member_district', 'members', 'UPDATE', _changed(dialect, ('district',)),
         [paid_moved('p.member_id = OLD.member_id', -1, district="coalesce(OLD.district, '')", slot=slot),
          paid_moved('p.member_id = OLD.member_id', 1, district="coalesce(NEW.district, '')", slot=slot)]),
        ('figures_step_insert', 'payer_steps', 'INSERT', '',
         [time_row(dialect, 'NEW', 1, slot=slot), claimed_row('NEW', 1, first=True, slot=slot)]),
        ('figures_step_update', 'payer_steps', 'UPDATE',
         _changed(dialect, ('decided_at', 'created_at', 'administrator_code', 'payer_code', 'claim_id')),
         [time_row(dialect, 'OLD', -1, slot=slot), claimed_row('OLD', -1, slot=slot),
          time_row(dialect, 'NEW', 1, slot=slot), claimed_row('NEW', 1, slot=slot)]),
        ('figures_step_delete', 'payer_steps', 'DELETE', '',
         [time_row(dialect, 'OLD', -1, slot=slot), claimed_row('OLD', -1, slot=slot)]),
        ('figures_mismatch_insert', 'mismatches', 'INSERT', '',
         [mismatch_row('NEW', 1, slot=slot), queue_row('NEW', 1, slot=slot)]),
        ('figures_mismatch_update', 'mismatches', 'UPDATE',
         _changed(dialect, ('payer_code', 'claim_id', 'difference_fen')),
         [mismatch_row('OLD', -1, slot=slot), mismatch_row('NEW', 1, slot=slot)]),
        ('figures_mismatch_delete', 'mismatches', 'DELETE', '',
         [mismatch_row('OLD', -1, slot=slot), queue_row('OLD', -1, slot=slot)]),
        ('figures_queue_update', 'mismatches', 'UPDATE',
         _changed(dialect, ('status', 'payer_code', 'kind', 'difference_fen')),
         [queue_row('OLD', -1, slot=slot), queue_row('NEW', 1, slot=slot)]),
    ]


def trigger_ddl(dialect: str, slot: str | None = None) -> list[str]:
    """On PostgreSQL a row's change is counted BEFORE it is updated or deleted (one row after
    another, as SQLite does), and AFTER it is inserted (an insert skipped on conflict counts
    nothing)."""
    ddl = []
    for name, table, operation, when, statements in triggers(dialect, slot):
        condition = f" WHEN ({when})" if when else ""
        if dialect == 'postgresql':
            timing = 'AFTER' if operation == 'INSERT' else 'BEFORE'
            returned = {'INSERT': 'NULL', 'UPDATE': 'NEW', 'DELETE': 'OLD'}[operation]
            body = ";\n  ".join(statements)
            ddl.append(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  {body};\n"
                       f"  RETURN {returned};\nEND $$")
            ddl.append(f"CREATE TRIGGER {name} {timing} {operation} ON {table} FOR EACH ROW{condition}"
                       f" EXECUTE FUNCTION {name}()")
        else:
            body = ";\n  ".join(statements)
            ddl.append(f"CREATE TRIGGER {name} AFTER {operation} ON {table} FOR EACH ROW{condition}\n"
                       f"BEGIN\n  {body};\nEND")
    return ddl


def backfill(dialect: str, slot: str | None = None) -> list[str]:
    """The figures of the rows already there, set-based (the console bench's seeder runs these);
    ``slot``: '0' once migration 0037 made the slot part of the key (the rows are written to 0)."""
    c = 'c.period_start'
    return [
        "DELETE FROM fund_paid_months", "DELETE FROM fund_member_months", "DELETE FROM fund_fixed_months",
        "DELETE FROM scorecard_months", "DELETE FROM decision_times", "DELETE FROM queue_totals",
        "INSERT INTO queue_totals (status, payer_code, kind, items, difference_fen)"
        " SELECT status, payer_code, kind, count(*), sum(difference_fen) FROM mismatches"
        " GROUP BY status, payer_code, kind",
        paid_moved('true', 1, slot=slot),
        "INSERT INTO fund_member_months (period_year, period_month, member_fen, claims)"
        " SELECT {}, {}, sum(member_responsibility_fen), count(*) FROM claims"
        " WHERE status <> 'voided' AND member_responsibility_fen IS NOT NULL GROUP BY 1, 2".format(
            _year('period_start'), _year_month('period_start')),
        "INSERT INTO fund_fixed_months (month, payer_code, product_code, amount_fen, benefits)"
        " SELECT month, payer_code, product_code, sum(amount_fen), count(*) FROM fixed_benefits"
        " WHERE NOT provisional GROUP BY month, payer_code, product_code",
        "INSERT INTO decision_times (party, year, month, seconds, steps)"
        f" SELECT {_party('s')}, {_year(c)}, {_month(c)}, {bucket(dialect, 's')}, count(*)"
        " FROM payer_steps s JOIN claims c ON c.claim_id = s.claim_id WHERE s.decided_at IS NOT NULL"
        " GROUP BY 1, 2, 3, 4",
        "INSERT INTO scorecard_months (party, year, month, claims, mismatches, mismatch_fen)"
        f" SELECT {_party('s')}, {_year(c)}, {_month(c)}, count(DISTINCT s.claim_id), 0, 0"
        " FROM payer_steps s JOIN claims c ON c.claim_id = s.claim_id GROUP BY 1, 2, 3",
        _into('scorecard_months', _CARD_COLUMNS, slot)
        + f" SELECT x.payer_code, {_year(c)}, {_month(c)}, 0, count(*), sum(abs(x.difference_fen)){_slot(slot)}"
        " FROM mismatches x JOIN claims c ON c.claim_id = x.claim_id WHERE true GROUP BY 1, 2, 3"
        + _upsert_card(slot),
    ]


ON_TIME_DAYS = 1  # a line settled on day D is on time in a statement received by D + 1 (Beijing)


def statement_lag(dialect: str) -> str:
    """Days from a line's settlement (``l``) to its statement's receipt (``s``), Beijing dates."""
    if dialect == 'postgresql':
        return "(CAST(s.received_at AT TIME ZONE 'Asia/Shanghai' AS date) - l.settled_on)"
    return "CAST(julianday(date(s.received_at, '+8 hours')) - julianday(l.settled_on) AS INTEGER)"


def statement_backfill(dialect: str) -> list[str]:
    lag = statement_lag(dialect)
    return [
        "DELETE FROM statement_months",
        "INSERT INTO statement_months (payer_code, month, lines, on_time, lag_days)"
        f" SELECT l.payer_code, {_year_month('l.settled_on')}, count(*),"
        f" sum(CASE WHEN {lag} <= {ON_TIME_DAYS} THEN 1 ELSE 0 END), sum({lag})"
        " FROM statement_lines l JOIN statements s ON s.id = l.statement_id GROUP BY 1, 2",
    ]


def upgrade() -> None:
    text, big = sa.String, sa.BigInteger
    op.create_table(
        'fund_paid_months',
        sa.Column('period_year', sa.Integer(), nullable=False),
        sa.Column('period_month', text(length=7), nullable=False),
        sa.Column('payer_code', text(length=64), nullable=False),
        sa.Column('product_code', text(length=64), nullable=False),
        sa.Column('district', text(length=6), nullable=False),
        sa.Column('setting', text(length=16), nullable=False),
        sa.Column('grade', sa.Integer(), nullable=False),
        sa.Column('paid_fen', big(), nullable=False),
        sa.Column('payments', big(), nullable=False),
        sa.PrimaryKeyConstraint('period_year', 'period_month', 'payer_code', 'product_code', 'district',
                                'setting', 'grade', name=op.f('pk_fund_paid_months')),
    )
    op.create_table(
        'fund_member_months',
        sa.Column('period_year', sa.Integer(), nullable=False),
        sa.Column('period_month', text(length=7), nullable=False),
        sa.Column('member_fen', big(), nullable=False),
        sa.Column('claims', big(), nullable=False),
        sa.PrimaryKeyConstraint('period_year', 'period_month', name=op.f('pk_fund_member_months')),
    )
    op.create_table(
        'fund_fixed_months',
        sa.Column('month', text(length=7), nullable=False),
        sa.Column('payer_code', text(length=64), nullable=False),
        sa.Column('product_code', text(length=64), nullable=False),
        sa.Column('amount_fen', big(), nullable=False),
        sa.Column('benefits', big(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'payer_code', 'product_code', name=op.f('pk_fund_fixed_months')),
    )
    op.create_table(
        'scorecard_months',
        sa.Column('party', text(length=64), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('month', sa.Integer(), nullable=False),
        sa.Column('claims', big(), nullable=False),
        sa.Column('mismatches', big(), nullable=False),
        sa.Column('mismatch_fen', big(), nullable=False),
        sa.PrimaryKeyConstraint('party', 'year', 'month', name=op.f('pk_scorecard_months')),
    )
    op.create_table(
        'decision_times',
        sa.Column('party', text(length=64), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('month', sa.Integer(), nullable=False),
        sa.Column('seconds', big(), nullable=False),
        sa.Column('steps', big(), nullable=False),
        sa.PrimaryKeyConstraint('party', 'year', 'month', 'seconds', name=op.f('pk_decision_times')),
    )
    op.create_table(
        'queue_totals',
        sa.Column('status', text(length=16), nullable=False),
        sa.Column('payer_code', text(length=64), nullable=False),
        sa.Column('kind', text(length=24), nullable=False),
        sa.Column('items', big(), nullable=False),
        sa.Column('difference_fen', big(), nullable=False),
        sa.PrimaryKeyConstraint('status', 'payer_code', 'kind', name=op.f('pk_queue_totals')),
    )
    op.create_table(
        'statement_months',
        sa.Column('payer_code', text(length=64), nullable=False),
        sa.Column('month', text(length=7), nullable=False),
        sa.Column('lines', big(), nullable=False),
        sa.Column('on_time', big(), nullable=False),
        sa.Column('lag_days', big(), nullable=False),
        sa.PrimaryKeyConstraint('payer_code', 'month', name=op.f('pk_statement_months')),
    )
    dialect = op.get_bind().dialect.name
    for statement in backfill(dialect) + statement_backfill(dialect) + trigger_ddl(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, *_ in triggers(dialect):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == 'postgresql' else ""))
        if dialect == 'postgresql':
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for table in ('statement_months', 'queue_totals', 'decision_times', 'scorecard_months', 'fund_fixed_months', 'fund_member_months',
                  'fund_paid_months'):
        op.drop_table(table)
