"""audit head authenticated: a MAC of the chain's end under the audit key, so deleting the last
entries and rolling the head back shows

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01 23:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

from gateway.audit import audit_key, head_mac


revision = '0012'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mac', sa.String(length=64), nullable=True))
    # The head as it stands is taken as genuine: run the upgrade with the gateway's LTC_AUDIT_KEY
    # (and `ltc-gateway audit verify` before it, to know it is).
    connection = op.get_bind()
    key = audit_key()
    for id_, last_seq, last_id, hash_ in connection.execute(
        sa.text("SELECT id, last_seq, last_id, hash FROM audit_head")
    ).all():
        connection.execute(
            sa.text("UPDATE audit_head SET mac = :mac WHERE id = :id"),
            {"mac": head_mac(key, last_seq, last_id, hash_), "id": id_},
        )


def downgrade() -> None:
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('mac')
