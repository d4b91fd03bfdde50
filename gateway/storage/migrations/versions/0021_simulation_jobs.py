"""simulations run in the background (POST /v1/simulations): phase, members in all, the inputs'
digest, a heartbeat and the reason a run failed

Revision ID: 0021
Revises: 0019 (the integrator re-chains)
Create Date: 2026-12-07 03:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('simulations') as batch:
        batch.add_column(sa.Column('phase', sa.String(length=16), nullable=False, server_default='done'))
        batch.add_column(sa.Column('total', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('inputs_digest', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('error', sa.String(length=200), nullable=True))
    op.execute("UPDATE simulations SET phase = status")  # the runs of the command line so far


def downgrade() -> None:
    with op.batch_alter_table('simulations') as batch:
        batch.drop_column('error')
        batch.drop_column('updated_at')
        batch.drop_column('inputs_digest')
        batch.drop_column('total')
        batch.drop_column('phase')
