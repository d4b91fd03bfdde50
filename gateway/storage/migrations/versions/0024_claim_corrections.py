"""Corrections of a claim (docs/corrections.md): a void's reason and time, and the earlier
versions of a claim replaced by a corrected one.

Revision ID: 0024
Revises: 0019
Create Date: 2026-12-07 03:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('versions', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_column('versions')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_at')
