"""audit log sealed after commit: entries carry a MAC when written and their place in the chain
(seq) once sealed, so appending no longer locks the chain's head until commit

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 03:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seq', sa.BigInteger(), nullable=True))
    # Entries written so far were chained in id order, one after the other.
    op.execute("UPDATE audit_log SET seq = id")
    op.execute("UPDATE audit_head SET last_seq = last_id")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_seq'), ['seq'])
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_nonce'), ['nonce'])
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.alter_column('last_seq', existing_type=sa.BigInteger(), nullable=False)
    if op.get_bind().dialect.name == 'postgresql':
        # ids were given by the application until now; the database gives them from here on
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), "
            "COALESCE((SELECT MAX(id) FROM audit_log), 0) + 1, false)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM audit_log WHERE seq IS NULL")
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('last_seq')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_nonce'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_audit_log_seq'), type_='unique')
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('seq')
        batch_op.drop_column('mac')
        batch_op.drop_column('nonce')
