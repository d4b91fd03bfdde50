"""Indexes for the work queue at volume (issue 22 section 2): its keyset orders (oldest first, by
difference), each with the id that breaks ties, and claims found by their number alone (the
queue's search; the unique key leads with the provider).

Revision ID: 0027
Revises: 0019
Create Date: 2026-12-07 04:00:00.000000
"""
from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mismatches', schema=None) as batch_op:
        batch_op.create_index('ix_mismatches_first_seen', ['first_seen', 'id'])
        batch_op.create_index('ix_mismatches_difference', ['difference_fen', 'id'])
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index('ix_claims_claim_number', ['claim_number'])


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('ix_claims_claim_number')
    with op.batch_alter_table('mismatches', schema=None) as batch_op:
        batch_op.drop_index('ix_mismatches_difference')
        batch_op.drop_index('ix_mismatches_first_seen')
