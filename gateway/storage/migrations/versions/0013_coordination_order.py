"""claims: their place in the member's coordination order (``coordination_seq``), given under the
member's row lock when a claim's coordination starts; an earlier claim's lines are what a later
claim's repeated services are found against (domain.md section 4, DUPLICATE_SERVICE).

Claims already under way or done are placed in the order they were accepted.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 23:30:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coordination_seq', sa.Integer(), nullable=True))
        batch_op.create_index('ix_claims_coordination_order', ['member_id', 'coordination_seq'], unique=True)
    op.execute(
        "UPDATE claims SET coordination_seq = ("
        " SELECT placed.n FROM ("
        "  SELECT claim_id, row_number() OVER (PARTITION BY member_id ORDER BY created_at, claim_id) AS n"
        "  FROM claims WHERE status <> 'received') AS placed"
        " WHERE placed.claim_id = claims.claim_id)"
        " WHERE status <> 'received'"
    )


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('ix_claims_coordination_order')
        batch_op.drop_column('coordination_seq')
