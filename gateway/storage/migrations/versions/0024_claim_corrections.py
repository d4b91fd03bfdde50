"""Corrections of a claim (docs/corrections.md): a void's reason and time, the claim a
corrected version replaces, and the earlier versions of a claim replaced in place.

Revision ID: 0024
Revises: 0019
Create Date: 2026-12-07 03:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('void_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('replaces_claim_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('versions', sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            'fk_claims_replaces_claim_id_claims', 'claims', ['replaces_claim_id'], ['claim_id']
        )


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_constraint('fk_claims_replaces_claim_id_claims', type_='foreignkey')
        batch_op.drop_column('versions')
        batch_op.drop_column('replaces_claim_id')
        batch_op.drop_column('void_reason')
        batch_op.drop_column('voided_at')
