"""staff accounts: named people who sign in to the console with a password (issue 22 section 3);
a console session belongs to a person (username) or, for the bureau's service keys, to a key.

Revision ID: 0029
Revises: 0022
Create Date: 2026-12-07 04:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0029'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('staff_accounts',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_staff_accounts'))
    )
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username', sa.String(length=64), nullable=True))
        batch_op.alter_column('key_id', existing_type=sa.String(length=16), nullable=True)
        batch_op.create_index(batch_op.f('ix_ui_sessions_username'), ['username'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_ui_sessions_username_staff_accounts'), 'staff_accounts', ['username'], ['username']
        )


def downgrade() -> None:
    op.execute("DELETE FROM ui_sessions WHERE key_id IS NULL")
    with op.batch_alter_table('ui_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_ui_sessions_username_staff_accounts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_ui_sessions_username'))
        batch_op.alter_column('key_id', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column('username')
    op.drop_table('staff_accounts')
