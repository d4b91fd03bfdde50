"""claims due: the workers' lease query reads the claims due for a move through an index on
next_attempt_at where it is set (final claims have none), in the query's order, so its scan stops
after the batch it leases; leasing a claim moves its next_attempt_at to the lease's end, so the
claims in flight are not read again by every lease (issue 20; the plan is in docs/scaling.md)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 17:30:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None

_SET = sa.text('next_attempt_at IS NOT NULL')


def upgrade() -> None:
    op.create_index(
        'ix_claims_due', 'claims', ['next_attempt_at'], unique=False, postgresql_where=_SET, sqlite_where=_SET
    )


def downgrade() -> None:
    op.drop_index('ix_claims_due', table_name='claims')
