"""Indexes for claims as a list (GET /v1/claims, POST /v1/claims/search): the keyset order
(accepted_at = created_at, claim_id) for everyone and per provider, the service month, the time
of coordination, and the payers a claim is routed to (a payer's list, the ``payer`` filter).

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-02 00:05:00.000000
"""
from alembic import op


revision = '0020'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index('ix_claims_listing', ['created_at', 'claim_id'])
        batch_op.create_index('ix_claims_provider_listing', ['provider_code', 'created_at', 'claim_id'])
        batch_op.create_index('ix_claims_period_start', ['period_start'])
        batch_op.create_index('ix_claims_coordinated_at', ['coordinated_at'])
    with op.batch_alter_table('payer_steps', schema=None) as batch_op:
        batch_op.create_index('ix_payer_steps_payer_claim', ['payer_code', 'claim_id'])
        batch_op.create_index('ix_payer_steps_administrator_claim', ['administrator_code', 'claim_id'])


def downgrade() -> None:
    with op.batch_alter_table('payer_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_payer_steps_administrator_claim')
        batch_op.drop_index('ix_payer_steps_payer_claim')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('ix_claims_coordinated_at')
        batch_op.drop_index('ix_claims_period_start')
        batch_op.drop_index('ix_claims_provider_listing')
        batch_op.drop_index('ix_claims_listing')
