"""simulations: policy simulations with their inputs (period, draft products, funding), progress
and report (domain.md section 9)

Revision ID: 0019
Revises: 0016 (assigned 0010; chained to this branch's head so it upgrades: the integrator re-chains)
Create Date: 2026-12-02 00:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('simulations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulations'))
    )


def downgrade() -> None:
    op.drop_table('simulations')
