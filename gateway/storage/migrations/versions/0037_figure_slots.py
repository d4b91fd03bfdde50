"""figure slots: the bureau's monthly figures (migration 0035) kept in 64 rows a key on
PostgreSQL, one a backend, so that concurrent workers no longer queue on (or deadlock over) the
same hot row; readers sum over the slots, and a fold (``gateway.storage.figure_slots``, run
after the nightly reconciliation) moves the slots back into slot 0

0035's triggers raised one row a key (``fund_member_months (year, M)``, ``scorecard_months
(party, year, M)``...) in every transaction paying a claim of that month and held its lock until
commit: workers serialized on those rows, and two group commits raising them in other orders
deadlocked. A backend runs one transaction at a time, so writing to the slot ``1 +
pg_backend_pid() % 64`` keeps two concurrent transactions apart unless their pids collide mod 64.
SQLite has one writer at a time: its triggers write slot 0, as the backfill and the fold do.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 23:00:00.000000
"""
import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = '0037'
down_revision = '0036'
branch_labels = None
depends_on = None

# each kept table: its key (without the slot) and the columns summed
FIGURES = {
    'fund_paid_months': (('period_year', 'period_month', 'payer_code', 'product_code', 'district', 'setting',
                          'grade'), ('paid_fen', 'payments')),
    'fund_member_months': (('period_year', 'period_month'), ('member_fen', 'claims')),
    'fund_fixed_months': (('month', 'payer_code', 'product_code'), ('amount_fen', 'benefits')),
    'scorecard_months': (('party', 'year', 'month'), ('claims', 'mismatches', 'mismatch_fen')),
    'decision_times': (('party', 'year', 'month', 'seconds'), ('steps',)),
    'queue_totals': (('status', 'payer_code', 'kind'), ('items', 'difference_fen')),
}
SLOT = {'postgresql': '1 + pg_backend_pid() % 64', 'sqlite': '0'}


def bureau_figures() -> ModuleType:
    """Migration 0035, whose SQL builders take the slot written to."""
    path = Path(__file__).with_name('0035_bureau_figures.py')
    spec = importlib.util.spec_from_file_location('bureau_figures_0035', path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def slot(dialect: str) -> str:
    return SLOT.get(dialect, '0')


def trigger_ddl(dialect: str) -> list[str]:
    return bureau_figures().trigger_ddl(dialect, slot(dialect))


def backfill(dialect: str) -> list[str]:
    """0035's backfill into slot 0 (the console bench's seeder and the figures test run it)."""
    figures = bureau_figures()
    return figures.backfill(dialect, '0') + figures.statement_backfill(dialect)


def folded(table: str) -> list[str]:
    """Every slot's sums moved into slot 0 (both databases; the storage layer's fold skips the rows
    in-flight transactions hold, this one waits for them)."""
    key, sums = FIGURES[table]
    keys = ', '.join(key)
    return [
        f"INSERT INTO {table} ({keys}, {', '.join(sums)}, slot)"
        f" SELECT {keys}, {', '.join(f'sum({c})' for c in sums)}, 0 FROM {table} WHERE slot <> 0 GROUP BY {keys}"
        f" ON CONFLICT ({keys}, slot) DO UPDATE SET "
        + ', '.join(f"{c} = {table}.{c} + excluded.{c}" for c in sums),
        f"DELETE FROM {table} WHERE slot <> 0",
    ]


def _drop_triggers(dialect: str) -> None:
    for name, table, *_ in bureau_figures().triggers(dialect):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == 'postgresql' else ""))
        if dialect == 'postgresql':
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)  # first: SQLite re-creates the tables, which its triggers name
    for table, (key, _) in FIGURES.items():
        with op.batch_alter_table(table, recreate='always' if dialect == 'sqlite' else 'auto') as batch:
            batch.add_column(sa.Column('slot', sa.SmallInteger(), server_default='0', nullable=False))
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.create_primary_key(f'pk_{table}', [*key, 'slot'])
    for statement in trigger_ddl(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    for table, (key, _) in FIGURES.items():
        for statement in folded(table):
            op.execute(statement)
        with op.batch_alter_table(table, recreate='always' if dialect == 'sqlite' else 'auto') as batch:
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.drop_column('slot')
            batch.create_primary_key(f'pk_{table}', list(key))
    for statement in bureau_figures().trigger_ddl(dialect):
        op.execute(statement)
