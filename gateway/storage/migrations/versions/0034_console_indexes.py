"""console indexes: the staff console's pages at a city's volume (issue 22, performance; measured
by ``python -m bench --only console-pages``): the dead and refused steps by when they changed
(the dead letters page), statement lines by the payer's reference (the work queue's search),
and the audit trail by subject prefix (LIKE 'claim:…%' needs a pattern index where the
collation is not C) and by time (the search by date)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 15:00:00.000000
"""
from alembic import op


revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None

# name, table, columns, PostgreSQL operator classes (the bench drops and creates them by this list)
INDEXES: tuple[tuple[str, str, tuple[str, ...], dict[str, str]], ...] = (
    ('ix_payer_steps_failed', 'payer_steps', ('status', 'updated_at'), {}),
    ('ix_statement_lines_reference', 'statement_lines', ('payer_reference',), {}),
    ('ix_audit_log_subject_prefix', 'audit_log', ('subject',), {'subject': 'varchar_pattern_ops'}),
    ('ix_audit_log_at', 'audit_log', ('at',), {}),
)


def upgrade() -> None:
    for name, table, columns, ops in INDEXES:
        op.create_index(name, table, list(columns), unique=False, postgresql_ops=ops)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
