"""claim_batches: a provider's uploaded file of claims (batch upload), found by a keyed hash of the
file, with progress, the claims created and the faults (encrypted: they may quote an ID number)

Revision ID: 0025
Revises: 0019
Create Date: 2026-12-07 03:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('claim_batches',
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('provider_code', sa.String(length=64), nullable=False),
    sa.Column('file_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('accept', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_checked', sa.Integer(), nullable=False),
    sa.Column('rows_submitted', sa.Integer(), nullable=False),
    sa.Column('claims_total', sa.Integer(), nullable=False),
    sa.Column('claims', sa.JSON(), nullable=False),
    sa.Column('faults', sa.Text(), nullable=True),
    sa.Column('faults_total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_claim_batches')),
    sa.UniqueConstraint('provider_code', 'file_key', name=op.f('uq_claim_batches_provider_code_file_key'))
    )


def downgrade() -> None:
    op.drop_table('claim_batches')
