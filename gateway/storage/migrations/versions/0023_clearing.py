"""clearing: settlement batches get a period, a lifecycle status and a payment reference, and
their transitions are kept in settlement_batch_events (申报 → 初审 → 复核 → 拨付 → 清算).

Batches closed before this revision become 申报 (declared) batches of the Beijing month they
were closed in.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-07 03:40:00.000000
"""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('settlement_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('period', sa.String(length=7), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='declared'))
        batch_op.add_column(sa.Column('payment_reference', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    batches = sa.table(
        'settlement_batches',
        sa.column('id', sa.Integer()),
        sa.column('period', sa.String()),
        sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('updated_at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    beijing = ZoneInfo('Asia/Shanghai')
    for batch_id, created in connection.execute(sa.select(batches.c.id, batches.c.created_at)).all():
        moment = created if isinstance(created, datetime) else datetime.fromisoformat(str(created))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        connection.execute(
            batches.update()
            .where(batches.c.id == batch_id)
            .values(period=moment.astimezone(beijing).strftime('%Y-%m'), updated_at=created)
        )
    with op.batch_alter_table('settlement_batches', schema=None) as batch_op:
        batch_op.alter_column('period', server_default=None)
        batch_op.alter_column('status', server_default=None)
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_settlement_batches_listing', ['payer_code', 'period', 'status'], unique=False)
    op.create_table('settlement_batch_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('person', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('before_status', sa.String(length=16), nullable=True),
    sa.Column('after_status', sa.String(length=16), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('payment_reference', sa.String(length=128), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['settlement_batches.id'], name=op.f('fk_settlement_batch_events_batch_id_settlement_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_batch_events'))
    )
    with op.batch_alter_table('settlement_batch_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_batch_events_batch_id'), ['batch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('settlement_batch_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_settlement_batch_events_batch_id'))
    op.drop_table('settlement_batch_events')
    with op.batch_alter_table('settlement_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_batches_listing')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('payment_reference')
        batch_op.drop_column('status')
        batch_op.drop_column('period')
