"""reconciliation_totals: level 1 of the nightly run (domain.md section 6), a payer's totals per
clearing category and period beside the gateway's, and what level 2 found where they differ

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-07 03:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reconciliation_totals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('gateway_count', sa.Integer(), nullable=False),
    sa.Column('gateway_fen', sa.BigInteger(), nullable=False),
    sa.Column('gateway_billed_fen', sa.BigInteger(), nullable=False),
    sa.Column('payer_count', sa.Integer(), nullable=False),
    sa.Column('payer_fen', sa.BigInteger(), nullable=False),
    sa.Column('payer_billed_fen', sa.BigInteger(), nullable=True),
    sa.Column('agreed', sa.Boolean(), nullable=False),
    sa.Column('line_level', sa.String(length=16), nullable=False),
    sa.Column('found', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id'], name=op.f('fk_reconciliation_totals_run_id_reconciliation_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_totals')),
    sa.UniqueConstraint('run_id', 'payer_code', 'category', 'period', name=op.f('uq_reconciliation_totals_run_id_payer_code_category_period'))
    )


def downgrade() -> None:
    op.drop_table('reconciliation_totals')
