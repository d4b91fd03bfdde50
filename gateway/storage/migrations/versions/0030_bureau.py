"""bureau: the supervision queue's handling (assignment, notes, closing) and the tier-1 fund's
figures the bureau enters (budget, balance, warning)

Revision ID: 0030
Revises: 0022
Create Date: 2026-12-07 04:45:00.000000
"""
from alembic import op
import sqlalchemy as sa



revision = '0030'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('supervision_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.Column('closed_by', sa.String(length=200), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_items')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_supervision_items_source_source_id'))
    )
    op.create_table('supervision_notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['supervision_items.id'], name=op.f('fk_supervision_notes_item_id_supervision_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_notes'))
    )
    op.create_index(op.f('ix_supervision_notes_item_id'), 'supervision_notes', ['item_id'], unique=False)
    op.create_table('fund_figures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('payer_code', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), nullable=True),
    sa.Column('balance_on', sa.Date(), nullable=True),
    sa.Column('warn_months', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_figures')),
    sa.UniqueConstraint('payer_code', 'year', name=op.f('uq_fund_figures_payer_code_year'))
    )


def downgrade() -> None:
    op.drop_table('fund_figures')
    op.drop_index(op.f('ix_supervision_notes_item_id'), table_name='supervision_notes')
    op.drop_table('supervision_notes')
    op.drop_table('supervision_items')
