"""reconciliation: results looked up by key (the queue's set-based update of a night with many items)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:20:00.000000
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reconciliation_results', schema=None) as batch_op:
        batch_op.create_index(
            'ix_reconciliation_results_key', ['run_id', 'claim_id', 'line_no', 'payer_code', 'kind'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('reconciliation_results', schema=None) as batch_op:
        batch_op.drop_index('ix_reconciliation_results_key')
