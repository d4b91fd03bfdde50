"""ui sessions: the staff UI's server-side sessions (the cookie holds a random token, the table
only its hash), with idle and absolute expiry, revocation and a one-time flash message

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-01 23:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ui_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party_code', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flash', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['key_id'], ['api_keys.key_id'], name=op.f('fk_ui_sessions_key_id_api_keys')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_ui_sessions'))
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ui_sessions_key_id'), ['key_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ui_sessions_key_id'))
    op.drop_table('ui_sessions')
